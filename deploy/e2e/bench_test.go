package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/cloudtrail"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/clickhouse"
	"github.com/vigilsec/vigil/storage/kafka"
)

// rootRule fires on every state-changing call of the root user, one alert
// per account and source address.
const rootRule = "aws-root-account-usage"

// Trigger events of BenchmarkPipeline: during the load, after it, and
// during the steady load.
const (
	loadTriggers   = 200
	idleTriggers   = 100
	steadyTriggers = 60
)

// steadyFor is how long BenchmarkPipeline's steady load lasts.
const steadyFor = 15 * time.Second

// steadyShare is the steady load's rate as a share of the pipeline's
// measured rate, unless E2E_BENCH_STEADY_RATE sets it in events/s.
const steadyShare = 0.5

// benchEvents is the event count of BenchmarkPipeline: E2E_BENCH_EVENTS, or
// 50,000.
func benchEvents() int {
	if n, err := strconv.Atoi(os.Getenv("E2E_BENCH_EVENTS")); err == nil && n > 0 {
		return n
	}
	return 50000
}

// BenchmarkPipeline measures ingest → Kafka → detect → store with each
// role a process, and beside it, in the same run, the ceilings: the same
// events inserted straight into ClickHouse by the store's insert path
// (one process, no Kafka), and the same messages produced to and consumed
// from Kafka with no work. While the pipeline runs, trigger events of the
// root-usage rule are produced one by one, and the time from their produce
// to their alert row being visible in ClickHouse is the alert latency.
// Then, with the backlog gone, events are produced at a steady rate (half
// the rate measured, or E2E_BENCH_STEADY_RATE) for 15 s with triggers
// among them: the alert latency at a load the pipeline keeps up with.
//
//	go test -run '^$' -bench Pipeline -benchtime 1x ./deploy/e2e
func BenchmarkPipeline(b *testing.B) {
	n := benchEvents()
	dir := b.TempDir()
	writeCloudTrail(b, dir, ledgerEvents(n), 5000)
	evs := decodeDir(b, dir)

	for b.Loop() {
		chRate := insertCeiling(b, evs)
		kRate := kafkaCeiling(b, evs)
		rate, lat, idle, steady, steadyRate, cpu := pipelineRun(b, dir, n)
		b.ReportMetric(rate, "events/s")
		for _, name := range []string{"ingest", "detect", "store", "broker", "clickhouse"} {
			b.ReportMetric(float64(cpu[name].Microseconds())/float64(n), name+"-cpu-us/event")
		}
		b.ReportMetric(chRate, "ch-ceiling-events/s")
		b.ReportMetric(kRate, "kafka-ceiling-msgs/s")
		b.ReportMetric(100*rate/chRate, "%-of-ch-ceiling")
		b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-alert-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-alert-ms")
		b.ReportMetric(float64(idle[len(idle)/2].Milliseconds()), "p50-idle-alert-ms")
		b.ReportMetric(float64(idle[len(idle)*99/100].Milliseconds()), "p99-idle-alert-ms")
		b.ReportMetric(steadyRate, "steady-events/s")
		b.ReportMetric(float64(steady[len(steady)/2].Milliseconds()), "p50-steady-alert-ms")
		b.ReportMetric(float64(steady[len(steady)*99/100].Milliseconds()), "p99-steady-alert-ms")
	}
}

