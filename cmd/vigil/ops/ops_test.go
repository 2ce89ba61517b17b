package ops

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/detect/correlate"
	"github.com/vigilsec/vigil/storage/batch"
)

// TestCollectors checks that the watched stats are exposed under their
// names, and that counters of a replaced matcher carry over.
func TestCollectors(t *testing.T) {
	m := New()
	old := detect.Stats{Events: 5, Rules: []detect.RuleStats{{ID: "r1", Evals: 5, Matches: 1}, {ID: "gone", Evals: 3}}}
	cur := old
	m.WatchMatcher(func() detect.Stats { return cur })
	m.WatchCorrelator(func() correlate.Stats {
		return correlate.Stats{Pending: 3, Watermark: time.Unix(100, 0), Rules: []correlate.RuleStats{{ID: "c1", Signals: 4, Late: 1, Open: 2}}}
	})
	m.WatchWriter("events", func() batch.Stats { return batch.Stats{Rows: 7, Batches: 2, Retries: 1} })
	m.WatchLag("vigil.events", "store", func() int64 { return 42 })
	m.Replace(old, correlate.Stats{}, func() {
		cur = detect.Stats{Events: 10, Rules: []detect.RuleStats{{ID: "r1", Evals: 10, Matches: 2, Errors: 1}}}
	})

	want := `
# HELP vigil_detect_rule_matches_total Rule evaluations that matched.
# TYPE vigil_detect_rule_matches_total counter
vigil_detect_rule_matches_total{rule="gone"} 0
vigil_detect_rule_matches_total{rule="r1"} 3
# HELP vigil_detect_events_total Events evaluated by the matcher.
# TYPE vigil_detect_events_total counter
vigil_detect_events_total 15
# HELP vigil_correlate_open_windows Open windows, partial sequences, pending absences or learned values.
# TYPE vigil_correlate_open_windows gauge
vigil_correlate_open_windows{rule="c1"} 2
# HELP vigil_correlate_watermark_seconds Unix time of the correlator's watermark.
# TYPE vigil_correlate_watermark_seconds gauge
vigil_correlate_watermark_seconds 100
# HELP vigil_store_rows_total Rows written to the store.
# TYPE vigil_store_rows_total counter
vigil_store_rows_total{table="events"} 7
# HELP vigil_bus_lag_messages Messages written to a topic and not yet committed by a consumer group.
# TYPE vigil_bus_lag_messages gauge
vigil_bus_lag_messages{group="store",topic="vigil.events"} 42
`
	err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "vigil_detect_rule_matches_total",
		"vigil_detect_events_total", "vigil_correlate_open_windows", "vigil_correlate_watermark_seconds",
		"vigil_store_rows_total", "vigil_bus_lag_messages")
	if err != nil {
		t.Fatal(err)
	}
}

func TestNames(t *testing.T) {
	names := New().Names()
	for _, n := range []string{"vigil_ingest_events_total", "vigil_detect_rule_evaluations_total", "vigil_store_flush_seconds",
		"vigil_bus_lag_messages", "process_resident_memory_bytes", "go_goroutines"} {
		if !slices.Contains(names, n) {
			t.Errorf("%s missing", n)
		}
	}
	for _, n := range names {
		if strings.HasPrefix(n, "vigil_") && strings.Contains(n, "-") {
			t.Errorf("bad name %s", n)
		}
	}
}

