package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"

	"github.com/vigilsec/vigil/storage"
)

// migrationsTable records which migrations ran, one row per version.
const migrationsTable = "schema_migrations"

// features are the schema features a server version supports. Older
// servers get plainer columns: the same names and types as seen by queries.
type features struct {
	lowCardinality bool // LowCardinality(String): 19.3 (experimental before)
	codecs         bool // column CODEC(...): 19.10 for Delta and ZSTD
	ttl            bool // table TTL: 19.6
	skipIndexes    bool // data skipping indexes without an experimental setting: 20.3
}

func atLeast(v proto.Version, major, minor uint64) bool {
	return v.Major > major || v.Major == major && v.Minor >= minor
}

func featuresOf(v proto.Version) features {
	return features{
		lowCardinality: atLeast(v, 19, 3),
		codecs:         atLeast(v, 19, 10),
		ttl:            atLeast(v, 19, 6),
		skipIndexes:    atLeast(v, 20, 3),
	}
}

// schema renders DDL for one server's features.
type schema struct {
	f         features
	retention time.Duration // events TTL; 0 keeps events forever
}

// lc is a low-cardinality string column type where supported.
func (s schema) lc() string {
	if s.f.lowCardinality {
		return "LowCardinality(String)"
	}
	return "String"
}

// codec returns a column codec clause where supported.
func (s schema) codec(c string) string {
	if s.f.codecs {
		return " CODEC(" + c + ")"
	}
	return ""
}

// retentionDays is the events TTL in whole days, at least one.
func (s schema) retentionDays() int {
	return max(1, int((s.retention+24*time.Hour-1)/(24*time.Hour)))
}

func (s schema) ttlClause() string {
	if s.retention <= 0 || !s.f.ttl {
		return ""
	}
	return fmt.Sprintf("\nTTL event_time + INTERVAL %d DAY", s.retentionDays())
}

// eventsDDL creates the events table. A replayed event has the same
// event_id, log type, time and actor, so it has the same sorting key and
// partition and collapses into one row; the newest ingest_time wins.
func (s schema) eventsDDL() string {
	t := s.codec("Delta, ZSTD(1)")
	var idx string
	if s.f.skipIndexes {
		idx = `,
    INDEX idx_actor actor TYPE bloom_filter GRANULARITY 4,
    INDEX idx_src_ip src_ip TYPE bloom_filter GRANULARITY 4,
    INDEX idx_dst_ip dst_ip TYPE bloom_filter GRANULARITY 4`
	}
	return `CREATE TABLE IF NOT EXISTS ` + storage.EventsTable + ` (
    event_id String,
    event_time DateTime('UTC')` + t + `,
    ingest_time DateTime('UTC')` + t + `,
    log_type ` + s.lc() + `,
    source String` + s.codec("ZSTD(1)") + `,
    account ` + s.lc() + `,
    region ` + s.lc() + `,
    actor String,
    action ` + s.lc() + `,
    target String` + s.codec("ZSTD(1)") + `,
    src_ip String,
    dst_ip String,
    src_port UInt16,
    dst_port UInt16,
    protocol ` + s.lc() + `,
    outcome ` + s.lc() + `,
    user_agent String` + s.codec("ZSTD(1)") + `,
    raw String` + s.codec("ZSTD(3)") + idx + `
) ENGINE = ReplacingMergeTree(ingest_time)
PARTITION BY toYYYYMM(event_time)
ORDER BY (log_type, event_time, actor, event_id)` + s.ttlClause()
}

// alertsDDL creates the alerts table. An alert is written again each time
// its count grows; the row with the highest count wins.
func (s schema) alertsDDL() string {
	return `CREATE TABLE IF NOT EXISTS ` + storage.AlertsTable + ` (
    alert_id String,
    rule_id ` + s.lc() + `,
    title String,
    severity ` + s.lc() + `,
    summary String,
    group_key String,
    first_time DateTime('UTC'),
    last_time DateTime('UTC'),
    count UInt64,
    event_ids Array(String),
    tags Array(String),
    rule_version UInt32,
    log_type ` + s.lc() + `,
    created_time DateTime('UTC')
) ENGINE = ReplacingMergeTree(count)
PARTITION BY toYYYYMM(first_time)
ORDER BY (rule_id, alert_id)`
}

