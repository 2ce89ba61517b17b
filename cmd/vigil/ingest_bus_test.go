package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigilsec/vigil/cmd/vigil/ops"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/logtype"
	"github.com/vigilsec/vigil/storage/memory"
)

// TestBusIngestErrors feeds the Kafka ingest's file reader a missing file,
// a file of no known log type and a file with one malformed record among
// good ones: the inputs that fail are counted and logged by source, the
// bad record is counted and logged, and the good records still reach the
// bus.
func TestBusIngestErrors(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "notes.txt")
	mixed := filepath.Join(dir, "trail.json")
	for path, body := range map[string]string{
		unknown: "just some words\n",
		mixed:   `{"Records":[{"eventVersion":"1.08","eventID":"a","eventTime":"2026-03-14T10:00:00Z","eventName":"ListBuckets"},{"eventVersion":"1.08","eventID":"b","eventTime":"2026-03-14T10:00:00Z","eventName":42},{"eventVersion":"1.08","eventID":"c","eventTime":"2026-03-14T10:00:01Z","eventName":"GetObject"}]}`,
	} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bus, err := memory.New(memory.Config{Capacity: 100})
	if err != nil {
		t.Fatal(err)
	}
	prod, err := memory.NewProducer[*ingest.Event](bus, "events")
	if err != nil {
		t.Fatal(err)
	}
	metrics := ops.New()
	var logs lockedBuffer
	bi := &busIngest{out: prod, log: slog.New(slog.NewTextHandler(&logs, nil)), maxShown: 10,
		decodeErrors: metrics.DecodeErrors, inputErrors: metrics.InputErrors}
	decoders, err := logtype.Decoders(logtype.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "missing.json"), unknown, mixed} {
		if err := bi.file(context.Background(), decoders, p); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	if got := testutil.ToFloat64(metrics.InputErrors.WithLabelValues("file://")); got != 2 {
		t.Errorf("input errors %v, want 2 (missing and unknown)", got)
	}
	if got := testutil.ToFloat64(metrics.DecodeErrors.WithLabelValues("file://")); got != 1 {
		t.Errorf("decode errors %v, want 1", got)
	}
	if got := bi.events.Load(); got != 2 {
		t.Errorf("%d events on the bus, want the 2 good records", got)
	}
	for _, want := range []string{"input failed", "missing.json", "notes.txt", "bad record"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

// TestFlagArg checks the arguments that make vigil ingest the Kafka role.
func TestFlagArg(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want bool
	}{
		{"--bus", true}, {"-bus", true}, {"--bus=kafka://b:9092", true}, {"-bus=", true},
		{"bus", false}, {"---bus", false}, {"--bus-x", false}, {"--busy", false}, {"--source", false}, {"", false},
	} {
		if got := flagArg(tc.arg, "bus"); got != tc.want {
			t.Errorf("flagArg(%q, bus) = %v, want %v", tc.arg, got, tc.want)
		}
	}
}