func TestTimeFlush(t *testing.T) {
	m := New()
	fail := errors.New("down")
	f := TimeFlush(m, "alerts", func(_ context.Context, rows []int) error {
		if len(rows) == 0 {
			return fail
		}
		return nil
	})
	if err := f(context.Background(), []int{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := f(context.Background(), nil); !errors.Is(err, fail) {
		t.Fatalf("error %v", err)
	}
	if n := testutil.CollectAndCount(m.StoreFlushSeconds); n != 2 {
		t.Errorf("%d flush series, want ok and error", n)
	}
	var h dto.Metric
	if err := m.StoreBatchRows.WithLabelValues("alerts").(prometheus.Metric).Write(&h); err != nil {
		t.Fatal(err)
	}
	if h.GetHistogram().GetSampleCount() != 1 || h.GetHistogram().GetSampleSum() != 3 {
		t.Errorf("batch rows: %v", h.GetHistogram())
	}
}

func TestHandler(t *testing.T) {
	m := New()
	storeErr := errors.New("connection refused")
	h := Handler(m, Check{"bus", func(context.Context) error { return nil }},
		Check{"store", func(context.Context) error { return storeErr }})
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/healthz", 200, "ok"},
		{"/readyz", 503, "store: connection refused"},
		{"/metrics", 200, "go_goroutines"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("%s: %d %q, want %d with %q", tc.path, rec.Code, rec.Body.String(), tc.code, tc.body)
		}
	}
	storeErr = nil
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != 200 {
		t.Errorf("/readyz with every check passing: %d %s", rec.Code, rec.Body)
	}
}

// TestWithPprof checks that the profiling endpoints are served only when
// asked for, beside the handler's own.
func TestWithPprof(t *testing.T) {
	plain := Handler(New())
	for _, tc := range []struct {
		h          http.Handler
		path       string
		code       int
		bodyPrefix string
	}{
		{plain, "/debug/pprof/", 404, ""},
		{WithPprof(plain), "/debug/pprof/", 200, "<html>"},
		{WithPprof(plain), "/debug/pprof/goroutine?debug=1", 200, "goroutine profile:"},
		{WithPprof(plain), "/healthz", 200, "ok"},
		{WithPprof(plain), "/metrics", 200, "# HELP"},
	} {
		rec := httptest.NewRecorder()
		tc.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if rec.Code != tc.code || !strings.HasPrefix(rec.Body.String(), tc.bodyPrefix) {
			t.Errorf("%s: %d %.40q, want %d starting %q", tc.path, rec.Code, rec.Body.String(), tc.code, tc.bodyPrefix)
		}
	}
}

// TestRateLimit checks that a repeated error passes Burst times per
// interval, that the next passing record says how many were dropped, and
// that other messages and lower levels are not limited.
func TestRateLimit(t *testing.T) {
	now := time.Unix(0, 0)
	var buf bytes.Buffer
	dropped := 0
	log := slog.New(RateLimit(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}), RateLimitConfig{Burst: 2, Interval: time.Minute, Now: func() time.Time { return now }, Suppressed: func() { dropped++ }}))
	for range 5 {
		log.Error("store down", "table", "events")
	}
	log.Warn("other")
	log.Info("info is never limited")
	log.Info("info is never limited")
	now = now.Add(time.Minute)
	log.Error("store down", "table", "events")
	want := `level=ERROR msg="store down" table=events
level=ERROR msg="store down" table=events
level=WARN msg=other
level=INFO msg="info is never limited"
level=INFO msg="info is never limited"
level=ERROR msg="store down" table=events suppressed=3
`
	if buf.String() != want {
		t.Errorf("log:\n%s\nwant:\n%s", buf.String(), want)
	}
	if dropped != 3 {
		t.Errorf("dropped %d, want 3", dropped)
	}
}

func TestNewLogger(t *testing.T) {
	for _, tc := range []struct{ format, level, want string }{
		{"json", "warn", `"msg":"shown"`},
		{"text", "debug", "msg=hidden"},
	} {
		var buf bytes.Buffer
		log, err := NewLogger(&buf, tc.format, tc.level, nil)
		if err != nil {
			t.Fatal(err)
		}
		log.Debug("hidden")
		log.Warn("shown")
		if !strings.Contains(buf.String(), tc.want) {
			t.Errorf("%s/%s: %q lacks %q", tc.format, tc.level, buf.String(), tc.want)
		}
	}
	if _, err := NewLogger(nil, "xml", "info", nil); err == nil {
		t.Error("format xml accepted")
	}
	if _, err := NewLogger(nil, "text", "loud", nil); err == nil {
		t.Error("level loud accepted")
	}
}

func BenchmarkRateLimit(b *testing.B) {
	log := slog.New(RateLimit(slog.DiscardHandler, RateLimitConfig{}))
	for b.Loop() {
		log.Error("repeated failure")
	}
}
