package duckdb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/storage/batch"
)

var t0 = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

func open(t testing.TB, c Config) *Store {
	t.Helper()
	if c.Path == "" {
		c.Path = filepath.Join(t.TempDir(), "data", "vigil.duckdb")
	}
	if c.Now == nil {
		c.Now = func() time.Time { return t0.Add(time.Hour) }
	}
	s, err := Open(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func event(id string) *ingest.Event {
	return &ingest.Event{
		ID: id, Type: ingest.TypeCloudTrail, Time: t0, Source: "file://demo.json",
		Raw: []byte(`{"eventID":"` + id + `"}`),
		Norm: ingest.Normalized{Account: "111122223333", Region: "eu-west-1", Actor: "arn:aws:iam::111122223333:root",
			Action: "StopLogging", Target: "main", SrcIP: "203.0.113.45", DstPort: 443, Protocol: "tcp", Outcome: "success"},
	}
}

func alert(id string, count int) *detect.Alert {
	return &detect.Alert{
		AlertID: id, RuleID: "aws-cloudtrail-stopped", Title: "CloudTrail logging stopped", Severity: "high",
		Summary: "root stopped trail main", GroupKey: "recipientAccountId=111122223333",
		FirstTime: t0, LastTime: t0.Add(time.Duration(count-1) * time.Minute), Count: count,
		EventIDs: []string{"e1"}, Tags: []string{"attack.defense_evasion"}, LogType: ingest.TypeCloudTrail, RuleVersion: 1,
	}
}

// scalar runs a query that returns one value.
func scalar(t *testing.T, s *Store, q string, args ...any) any {
	t.Helper()
	res, err := s.Query(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
		t.Fatalf("%s: got %v, want one value", q, res.Rows)
	}
	return res.Rows[0][0]
}

func TestInsertIsIdempotent(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		batches [][]*ingest.Event
		want    int64
	}{
		{"same batch twice", [][]*ingest.Event{{event("a"), event("b")}, {event("a"), event("b")}}, 2},
		{"duplicate within a batch", [][]*ingest.Event{{event("a"), event("a"), event("b")}}, 2},
		{"overlapping batches", [][]*ingest.Event{{event("a")}, {event("a"), event("c")}, {}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, Config{})
			for _, b := range tt.batches {
				if err := s.InsertEvents(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			if got := scalar(t, s, "SELECT count(*) FROM events"); got != tt.want {
				t.Errorf("events: %v rows, want %d", got, tt.want)
			}
		})
	}
}

func TestReplayedEventKeepsFirstIngestTime(t *testing.T) {
	ctx := context.Background()
	now := t0
	s := open(t, Config{Now: func() time.Time { return now }})
	if err := s.InsertEvents(ctx, []*ingest.Event{event("a")}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	ev := event("a")
	ev.Norm.Outcome = "failure"
	if err := s.InsertEvents(ctx, []*ingest.Event{ev}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Query(ctx, "SELECT ingest_time, outcome FROM events")
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Rows[0][0].(time.Time); !got.Equal(t0) {
		t.Errorf("ingest_time = %v, want the first ingest %v", got, t0)
	}
	if got := res.Rows[0][1]; got != "failure" {
		t.Errorf("outcome = %v, want the replayed version's", got)
	}
}

func TestAlertWithLargerCountWins(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		batches [][]int // counts of alert "x", per batch
		want    int64
	}{
		{"open then close", [][]int{{1}, {5}}, 5},
		{"close then a late open", [][]int{{5}, {1}}, 5},
		{"both in one batch", [][]int{{1, 5, 3}}, 5},
		{"replayed", [][]int{{1}, {5}, {1}, {5}}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, Config{})
			for _, counts := range tt.batches {
				var as []*detect.Alert
				for _, c := range counts {
					as = append(as, alert("x", c))
				}
				if err := s.InsertAlerts(ctx, as); err != nil {
					t.Fatal(err)
				}
			}
			res, err := s.Query(ctx, "SELECT count(*), max(count), max(last_time) FROM alerts")
			if err != nil {
				t.Fatal(err)
			}
			row := res.Rows[0]
			if row[0] != int64(1) || row[1] != tt.want {
				t.Errorf("rows, count = %v, %v; want 1, %d", row[0], row[1], tt.want)
			}
			if want := t0.Add(time.Duration(tt.want-1) * time.Minute); !row[2].(time.Time).Equal(want) {
				t.Errorf("last_time = %v, want %v (from the winning version)", row[2], want)
			}
		})
	}
}

func TestQueryReturnsColumnsAndValues(t *testing.T) {
	ctx := context.Background()
	s := open(t, Config{})
	if err := s.InsertAlerts(ctx, []*detect.Alert{alert("x", 2)}); err != nil {
		t.Fatal(err)
	}
	ev := event("bad")
	ev.Raw = []byte("a\xffb")
	if err := s.InsertEvents(ctx, []*ingest.Event{ev}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Query(ctx, "SELECT rule_id, count, tags, first_time FROM alerts WHERE severity = ?", "high")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"rule_id", "count", "tags", "first_time"}; !slices.Equal(res.Columns, want) {
		t.Errorf("columns %v, want %v", res.Columns, want)
	}
	want := fmt.Sprint([]any{"aws-cloudtrail-stopped", int64(2), []any{"attack.defense_evasion"}, t0})
	if len(res.Rows) != 1 || fmt.Sprint(res.Rows[0]) != want {
		t.Errorf("rows %v, want [%s]", res.Rows, want)
	}
	if got := scalar(t, s, "SELECT raw FROM events"); got != "a\uFFFDb" {
		t.Errorf("raw with an invalid byte stored as %q", got)
	}
	if got := scalar(t, s, "SELECT max(version) FROM schema_migrations"); got != int32(SchemaVersion()) {
		t.Errorf("schema version %v, want %d", got, SchemaVersion())
	}
}

func TestQueryRejectsWrites(t *testing.T) {
	ctx := context.Background()
	s := open(t, Config{})
	if err := s.InsertEvents(ctx, []*ingest.Event{event("a")}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"DELETE FROM events",
		"INSERT INTO events SELECT * FROM events",
		"UPDATE events SET actor = 'x'",
		"DROP TABLE events",
		"CREATE TABLE x AS SELECT 1",
		"SELECT 1; DELETE FROM events",
		"ROLLBACK; DELETE FROM events; SELECT 1",
		"COPY events TO '/tmp/vigil-events.csv'",
		"ATTACH '/tmp/other.duckdb' AS other",
		"CHECKPOINT",
		"SET threads = 1",
		"PRAGMA enable_profiling",
		"WITH d AS (DELETE FROM events RETURNING *) SELECT * FROM d",
	} {
		_, err := s.Query(ctx, q)
		if err == nil {
			t.Errorf("%s: accepted", q)
		}
	}
	if _, err := s.Query(ctx, "SELECT 1; SELECT 2"); !errors.Is(err, ErrNotReadOnly) {
		t.Errorf("several statements: err = %v, want ErrNotReadOnly", err)
	}
	if _, err := s.Query(ctx, "DELETE FROM events"); !errors.Is(err, ErrNotReadOnly) {
		t.Errorf("DELETE: err = %v, want ErrNotReadOnly", err)
	}
	if got := scalar(t, s, "SELECT count(*) FROM events"); got != int64(1) {
		t.Errorf("events after rejected writes: %v rows, want 1", got)
	}
}

func TestReadOnlyStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vigil.duckdb")
	w, err := Open(ctx, Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.InsertEvents(ctx, []*ingest.Event{event("a"), event("b")}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := open(t, Config{Path: path, ReadOnly: true})
	if got := scalar(t, r, "SELECT count(*) FROM events"); got != int64(2) {
		t.Errorf("read-only store: %v events, want 2", got)
	}
	if err := r.InsertEvents(ctx, []*ingest.Event{event("c")}); err == nil {
		t.Error("insert into a read-only store succeeded")
	}
	if _, err := r.Query(ctx, "SELECT * FROM read_text('/etc/hostname')"); err == nil {
		t.Error("a read-only store read another file")
	}
	if _, err := Open(ctx, Config{Path: filepath.Join(t.TempDir(), "missing.duckdb"), ReadOnly: true}); err == nil {
		t.Error("read-only open of a missing store succeeded")
	}
}

func TestSchemaVersion(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vigil.duckdb")
	for range 2 { // the second open finds the schema in place
		s, err := Open(ctx, Config{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		if got := scalar(t, s, "SELECT count(*) FROM schema_migrations"); got != int64(SchemaVersion()) {
			t.Errorf("schema_migrations has %v rows, want %d", got, SchemaVersion())
		}
		s.Close()
	}
	s, _ := Open(ctx, Config{Path: path})
	if _, err := s.db.ExecContext(ctx, "INSERT INTO schema_migrations VALUES (?, 'from the future', now())", SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, ro := range []bool{false, true} {
		if _, err := Open(ctx, Config{Path: path, ReadOnly: ro}); err == nil {
			t.Errorf("read-only=%v: a store of a newer schema opened", ro)
		}
	}
	if _, err := Open(ctx, Config{Path: "x?y"}); err == nil {
		t.Error("a path with '?' accepted")
	}
}

func TestClassify(t *testing.T) {
	s := open(t, Config{})
	_, err := s.w.ExecContext(context.Background(), "INSERT INTO schema_migrations VALUES (1, 'again', now())")
	if err == nil || !batch.IsPermanent(classify(err)) {
		t.Errorf("a constraint violation is not permanent: %v", err)
	}
	if batch.IsPermanent(classify(context.Canceled)) {
		t.Error("a cancelled context is permanent")
	}
}

func BenchmarkInsertEvents(b *testing.B) {
	ctx := context.Background()
	s := open(b, Config{})
	const size = 10000
	evs := make([]*ingest.Event, size)
	b.ResetTimer()
	for i := range b.N {
		for j := range evs {
			evs[j] = event(fmt.Sprintf("%d-%d", i, j))
		}
		if err := s.InsertEvents(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkInsertEventsReplayed(b *testing.B) {
	ctx := context.Background()
	s := open(b, Config{})
	const size = 10000
	evs := make([]*ingest.Event, size)
	for j := range evs {
		evs[j] = event(fmt.Sprint(j))
	}
	b.ResetTimer()
	for range b.N {
		if err := s.InsertEvents(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "rows/s")
}

// TestLockedByAnotherProcess opens a store in a child process (this test
// binary, running TestHoldStore) and then here: Open reports ErrLocked.
func TestLockedByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.duckdb")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHoldStore$")
	cmd.Env = append(os.Environ(), "VIGIL_HOLD_STORE="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "open\n" {
		t.Fatalf("child: %q, %v", line, err)
	}
	for _, ro := range []bool{false, true} {
		if _, err := Open(context.Background(), Config{Path: path, ReadOnly: ro}); !errors.Is(err, ErrLocked) {
			t.Errorf("read-only=%v: err = %v, want ErrLocked", ro, err)
		}
	}
}

// TestHoldStore is the child of TestLockedByAnotherProcess: it opens the
// store, says so and holds it until its stdin closes.
func TestHoldStore(t *testing.T) {
	path := os.Getenv("VIGIL_HOLD_STORE")
	if path == "" {
		t.Skip("runs as the child of TestLockedByAnotherProcess")
	}
	s := open(t, Config{Path: path})
	fmt.Println("open")
	io.Copy(io.Discard, os.Stdin)
	s.Close()
}

func TestQueriesWorkInUTC(t *testing.T) {
	t.Setenv("TZ", "America/New_York")
	s := open(t, Config{})
	got := scalar(t, s, "SELECT strftime(date_trunc('day', TIMESTAMPTZ '2026-03-14 02:00:00+00'), '%Y-%m-%d %H:%M')")
	if got != "2026-03-14 00:00" {
		t.Errorf("day of 02:00 UTC = %v, want 2026-03-14 00:00 (UTC)", got)
	}
}
