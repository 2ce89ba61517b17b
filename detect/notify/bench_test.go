package notify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkDeliver measures the latency the notify stage adds per alert
// with a healthy receiver on loopback: route, sign, POST, record. It
// reports the 50th and 99th percentile of one Deliver call (target: p99
// ≤ 50 ms) with the in-memory log and with the fsynced file log.
func BenchmarkDeliver(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name string
		log  func(b *testing.B) DeliveryLog
	}{
		{"memory-log", func(*testing.B) DeliveryLog { return NewMemoryLog() }},
		{"file-log", func(b *testing.B) DeliveryLog {
			l, err := OpenFileLog(filepath.Join(b.TempDir(), "deliveries.jsonl"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { l.Close() })
			return l
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := Config{
				Outbound: loopbackOK, Log: tc.log(b),
				Getenv:       func(string) string { return testSecret },
				Destinations: []DestinationConfig{{Name: "hook", Type: TypeWebhook, URL: srv.URL, SecretEnv: []string{"S"}}},
				Routes:       []Route{{Name: "all", Default: true, Destinations: []string{"hook"}}},
			}
			n := mustNew(b, c)
			ctx := context.Background()
			base := hostileAlert()
			var lat []time.Duration
			i := 0
			for b.Loop() {
				a := *base
				a.AlertID = "bench-" + strconv.Itoa(i)
				i++
				start := time.Now()
				if err := n.Deliver(ctx, &a); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			if s := n.Stats(); s.Delivered != int64(len(lat)) {
				b.Fatalf("delivered %d of %d", s.Delivered, len(lat))
			}
		})
	}
}
