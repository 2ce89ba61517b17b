package clickhouse

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/logtype"
	"github.com/vigilsec/vigil/storage/batch"
)

// decodeDemo decodes the demo logs under deploy/demo with the real
// decoders, as a replay does.
func decodeDemo(t *testing.T) []*ingest.Event {
	t.Helper()
	decoders, err := logtype.Decoders(logtype.Config{})
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join("..", "..", "deploy", "demo", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var evs []*ingest.Event
	for _, path := range files {
		if filepath.Base(filepath.Dir(path)) == "gen" {
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ingest.Open(f, ingest.Limits{})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		head, r, err := logtype.Peek(r)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		dec := decoders[logtype.Detect(head)]
		if dec == nil {
			t.Fatalf("%s: no log type detected", path)
		}
		err = dec.Decode(context.Background(), r, "file://"+filepath.ToSlash(path), ingest.Handler{
			Event: func(e *ingest.Event) error { evs = append(evs, e); return nil },
		})
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	if len(evs) == 0 {
		t.Fatal("no events in deploy/demo")
	}
	return evs
}

// TestDemoReplayIdempotent writes the demo logs twice through the batch
// writer, as two replays do: after OPTIMIZE ... FINAL, one row per event.
func TestDemoReplayIdempotent(t *testing.T) {
	s := testStore(t, Config{})
	evs := decodeDemo(t)
	ids := map[string]bool{}
	for _, e := range evs {
		ids[e.ID] = true
	}
	for range 2 {
		w, err := batch.New(batch.Config[*ingest.Event]{
			Size:       500,
			DeadLetter: func(e *ingest.Event, err error) { t.Errorf("event %s dead-lettered: %v", e.ID, err) },
		}, s.InsertEvents)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Add(t.Context(), evs...); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, s, "SELECT count() FROM events"); n != 2*uint64(len(evs)) {
		t.Logf("%d rows before merging (parts may already have merged)", n)
	}
	optimizeFinal(t, s, "events", "event_id")
	if n := count(t, s, "SELECT count() FROM events"); n != uint64(len(ids)) {
		t.Fatalf("%d rows after OPTIMIZE FINAL, want one per distinct event ID (%d)", n, len(ids))
	}
	if n := count(t, s, "SELECT uniqExact(log_type) FROM events"); n != uint64(len(ingest.Types)) {
		t.Fatalf("%d log types stored, want %d", n, len(ingest.Types))
	}
	t.Logf("%d demo events, %d distinct IDs", len(evs), len(ids))
}