// deliveriesDDL creates the alert_deliveries table: one row per delivery
// attempt of an alert to a destination.
func (s schema) deliveriesDDL() string {
	return `CREATE TABLE IF NOT EXISTS ` + storage.DeliveriesTable + ` (
    alert_id String,
    destination ` + s.lc() + `,
    attempt UInt32,
    status ` + s.lc() + `,
    error String,
    attempted_at DateTime('UTC')
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(attempted_at)
ORDER BY (alert_id, destination, attempt)`
}

func (s schema) migrationsDDL() string {
	return `CREATE TABLE IF NOT EXISTS ` + migrationsTable + ` (
    version UInt32,
    description String,
    applied_at DateTime('UTC')
) ENGINE = ReplacingMergeTree
ORDER BY version`
}

// column is a column that a migration adds to an existing table.
type column struct {
	table, name string
	decl        string // type and default, e.g. "String DEFAULT ''"
}

// ddl adds the column. ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS,
// so Migrate runs it only when the column is missing.
func (c column) ddl() string {
	return "ALTER TABLE " + c.table + " ADD COLUMN " + c.name + " " + c.decl
}

// alertsMode is the alerts table's mode column: 'staging' for the alerts
// of rules in mode: staging (stored, not notified), 'enabled' for the
// others, and for the rows written before the column existed.
func (s schema) alertsMode() column {
	return column{table: storage.AlertsTable, name: "mode", decl: s.lc() + " DEFAULT 'enabled'"}
}

// migration is one step of the schema. Its statements must be idempotent:
// two processes may migrate at once, and a migration that failed halfway
// runs again. Its columns are added after its statements, each only when
// the table lacks it.
type migration struct {
	version     uint32
	description string
	statements  func(s schema) []string
	columns     func(s schema) []column
}

// migrations lists every step, by version. Append only; never change a
// released step.
var migrations = []migration{
	{1, "events, alerts and alert_deliveries tables", func(s schema) []string {
		return []string{s.eventsDDL(), s.alertsDDL(), s.deliveriesDDL()}
	}, nil},
	{2, "alerts.mode: staging rules' alerts are stored, not notified", nil, func(s schema) []column {
		return []column{s.alertsMode()}
	}},
}

// ddl returns every statement of m for a server, columns as the ALTERs
// Migrate runs when they are missing.
func (m migration) ddl(sc schema) []string {
	var out []string
	if m.statements != nil {
		out = append(out, m.statements(sc)...)
	}
	if m.columns != nil {
		for _, c := range m.columns(sc) {
			out = append(out, c.ddl())
		}
	}
	return out
}

// SchemaVersion is the version Migrate brings the schema to.
func SchemaVersion() int { return int(migrations[len(migrations)-1].version) }

// Migrate creates or upgrades the schema: it runs each migration not yet
// recorded in the schema_migrations table and records it. It is idempotent.
// Column types, codecs, skipping indexes and TTL are chosen by the server
// version, so the same migration runs on ClickHouse 18.16 and current
// releases. With Config.Retention set, Migrate also sets the events TTL
// (ClickHouse 19.6 and later; an error on older servers).
func (s *Store) Migrate(ctx context.Context) error {
	return s.migrate(ctx, migrations)
}

