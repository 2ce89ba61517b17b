package clickhouse

import (
	"testing"
	"time"

	"github.com/vigilsec/vigil/rules"
)

// alertModes returns alerts.mode by alert ID.
func alertModes(t *testing.T, s *Store) map[string]string {
	t.Helper()
	res, err := s.Query(t.Context(), "SELECT alert_id, mode FROM alerts FINAL")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, row := range res.Rows {
		out[row[0].(string)] = row[1].(string)
	}
	return out
}

// TestAlertModeStored: alerts.mode is 'staging' for a staging rule's
// alert and 'enabled' for the others, and analysts can filter on it.
func TestAlertModeStored(t *testing.T) {
	s := testStore(t, Config{})
	alerts := demoAlerts()
	if err := s.InsertAlerts(t.Context(), alerts); err != nil {
		t.Fatal(err)
	}
	got := alertModes(t, s)
	for _, a := range alerts {
		want := "enabled"
		if a.Staging() {
			want = "staging"
		}
		if got[a.AlertID] != want {
			t.Errorf("alert %s of %s: mode %q, want %q", a.AlertID, a.RuleID, got[a.AlertID], want)
		}
	}
	if n := count(t, s, "SELECT count() FROM alerts FINAL WHERE mode = 'staging'"); n != 1 {
		t.Errorf("%d staging alerts, want the fixture's one", n)
	}
}

// TestMigrateAddsAlertMode upgrades a store that an older vigil created
// (schema version 1, alerts without mode) and holds alerts: the column is
// added, the old rows read 'enabled', new rows carry their mode, and
// migrating again changes nothing.
func TestMigrateAddsAlertMode(t *testing.T) {
	s := testStoreAt(t, Config{}, migrations[:1])
	ctx := t.Context()
	if v, err := s.AppliedVersion(ctx); err != nil || v != 1 {
		t.Fatalf("old store at version %d, %v; want 1", v, err)
	}
	if n := count(t, s, "SELECT count() FROM system.columns WHERE database = ? AND table = 'alerts' AND name = 'mode'", s.database); n != 0 {
		t.Fatal("the version 1 alerts table already has mode")
	}
	old := demoAlerts()[0]
	err := s.send(ctx, `INSERT INTO alerts (alert_id, rule_id, title, severity, summary, group_key,
 first_time, last_time, count, event_ids, tags, rule_version, log_type, created_time)`,
		[]string{old.AlertID}, []string{old.RuleID}, []string{old.Title}, []string{old.Severity}, []string{old.Summary},
		[]string{old.GroupKey}, []time.Time{old.FirstTime}, []time.Time{old.LastTime}, []uint64{uint64(old.Count)},
		[][]string{old.EventIDs}, [][]string{old.Tags}, []uint32{1}, []string{old.LogType}, []time.Time{s.now()})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate from version 1: %v", err)
		}
	}
	if v, err := s.AppliedVersion(ctx); err != nil || v != SchemaVersion() {
		t.Fatalf("upgraded store at version %d, %v; want %d", v, err, SchemaVersion())
	}
	trial := demoAlerts()[1]
	trial.Mode = rules.ModeStaging
	if err := s.InsertAlerts(ctx, append(demoAlerts()[2:3], trial)); err != nil {
		t.Fatal(err)
	}
	got := alertModes(t, s)
	want := map[string]string{old.AlertID: "enabled", demoAlerts()[2].AlertID: "enabled", trial.AlertID: "staging"}
	for id, m := range want {
		if got[id] != m {
			t.Errorf("alert %s: mode %q, want %q", id, got[id], m)
		}
	}
}
