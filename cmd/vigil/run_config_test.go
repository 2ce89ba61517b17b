package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/ingest"
)

// TestRunConfigFile runs from a configuration file, then with a flag that
// overrides its store: each run writes where the effective configuration
// says.
func TestRunConfigFile(t *testing.T) {
	dir := t.TempDir()
	inFile := filepath.Join(t.TempDir(), "in.json")
	ctFile(t, inFile, 1, "EventA", "EventB")
	rulesDir := t.TempDir()
	writeFile(t, filepath.Join(rulesDir, "a.yaml"), ruleA)
	fromFile, fromFlag := filepath.Join(dir, "file.duckdb"), filepath.Join(dir, "flag.duckdb")
	cfg := filepath.Join(dir, "vigil.yaml")
	writeFile(t, cfg, "sources: ['file://"+inFile+"']\nstore: {url: 'duckdb://"+fromFile+"'}\nrules: {paths: ['"+rulesDir+"']}\nlog: {format: json}\n")
	for _, tc := range []struct {
		args  []string
		store string
	}{
		{nil, fromFile},
		{[]string{"--store", "duckdb://" + fromFlag}, fromFlag},
	} {
		code, _, errw := vigil(t, "", append([]string{"run", "--format", "none", "--config", cfg}, tc.args...)...)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, errw)
		}
		events, _, ruleIDs := storeCounts(t, tc.store)
		if events != 2 || len(ruleIDs) != 1 || ruleIDs[0] != "reload-a" {
			t.Errorf("%v: store %s holds %d events, alerts of %v", tc.args, tc.store, events, ruleIDs)
		}
	}
}

// TestRunConfigErrors checks that vigil run refuses a configuration it
// cannot run, naming the key.
func TestRunConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, yaml, want string }{
		{"kafka bus", "bus: {url: 'kafka://k:9092'}\n", "vigil run uses the in-process bus"},
		{"unknown key", "sorces: ['file:///x']\n", `line 1: sorces: unknown key "sorces"`},
		{"missing password", "store: {url: 'clickhouse://u@127.0.0.1:1/db', password: {secret_env: VIGIL_TEST_UNSET_PW}}\n",
			"store.password: environment variable VIGIL_TEST_UNSET_PW is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			writeFile(t, path, tc.yaml)
			code, _, errw := vigil(t, "", "run", "--demo", "--config", path)
			if code != 2 || !strings.Contains(errw, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, errw, tc.want)
			}
		})
	}
}

// TestRunMetrics checks the ingest and store metrics of a run against its
// own counts.
func TestRunMetrics(t *testing.T) {
	inputs, err := runInputs([]string{"file://../../deploy/demo/k8s"}, false)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPipeline(pipelineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(context.Background(), "duckdb://"+filepath.Join(t.TempDir(), "v.duckdb"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p.sink = st
	if err := p.run(context.Background(), inputs); err != nil {
		t.Fatal(err)
	}
	in := testutil.ToFloat64(p.metrics.EventsIn.WithLabelValues("file://../../deploy/demo/k8s", "k8saudit"))
	if n := p.events["k8saudit"]; n == 0 || in != float64(n) {
		t.Errorf("vigil_ingest_events_total %v, the run counted %d", in, n)
	}
	if got := metricValue(p, "vigil_detect_events_total"); got != in {
		t.Errorf("vigil_detect_events_total %v, want %v", got, in)
	}
	mfs, err := p.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "vigil_store_rows_total":
			for _, m := range mf.Metric {
				if m.Label[0].GetValue() == "events" && m.GetCounter().GetValue() != in {
					t.Errorf("vigil_store_rows_total{table=events} %v, want %v", m.GetCounter().GetValue(), in)
				}
			}
		case "vigil_bus_lag_messages":
			for _, m := range mf.Metric {
				if m.GetGauge().GetValue() != 0 {
					t.Errorf("lag %v after the run: %v", m.Label, m.GetGauge().GetValue())
				}
			}
		}
	}
}

// discardSink accepts every row and keeps none.
type discardSink struct{}

func (discardSink) InsertEvents(context.Context, []*ingest.Event) error { return nil }
func (discardSink) InsertAlerts(context.Context, []*detect.Alert) error { return nil }

// BenchmarkRunPipeline runs the demo's CloudTrail logs through every stage
// of vigil run (decode, bus, rules, correlation, batch writers, metrics)
// into a sink that discards them, so the store's cost is left out.
func BenchmarkRunPipeline(b *testing.B) {
	inputs, err := runInputs([]string{"file://../../deploy/demo/cloudtrail"}, false)
	if err != nil {
		b.Fatal(err)
	}
	events := 0
	for b.Loop() {
		b.StopTimer() // loading and compiling the rules is not the hot path
		p, err := newPipeline(pipelineConfig{})
		if err != nil {
			b.Fatal(err)
		}
		p.sink = discardSink{}
		b.StartTimer()
		if err := p.run(context.Background(), inputs); err != nil {
			b.Fatal(err)
		}
		events += p.events["cloudtrail"]
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