// migrate runs the steps of ms not yet recorded, in order.
func (s *Store) migrate(ctx context.Context, ms []migration) error {
	ctx, done := guard(ctx)
	defer done()
	sc := schema{f: s.features, retention: s.retention}
	if s.retention > 0 && !sc.f.ttl {
		return fmt.Errorf("clickhouse: retention needs TTL support (ClickHouse 19.6 or later), server is %s", s.version)
	}
	if err := s.conn.Exec(ctx, sc.migrationsDDL()); err != nil {
		return fmt.Errorf("clickhouse: creating %s: %w", migrationsTable, err)
	}
	applied, err := s.appliedMigrations(ctx)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		var stmts []string
		if m.statements != nil {
			stmts = m.statements(sc)
		}
		for _, stmt := range stmts {
			if err := s.conn.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("clickhouse: migration %d (%s): %w\n%s", m.version, m.description, err, stmt)
			}
		}
		var cols []column
		if m.columns != nil {
			cols = m.columns(sc)
		}
		for _, c := range cols {
			if err := s.addColumn(ctx, c); err != nil {
				return fmt.Errorf("clickhouse: migration %d (%s): %w\n%s", m.version, m.description, err, c.ddl())
			}
		}
		err := s.send(ctx, "INSERT INTO "+migrationsTable+" (version, description, applied_at)",
			[]uint32{m.version}, []string{m.description}, []time.Time{s.now().UTC()})
		if err != nil {
			return fmt.Errorf("clickhouse: recording migration %d: %w", m.version, err)
		}
	}
	if sc.retention > 0 {
		return s.setRetention(ctx, sc)
	}
	return nil
}

// addColumn adds c unless its table has it already. When another process
// adds it at the same time, the ALTER that loses fails and the column is
// there: that is success too.
func (s *Store) addColumn(ctx context.Context, c column) error {
	has, err := s.hasColumn(ctx, c)
	if err != nil || has {
		return err
	}
	err = s.conn.Exec(ctx, c.ddl())
	if err == nil {
		return nil
	}
	if has, herr := s.hasColumn(ctx, c); herr == nil && has {
		return nil
	}
	return err
}

// hasColumn reports whether c's table has a column of c's name.
func (s *Store) hasColumn(ctx context.Context, c column) (bool, error) {
	var n uint64
	err := s.conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = ?",
		s.database, c.table, c.name).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("looking up column %s.%s: %w", c.table, c.name, err)
	}
	return n > 0, nil
}

// setRetention sets the events TTL unless it is already the configured
// one: changing a TTL makes the server rewrite the table's parts.
func (s *Store) setRetention(ctx context.Context, sc schema) error {
	var engine string
	err := s.conn.QueryRow(ctx, "SELECT engine_full FROM system.tables WHERE database = ? AND name = ?",
		s.database, storage.EventsTable).Scan(&engine)
	if err != nil {
		return fmt.Errorf("clickhouse: reading the events TTL: %w", err)
	}
	if hasTTLDays(engine, sc.retentionDays()) {
		return nil
	}
	stmt := "ALTER TABLE " + storage.EventsTable + " MODIFY" + strings.TrimPrefix(sc.ttlClause(), "\n")
	if err := s.conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("clickhouse: setting events retention: %w", err)
	}
	return nil
}

// hasTTLDays reports whether a table's engine_full, as system.tables shows
// it, holds the events TTL of days days.
func hasTTLDays(engine string, days int) bool {
	return strings.Contains(engine, fmt.Sprintf("TTL event_time + toIntervalDay(%d)", days)) ||
		strings.Contains(engine, fmt.Sprintf("TTL event_time + INTERVAL %d DAY", days))
}

// AppliedVersion returns the highest migration version recorded in the
// store, 0 for an empty store.
func (s *Store) AppliedVersion(ctx context.Context) (int, error) {
	ctx, done := guard(ctx)
	defer done()
	applied, err := s.appliedMigrations(ctx)
	if err != nil {
		return 0, err
	}
	v := 0
	for a := range applied {
		v = max(v, int(a))
	}
	return v, nil
}

func (s *Store) appliedMigrations(ctx context.Context) (map[uint32]bool, error) {
	var n uint64
	err := s.conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = ?",
		s.database, migrationsTable).Scan(&n)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: looking up %s: %w", migrationsTable, err)
	}
	applied := map[uint32]bool{}
	if n == 0 {
		return applied, nil
	}
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT version FROM "+migrationsTable)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: reading %s: %w", migrationsTable, err)
	}
	defer rows.Close()
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("clickhouse: reading %s: %w", migrationsTable, err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: reading %s: %w", migrationsTable, err)
	}
	return applied, nil
}
