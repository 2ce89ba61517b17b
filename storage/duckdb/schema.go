package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migration is one schema change.
type migration struct {
	description string
	statements  []string
}

// migrations are the schema changes in order; migrations[i] brings the
// schema to version i+1. Applied migrations are never edited: a change is
// a new entry.
var migrations = []migration{
	{"events, alerts and alert_deliveries", []string{
		`CREATE TABLE events (
			event_id    VARCHAR PRIMARY KEY,
			event_time  TIMESTAMPTZ NOT NULL,
			ingest_time TIMESTAMPTZ NOT NULL,
			log_type    VARCHAR NOT NULL,
			source      VARCHAR NOT NULL,
			account     VARCHAR NOT NULL,
			region      VARCHAR NOT NULL,
			actor       VARCHAR NOT NULL,
			action      VARCHAR NOT NULL,
			target      VARCHAR NOT NULL,
			src_ip      VARCHAR NOT NULL,
			dst_ip      VARCHAR NOT NULL,
			src_port    INTEGER NOT NULL,
			dst_port    INTEGER NOT NULL,
			protocol    VARCHAR NOT NULL,
			outcome     VARCHAR NOT NULL,
			user_agent  VARCHAR NOT NULL,
			raw         VARCHAR NOT NULL
		)`,
		`CREATE TABLE alerts (
			alert_id     VARCHAR PRIMARY KEY,
			rule_id      VARCHAR NOT NULL,
			title        VARCHAR NOT NULL,
			severity     VARCHAR NOT NULL,
			summary      VARCHAR NOT NULL,
			group_key    VARCHAR NOT NULL,
			first_time   TIMESTAMPTZ NOT NULL,
			last_time    TIMESTAMPTZ NOT NULL,
			count        BIGINT NOT NULL,
			event_ids    VARCHAR[] NOT NULL,
			tags         VARCHAR[] NOT NULL,
			rule_version INTEGER NOT NULL,
			log_type     VARCHAR NOT NULL,
			created_time TIMESTAMPTZ NOT NULL
		)`,
		`CREATE TABLE alert_deliveries (
			alert_id     VARCHAR NOT NULL,
			destination  VARCHAR NOT NULL,
			attempt      INTEGER NOT NULL,
			status       VARCHAR NOT NULL,
			error        VARCHAR NOT NULL,
			attempted_at TIMESTAMPTZ NOT NULL,
			PRIMARY KEY (alert_id, destination, attempt)
		)`,
	}},
	// DuckDB adds no column with a constraint; the default fills the
	// rows already there, and InsertAlerts always writes the column.
	{"alerts.mode: staging rules' alerts are stored, not notified", []string{
		`ALTER TABLE alerts ADD COLUMN mode VARCHAR DEFAULT 'enabled'`,
	}},
}

// SchemaVersion returns the schema version this package creates and reads.
func SchemaVersion() int { return len(migrations) }

// versionTable records every applied schema version, as in the ClickHouse
// store.
const versionTable = "schema_migrations"

// migrate brings the schema to SchemaVersion() in one transaction, and
// refuses a store written by a newer vigil.
func migrate(ctx context.Context, db *sql.DB, now time.Time) error {
	return migrateTo(ctx, db, now, SchemaVersion())
}

// migrateTo is migrate up to version to (to leave a store as an older
// vigil did, in tests).
func migrateTo(ctx context.Context, db *sql.DB, now time.Time, to int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+versionTable+
		` (version INTEGER PRIMARY KEY, description VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)`); err != nil {
		return err
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM `+versionTable).Scan(&have); err != nil {
		return err
	}
	if have > SchemaVersion() {
		return fmt.Errorf("store has schema version %d, newer than this vigil's %d", have, SchemaVersion())
	}
	for v := have + 1; v <= to; v++ {
		m := migrations[v-1]
		for _, stmt := range m.statements {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("schema version %d: %w", v, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+versionTable+` VALUES (?, ?, ?)`, v, m.description, now.UTC()); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// schemaVersion returns the schema version recorded in a store, 0 when it
// has none.
func schemaVersion(ctx context.Context, db *sql.DB) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_tables() WHERE table_name = ?`, versionTable).Scan(&n)
	if err != nil || n == 0 {
		return 0, err
	}
	var v int
	err = db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM `+versionTable).Scan(&v)
	return v, err
}
