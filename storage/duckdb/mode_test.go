package duckdb

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/rules"
)

// TestAlertModeStored: alerts.mode is 'staging' for a staging rule's
// alert and 'enabled' for the others, also after a newer version of the
// alert replaces the row.
func TestAlertModeStored(t *testing.T) {
	s := open(t, Config{})
	ctx := context.Background()
	trial := alert("trial", 1)
	trial.Mode = rules.ModeStaging
	if err := s.InsertAlerts(ctx, []*detect.Alert{alert("live", 1), trial}); err != nil {
		t.Fatal(err)
	}
	grown := alert("trial", 3)
	grown.Mode = rules.ModeStaging
	if err := s.InsertAlerts(ctx, []*detect.Alert{grown}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"live": "enabled", "trial": "staging"} {
		if got := scalar(t, s, "SELECT mode FROM alerts WHERE alert_id = ?", id); got != want {
			t.Errorf("alert %s: mode %v, want %s", id, got, want)
		}
	}
	if got := scalar(t, s, "SELECT count(*) FROM alerts WHERE mode = 'staging'"); got != int64(1) {
		t.Errorf("%v staging alerts, want 1", got)
	}
}

// TestMigrateAddsAlertMode opens a store that an older vigil wrote
// (schema version 1, alerts without mode): the column is added, the old
// alert reads 'enabled', and new alerts carry their mode.
func TestMigrateAddsAlertMode(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vigil.duckdb")
	conn, err := duckdb.NewConnector(path, utc)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	if err := migrateTo(ctx, db, t0, 1); err != nil {
		t.Fatal(err)
	}
	_, err = db.ExecContext(ctx, `INSERT INTO alerts VALUES ('old', 'r', 't', 'high', 's', 'k', ?, ?, 1, ['e1'], [], 1, 'cloudtrail', ?)`, t0, t0, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := open(t, Config{Path: path})
	if got := scalar(t, s, "SELECT max(version) FROM schema_migrations"); got != int32(SchemaVersion()) && got != int64(SchemaVersion()) {
		t.Fatalf("schema version %v after Open, want %d", got, SchemaVersion())
	}
	trial := alert("trial", 1)
	trial.Mode = rules.ModeStaging
	if err := s.InsertAlerts(ctx, []*detect.Alert{trial}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"old": "enabled", "trial": "staging"} {
		if got := scalar(t, s, "SELECT mode FROM alerts WHERE alert_id = ?", id); got != want {
			t.Errorf("alert %s: mode %v, want %s", id, got, want)
		}
	}
}
