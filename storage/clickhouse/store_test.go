package clickhouse

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/batch"
)

func TestMigrateIdempotent(t *testing.T) {
	s := testStore(t, Config{}) // migrated once
	for range 2 {
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate again: %v", err)
		}
	}
	v, err := s.AppliedVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if v != SchemaVersion() {
		t.Fatalf("applied version %d, want %d", v, SchemaVersion())
	}
	if n := count(t, s, "SELECT count() FROM schema_migrations FINAL"); n != uint64(len(migrations)) {
		t.Fatalf("schema_migrations holds %d rows, want %d", n, len(migrations))
	}
	for _, table := range []string{storage.EventsTable, storage.AlertsTable, storage.DeliveriesTable} {
		n := count(t, s, "SELECT count() FROM system.tables WHERE database = ? AND name = ?", s.database, table)
		if n != 1 {
			t.Errorf("table %s missing after Migrate", table)
		}
	}
}

func TestRetentionNeedsTTL(t *testing.T) {
	s := testStore(t, Config{})
	s.retention = 90 * 24 * time.Hour
	err := s.Migrate(t.Context())
	if s.features.ttl {
		if err != nil {
			t.Fatalf("Migrate with retention on %s: %v", s.ServerVersion(), err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), "TTL") {
		t.Fatalf("Migrate with retention on %s = %v, want an error naming TTL support", s.ServerVersion(), err)
	}
}

func TestReplayCollapses(t *testing.T) {
	s := testStore(t, Config{})
	ctx := t.Context()
	evs, alerts := demoEvents(), demoAlerts()
	// The first delivery of the alerts carries smaller counts, as an alert
	// written while its window was still open.
	early := make([]*detect.Alert, len(alerts))
	for i, a := range alerts {
		c := *a
		c.Count, c.EventIDs, c.LastTime = 1, c.EventIDs[:1], c.FirstTime
		early[i] = &c
	}
	for _, step := range []struct {
		evs    []*ingest.Event
		alerts []*detect.Alert
	}{{evs, early}, {evs, alerts}, {evs[:5], alerts[:2]}} {
		if err := s.InsertEvents(ctx, step.evs); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertAlerts(ctx, step.alerts); err != nil {
			t.Fatal(err)
		}
	}
	optimizeFinal(t, s, storage.EventsTable, "event_id")
	optimizeFinal(t, s, storage.AlertsTable, "alert_id")
	if n := count(t, s, "SELECT count() FROM events"); n != uint64(len(evs)) {
		t.Errorf("events: %d rows after OPTIMIZE FINAL, want %d", n, len(evs))
	}
	if n := count(t, s, "SELECT count() FROM alerts"); n != uint64(len(alerts)) {
		t.Errorf("alerts: %d rows after OPTIMIZE FINAL, want %d", n, len(alerts))
	}
	res, err := s.Query(ctx, "SELECT alert_id, count, length(event_ids) FROM alerts ORDER BY alert_id")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, a := range alerts {
		want[a.AlertID] = a.Count
	}
	for _, row := range res.Rows {
		id, n, ids := row[0].(string), row[1].(uint64), row[2].(uint64)
		if int(n) != want[id] || int(ids) != want[id] {
			t.Errorf("alert %s: count %d with %d event IDs, want the latest, %d", id, n, ids, want[id])
		}
	}
}

func TestRoundTrip(t *testing.T) {
	s := testStore(t, Config{})
	ctx := t.Context()
	evs := demoEvents()
	if err := s.InsertEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	e := evs[14] // a flow with ports
	res, err := s.Query(ctx, `SELECT event_id, event_time, ingest_time, log_type, source, account, region, actor,
 action, target, src_ip, dst_ip, src_port, dst_port, protocol, outcome, user_agent, raw FROM events WHERE event_id = ?`, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 1 {
		t.Fatalf("%d rows for event %s", len(res.Rows), e.ID)
	}
	n := e.Norm
	want := []any{e.ID, e.Time, time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC), e.Type, e.Source, n.Account, n.Region,
		n.Actor, n.Action, n.Target, n.SrcIP, n.DstIP, uint16(n.SrcPort), uint16(n.DstPort), n.Protocol, n.Outcome,
		n.UserAgent, string(e.Raw)}
	for i, got := range res.Rows[0] {
		if tm, ok := got.(time.Time); ok {
			got = tm.UTC()
		}
		if got != want[i] {
			t.Errorf("%s = %#v, want %#v", res.Columns[i], got, want[i])
		}
	}
}

func TestBadRowDeadLettered(t *testing.T) {
	s := testStore(t, Config{})
	ctx := t.Context()
	evs := demoEvents()
	bad := []*ingest.Event{
		{ID: "garbled-time", Type: ingest.TypeCloudTrail, Time: time.Date(2206, 1, 1, 0, 0, 0, 0, time.UTC)},
		{ID: "bad-port", Type: ingest.TypeVPCFlow, Time: at("10:00:00"), Norm: ingest.Normalized{DstPort: 70000}},
		{ID: "", Type: ingest.TypeAuditd, Time: at("10:00:01")},
	}
	all := slices.Concat(evs[:7], bad[:1], evs[7:12], bad[1:], evs[12:])
	var mu sync.Mutex
	dead := map[string]error{}
	w, err := batch.New(batch.Config[*ingest.Event]{DeadLetter: func(e *ingest.Event, err error) {
		mu.Lock()
		defer mu.Unlock()
		dead[e.ID] = err
	}}, s.InsertEvents)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add(ctx, all...); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if len(dead) != len(bad) {
		t.Errorf("dead-lettered %v, want the %d bad rows", dead, len(bad))
	}
	for _, b := range bad {
		if err := dead[b.ID]; err == nil || !batch.IsPermanent(err) {
			t.Errorf("bad row %q: dead-letter error %v, want a permanent error", b.ID, err)
		}
	}
	if n := count(t, s, "SELECT count() FROM events"); n != uint64(len(evs)) {
		t.Errorf("%d events landed, want the %d good ones", n, len(evs))
	}
}

func TestUnknownTimeStoredAsEpoch(t *testing.T) {
	s := testStore(t, Config{})
	if err := s.InsertEvents(t.Context(), []*ingest.Event{{ID: "no-time", Type: ingest.TypeCloudTrail}}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "SELECT count() FROM events WHERE event_time = toDateTime(0)"); n != 1 {
		t.Fatalf("event with unknown time: %d rows at 1970-01-01, want 1", n)
	}
}

func TestQueryReadOnly(t *testing.T) {
	s := testStore(t, Config{})
	ctx := t.Context()
	if err := s.InsertEvents(ctx, demoEvents()); err != nil {
		t.Fatal(err)
	}
	writes := []string{
		"INSERT INTO events (event_id) VALUES ('x')",
		"CREATE TABLE evil (a String) ENGINE = Memory",
		"DROP TABLE events",
		"ALTER TABLE events DELETE WHERE 1",
		"SET readonly = 0",
		"OPTIMIZE TABLE events FINAL",
	}
	for _, sql := range writes {
		if _, err := s.Query(ctx, sql); err == nil || !strings.Contains(err.Error(), "readonly") {
			t.Errorf("Query(%q) = %v, want a read-only error", sql, err)
		}
	}
	if n := count(t, s, "SELECT count() FROM events"); n != uint64(len(demoEvents())) {
		t.Fatalf("events changed by read-only queries: %d rows", n)
	}
	tests := []struct {
		name string
		arg  any
		want int
	}{
		{"plain", rootARN, 9},
		{"quote in value", "x' OR '1'='1", 0},
		{"backslash", `\' OR 1 --`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.Query(ctx, "SELECT event_id FROM events WHERE actor = ?", tt.arg)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Rows) != tt.want {
				t.Fatalf("%d rows, want %d", len(res.Rows), tt.want)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name string
		url  string
	}{
		{"empty", ""},
		{"other scheme", "duckdb://./vigil.duckdb"},
		{"no host", "clickhouse:///vigil"},
		{"bad database name", "clickhouse://127.0.0.1:9000/vigil;drop"},
		{"bad retention", "clickhouse://127.0.0.1:9000/vigil?retention_days=ninety"},
		{"negative retention", "clickhouse://127.0.0.1:9000/vigil?retention_days=-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Open(t.Context(), Config{URL: tt.url}); err == nil {
				t.Fatalf("Open(%q) succeeded", tt.url)
			}
		})
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		url       string
		db        string
		retention time.Duration
		settings  map[string]any
	}{
		{"clickhouse://127.0.0.1:9000", "default", 0, nil},
		{"clickhouse://127.0.0.1:9000/vigil", "vigil", 0, nil},
		{"clickhouse://u:p@127.0.0.1:9000/vigil?retention_days=90", "vigil", 90 * 24 * time.Hour, nil},
		{"clickhouse://127.0.0.1:9000/vigil?retention_days=30&max_execution_time=60", "vigil", 30 * 24 * time.Hour,
			map[string]any{"max_execution_time": 60}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			opts, retention, err := parseURL(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if opts.Auth.Database != tt.db || retention != tt.retention {
				t.Fatalf("database %q retention %v, want %q %v", opts.Auth.Database, retention, tt.db, tt.retention)
			}
			if _, ok := opts.Settings["retention_days"]; ok {
				t.Fatal("retention_days passed on as a server setting")
			}
			for k, v := range tt.settings {
				if opts.Settings[k] != v {
					t.Fatalf("setting %s = %v, want %v", k, opts.Settings[k], v)
				}
			}
		})
	}
	if _, _, err := parseURL("clickhouse://u:secret@[::1"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("error %v, want one without the password", err)
	}
}