// decodeDir decodes the CloudTrail files of dir.
func decodeDir(b *testing.B, dir string) []*ingest.Event {
	d, err := cloudtrail.New(cloudtrail.Config{})
	if err != nil {
		b.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var evs []*ingest.Event
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		err = d.Decode(context.Background(), f, "file://"+p, ingest.Handler{Event: func(ev *ingest.Event) error {
			evs = append(evs, ev)
			return nil
		}})
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	return evs
}

// insertCeiling inserts evs into a fresh database in batches of the store
// role's size and returns events per second.
func insertCeiling(b *testing.B, evs []*ingest.Event) float64 {
	url, _ := clickhouseDB(b)
	ctx := context.Background()
	st, err := clickhouse.Open(ctx, clickhouse.Config{URL: url})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < len(evs); i += 5000 {
		if err := st.InsertEvents(ctx, evs[i:min(i+5000, len(evs))]); err != nil {
			b.Fatal(err)
		}
	}
	return float64(len(evs)) / time.Since(start).Seconds()
}

// kafkaCeiling produces evs to a fresh broker in batches of ingest's size
// and consumes them all in a group, and returns messages per second.
func kafkaCeiling(b *testing.B, evs []*ingest.Event) float64 {
	_, bus := broker(b)
	cfg := busConfig(b, bus)
	ctx := context.Background()
	p, err := kafka.NewProducer(cfg, cfg.Topics.Events, kafka.EventCodec{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	c, err := kafka.NewConsumer(cfg, kafka.Subscription[*ingest.Event]{Topic: cfg.Topics.Events, Group: "ceiling", Codec: kafka.EventCodec{}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		for i := 0; i < len(evs); i += 500 {
			batch := evs[i:min(i+500, len(evs))]
			msgs := make([]storage.Message[*ingest.Event], len(batch))
			for j, ev := range batch {
				msgs[j] = storage.Message[*ingest.Event]{Key: []byte(ev.Source), Value: ev}
			}
			if err := p.Write(ctx, msgs...); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range evs {
		if _, err := c.Fetch(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return float64(len(evs)) / time.Since(start).Seconds()
}

// pipelineRun runs the three roles as processes over the files of dir and
// returns events per second from the start of ingest until all n events
// are in ClickHouse, the sorted alert latencies of the triggers sent
// during the load and after it, and the CPU time each part used until the
// n events were in ClickHouse: the roles, the broker (this test process,
// which also produces the triggers and polls for their alerts) and the
// ClickHouse server. Then it produces a steady load with triggers among
// it and returns its rate and their alert latencies.
func pipelineRun(b *testing.B, dir string, n int) (rate float64, loaded, idle, steady []time.Duration, steadyRate float64,
	cpu map[string]time.Duration) {
	storeURL, conn := clickhouseDB(b)
	db := storeURL[strings.LastIndex(storeURL, "/")+1:]
	_, bus := broker(b)
	cfg := busConfig(b, bus)
	ingestP, detectP, storeP := pipeline(b, bus, storeURL, dir)
	detectP.start(b)
	storeP.start(b)
	waitFor(b, 30*time.Second, "the alerts table", func() (bool, string) {
		return count(b, conn, "system", fmt.Sprintf("SELECT count() FROM system.tables WHERE database = '%s' AND name = 'alerts'", db)) == 1, ""
	})
	time.Sleep(2 * time.Second) // both consumer groups joined

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := kafka.NewProducer(cfg, cfg.Topics.Events, kafka.EventCodec{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var mu sync.Mutex
	produced := map[string]time.Time{}
	seen := map[string]time.Time{}
	var wg sync.WaitGroup
	// trigger produces the triggers [from, to) one at a time.
	trigger := func(from, to int) {
		base := time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
		for i := from; i < to && ctx.Err() == nil; i++ {
			id := fmt.Sprintf("root0000-0000-4000-8000-%012d", i)
			rec := ctRecord(id, base.Add(time.Duration(i)*time.Second), "root", "")
			rec["userIdentity"] = map[string]any{"type": "Root", "arn": "arn:aws:iam::111122223333:root"}
			rec["eventName"], rec["readOnly"] = "RunInstances", false
			rec["sourceIPAddress"] = fmt.Sprintf("198.51.100.%d", i%250)
			rec["recipientAccountId"] = fmt.Sprintf("%012d", i)
			ev := &ingest.Event{ID: id, Type: "cloudtrail", Time: base.Add(time.Duration(i) * time.Second), Source: "bench://root", Fields: rec, Raw: rawOf(rec)}
			if err := p.Write(ctx, storage.Message[*ingest.Event]{Key: []byte(ev.Source), Value: ev}); err != nil {
				return
			}
			mu.Lock()
			produced[id] = time.Now()
			mu.Unlock()
			time.Sleep(25 * time.Millisecond)
		}
	}
	wg.Go(func() { trigger(0, loadTriggers) }) // while the load runs
	wg.Go(func() {                             // alert rows as they become visible
		for ctx.Err() == nil {
			rows, err := conn.Query(ctx, "SELECT arrayJoin(event_ids) FROM "+db+".alerts WHERE rule_id = '"+rootRule+"'")
			if err == nil {
				now := time.Now()
				for rows.Next() {
					var id string
					if rows.Scan(&id) == nil {
						mu.Lock()
						if _, ok := seen[id]; !ok {
							seen[id] = now
						}
						mu.Unlock()
					}
				}
				rows.Close()
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	chPID := clickhousePID()
	selfPID := os.Getpid()
	cpu0 := map[string]time.Duration{"detect": detectP.cpu(), "store": storeP.cpu(), "broker": cpuTime(selfPID), "clickhouse": cpuTime(chPID)}
	start := time.Now()
	ingestP.start(b)
	waitFor(b, 5*time.Minute, fmt.Sprintf("%d events in ClickHouse", n), func() (bool, string) {
		got := count(b, conn, db, "SELECT count() FROM DB.events WHERE event_id LIKE 'e2e00000-%'")
		return got >= uint64(n), fmt.Sprintf("%d events", got)
	})
	elapsed := time.Since(start)
	cpu = map[string]time.Duration{"ingest": ingestP.cpu(), "detect": detectP.cpu() - cpu0["detect"], "store": storeP.cpu() - cpu0["store"],
		"broker": cpuTime(selfPID) - cpu0["broker"], "clickhouse": cpuTime(chPID) - cpu0["clickhouse"]}
	if ok, _ := ingestP.running(); !ok {
		data, _ := os.ReadFile(ingestP.log.Name())
		b.Logf("ingest: %s", strings.TrimSpace(string(tail(data, 200))))
	}
	allSeen := func(want int) func() (bool, string) {
		return func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			return len(produced) == want && len(seen) >= len(produced), fmt.Sprintf("%d of %d", len(seen), len(produced))
		}
	}
	waitFor(b, 30*time.Second, "every trigger's alert", allSeen(loadTriggers))
	trigger(loadTriggers, loadTriggers+idleTriggers) // with no load
	waitFor(b, 30*time.Second, "every trigger's alert", allSeen(loadTriggers+idleTriggers))

	rate = float64(n) / elapsed.Seconds()
	steadyRate = steadyShare * rate
	if r, err := strconv.ParseFloat(os.Getenv("E2E_BENCH_STEADY_RATE"), 64); err == nil && r > 0 {
		steadyRate = r
	}
	steadyDone := make(chan struct{})
	go func() { defer close(steadyDone); steadyLoad(ctx, b, p, steadyRate, steadyFor) }()
	time.Sleep(steadyFor / 10) // the load has begun
	for i := loadTriggers + idleTriggers; i < loadTriggers+idleTriggers+steadyTriggers; i++ {
		trigger(i, i+1) // spread over the next 80% of the load
		time.Sleep(steadyFor*8/10/steadyTriggers - 25*time.Millisecond)
	}
	<-steadyDone
	waitFor(b, 60*time.Second, "every steady trigger's alert", allSeen(loadTriggers+idleTriggers+steadyTriggers))
	cancel()
	wg.Wait()
	for id, t := range produced {
		i, _ := strconv.Atoi(id[len(id)-12:])
		switch {
		case i < loadTriggers:
			loaded = append(loaded, seen[id].Sub(t))
		case i < loadTriggers+idleTriggers:
			idle = append(idle, seen[id].Sub(t))
		default:
			steady = append(steady, seen[id].Sub(t))
		}
	}
	slices.Sort(loaded)
	slices.Sort(idle)
	slices.Sort(steady)
	return rate, loaded, idle, steady, steadyRate, cpu
}

// steadyLoad produces routine CloudTrail events (none fires a rule) to
// vigil.events at rate events/s for d, in batches every 10 ms, keyed over
// 16 sources so that every partition gets its share.
func steadyLoad(ctx context.Context, b *testing.B, p *kafka.Producer[*ingest.Event], rate float64, d time.Duration) {
	base := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	start := time.Now()
	sent := 0
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil && time.Since(start) < d {
		<-tick.C
		due := int(rate * time.Since(start).Seconds())
		var msgs []storage.Message[*ingest.Event]
		for ; sent < due; sent++ {
			id := fmt.Sprintf("e2e00001-0000-4000-8000-%012d", sent)
			rec := ctRecord(id, base.Add(time.Duration(sent)*time.Millisecond), fmt.Sprintf("user-%d", sent%50), "")
			src := fmt.Sprintf("bench://steady-%d", sent%16)
			ev := &ingest.Event{ID: id, Type: "cloudtrail", Time: base.Add(time.Duration(sent) * time.Millisecond), Source: src,
				Fields: rec, Raw: rawOf(rec)}
			msgs = append(msgs, storage.Message[*ingest.Event]{Key: []byte(src), Value: ev})
		}
		if err := p.Write(ctx, msgs...); err != nil && ctx.Err() == nil {
			b.Errorf("steady load: %v", err)
			return
		}
	}
}
