package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Rules of the reload tests: each fires on its own eventName; the count
// rule needs three EventC within an hour (one per input), so it fires only if its window
// survives a reload.
const (
	ruleA = `id: reload-a
title: Event A
severity: low
log_types: [cloudtrail]
when: eventName == "EventA"
`
	ruleB = `id: reload-b
title: Event B
severity: low
log_types: [cloudtrail]
when: eventName == "EventB"
`
	ruleC = `id: reload-c
title: Three EventC
severity: low
log_types: [cloudtrail]
when: eventName == "EventC"
group_by: [recipientAccountId]
correlate: {type: count, threshold: 3, window: 1h}
`
	ruleBroken = `id: reload-broken
title: Broken
severity: low
log_types: [cloudtrail]
when: eventName ==
`
)

// ctFile writes a CloudTrail file of one event per name, at minute n.
func ctFile(t *testing.T, path string, n int, names ...string) {
	t.Helper()
	var recs []string
	for i, name := range names {
		recs = append(recs, fmt.Sprintf(`{"eventVersion":"1.08","eventTime":"2026-03-14T10:%02d:%02dZ","eventID":"f%d-%d","eventSource":"test.amazonaws.com","eventName":%q,"awsRegion":"eu-west-1","recipientAccountId":"111122223333","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/u"}}`, n, i, n, i, name))
	}
	writeFile(t, path, `{"Records":[`+strings.Join(recs, ",")+`]}`)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds; the time limit only guards against
// a hang.
func waitFor(what string, cond func() bool) error {
	for range 3000 {
		if cond() {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("gave up waiting for %s", what)
}

// metricValue returns the value of the metric without labels called
// name, or -1 when there is none.
func metricValue(p *pipeline, name string) float64 {
	mfs, _ := p.metrics.Registry.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 {
			m := mf.Metric[0]
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return -1
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunReload runs three inputs; before the second, rule B is added and
// the rules reloaded (by SIGHUP, or by the poll of the rule directory): B
// fires from then on. Before the third, a broken rule is added: the reload
// fails, is logged, and A and B keep firing. The count rule's window opened
// in the first input completes in the third, across both reloads.
func TestRunReload(t *testing.T) {
	for _, trigger := range []string{"SIGHUP", "poll"} {
		t.Run(trigger, func(t *testing.T) {
			dir, rulesDir := t.TempDir(), t.TempDir()
			writeFile(t, filepath.Join(rulesDir, "a.yaml"), ruleA+"---\n"+ruleC)
			for i := 1; i <= 3; i++ {
				ctFile(t, filepath.Join(dir, fmt.Sprintf("in%d.json", i)), i, "EventA", "EventB", "EventC")
			}
			var logs syncBuffer
			p, err := newPipeline(pipelineConfig{rules: []string{rulesDir},
				log: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			hup := make(chan os.Signal, 1)
			if trigger == "SIGHUP" {
				p.hup = hup
			} else {
				p.reloadEvery = 10 * time.Millisecond
			}
			reloads := func(result string) float64 {
				return testutil.ToFloat64(p.metrics.RuleReloads.WithLabelValues(result))
			}
			// change replaces a rule file and waits for the reload to
			// end with result. It runs in the ingest stage, before an input
			// is opened, so it reports problems with t.Error.
			change := func(file, content string, read uint64, result string) error {
				// The inputs before must be matched by the rules running
				// when they were read: wait until the matcher has seen them.
				err := waitFor("the detect stage", func() bool { return metricValue(p, "vigil_detect_events_total") == float64(read) })
				// Write the file whole, as a deployment should (the poll
				// must not see it half written).
				tmp := filepath.Join(t.TempDir(), file)
				if err == nil {
					err = os.WriteFile(tmp, []byte(content), 0o644)
				}
				if err == nil {
					err = os.Rename(tmp, filepath.Join(rulesDir, file))
				}
				if err == nil && trigger == "SIGHUP" {
					hup <- syscall.SIGHUP
				}
				if err == nil {
					err = waitFor("the reload", func() bool { return reloads(result) == 1 })
				}
				if err != nil {
					t.Error(err)
				}
				return err
			}
			inputs, err := runInputs([]string{"file://" + dir}, false)
			if err != nil || len(inputs) != 3 {
				t.Fatalf("inputs %v: %v", inputs, err)
			}
			open2, open3 := inputs[1].open, inputs[2].open
			inputs[1].open = func() (io.ReadCloser, error) {
				if err := change("b.yaml", ruleB, 3, "ok"); err != nil {
					return nil, err
				}
				return open2()
			}
			inputs[2].open = func() (io.ReadCloser, error) {
				if err := change("broken.yaml", ruleBroken, 6, "error"); err != nil {
					return nil, err
				}
				return open3()
			}
			path := filepath.Join(t.TempDir(), "vigil.duckdb")
			st, err := openStore(context.Background(), "duckdb://"+path, false)
			if err != nil {
				t.Fatal(err)
			}
			p.sink = st
			if err := p.run(context.Background(), inputs); err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			_, _, ruleIDs := storeCounts(t, path)
			want := []string{"reload-a", "reload-a", "reload-a", "reload-b", "reload-b", "reload-c"}
			if !slices.Equal(ruleIDs, want) {
				t.Errorf("alerts of rules %v, want %v", ruleIDs, want)
			}
			if l := logs.String(); !strings.Contains(l, "rule reload failed") || !strings.Contains(l, "broken.yaml") {
				t.Errorf("the failed reload is not logged with its file:\n%s", l)
			}
			if got := reloads("ok"); got != 1 {
				t.Errorf("%v successful reloads, want 1", got)
			}
			if got := testutil.ToFloat64(p.metrics.RulesLoaded); got != 3 {
				t.Errorf("vigil_rules_loaded %v, want 3", got)
			}
		})
	}
}

// TestRulesFingerprint checks that adding, changing and removing a file
// under the rule paths changes the fingerprint, and nothing else does.
func TestRulesFingerprint(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a.yaml")
	writeFile(t, file, ruleA)
	paths := []string{dir}
	fp := rulesFingerprint(paths)
	if rulesFingerprint(paths) != fp {
		t.Fatal("fingerprint not stable")
	}
	steps := []struct {
		name string
		do   func()
	}{
		{"add", func() { writeFile(t, filepath.Join(dir, "b.yaml"), ruleB) }},
		{"grow", func() { writeFile(t, file, ruleA+"\n") }},
		{"touch", func() {
			later := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			if err := os.Chtimes(file, later, later); err != nil {
				t.Fatal(err)
			}
		}},
		{"remove", func() { os.Remove(filepath.Join(dir, "b.yaml")) }},
		{"remove the directory", func() { os.RemoveAll(dir) }},
	}
	for _, s := range steps {
		s.do()
		next := rulesFingerprint(paths)
		if next == fp {
			t.Errorf("%s: fingerprint unchanged", s.name)
		}
		fp = next
	}
}