func TestCheckRows(t *testing.T) {
	good := demoEvents()[14]
	tests := []struct {
		name string
		edit func(e *ingest.Event)
		ok   bool
	}{
		{"good", func(*ingest.Event) {}, true},
		{"unknown time", func(e *ingest.Event) { e.Time = time.Time{} }, true},
		{"epoch", func(e *ingest.Event) { e.Time = time.Unix(0, 0) }, true},
		{"before 1970", func(e *ingest.Event) { e.Time = time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC) }, false},
		{"after 2105", func(e *ingest.Event) { e.Time = time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC) }, false},
		{"no ID", func(e *ingest.Event) { e.ID = "" }, false},
		{"port too big", func(e *ingest.Event) { e.Norm.SrcPort = 65536 }, false},
		{"negative port", func(e *ingest.Event) { e.Norm.DstPort = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := *good
			tt.edit(&e)
			if err := checkEvent(&e); (err == nil) != tt.ok {
				t.Fatalf("checkEvent = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	alert := demoAlerts()[0]
	alertTests := []struct {
		name string
		edit func(a *detect.Alert)
		ok   bool
	}{
		{"good", func(*detect.Alert) {}, true},
		{"no ID", func(a *detect.Alert) { a.AlertID = "" }, false},
		{"negative count", func(a *detect.Alert) { a.Count = -1 }, false},
		{"zero first time", func(a *detect.Alert) { a.FirstTime = time.Time{} }, false},
	}
	for _, tt := range alertTests {
		t.Run("alert "+tt.name, func(t *testing.T) {
			a := *alert
			tt.edit(&a)
			if err := checkAlert(&a); (err == nil) != tt.ok {
				t.Fatalf("checkAlert = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err       error
		permanent bool
	}{
		{errors.New("connection reset"), false},
		{&chException{Code: 53, Message: "type mismatch"}, true},
		{&chException{Code: 252, Message: "too many parts"}, false},
		{&chException{Code: 241, Message: "memory limit exceeded"}, false},
	}
	for _, tt := range tests {
		if got := batch.IsPermanent(classify(tt.err)); got != tt.permanent {
			t.Errorf("classify(%v) permanent = %v, want %v", tt.err, got, tt.permanent)
		}
	}
}

// FuzzParseURL checks that any store URL either fails or yields a safe
// database name, and that errors never show the password.
func FuzzParseURL(f *testing.F) {
	for _, seed := range []string{
		"clickhouse://127.0.0.1:9000/vigil",
		"clickhouse://u:hunter2@127.0.0.1:9000/vigil?retention_days=90&dial_timeout=2s",
		"clickhouse://[::1]:9000/default?secure=true&skip_verify=1",
		"clickhouse://h:1/db?max_execution_time=60",
		"clickhouse://u:hunter2@h/db%60x",
		"duckdb://./vigil.duckdb",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		opts, retention, err := parseURL(raw)
		if err != nil {
			if u, perr := url.Parse(raw); perr == nil && u.User != nil {
				// A password that also stands elsewhere in the URL (its scheme,
				// its host) may show through those parts.
				if pw, ok := u.User.Password(); ok && len(pw) > 3 && strings.Count(raw, pw) == 1 && strings.Contains(err.Error(), pw) {
					t.Fatalf("error %q shows the password", err)
				}
			}
			return
		}
		if !identifier.MatchString(opts.Auth.Database) {
			t.Fatalf("database %q accepted", opts.Auth.Database)
		}
		if retention < 0 {
			t.Fatalf("negative retention %v", retention)
		}
	})
}
