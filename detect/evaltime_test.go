package detect

import (
	"math"
	"testing"
	"testing/fstest"
	"time"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/rules"
)

// TestEvalTimeGrows checks that a rule's estimated evaluation time is
// counted from its first evaluation and grows as samples are timed, and
// that a rule never evaluated has none.
func TestEvalTimeGrows(t *testing.T) {
	set, err := rules.Load(fstest.MapFS{"r.yaml": {Data: []byte(`
id: hit
title: T
severity: low
log_types: [cloudtrail]
when: eventName == "X" && lower(userAgent) contains "curl"
---
id: never
title: T
severity: low
log_types: [vpcflow]
when: action == "REJECT"
`)}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(set.Rules, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ev := &ingest.Event{ID: "e", Type: ingest.TypeCloudTrail, Time: time.Unix(0, 0),
		Fields: map[string]any{"eventName": "X", "userAgent": "aws-cli"}}
	stat := func(id string) RuleStats {
		for _, r := range m.Stats().Rules {
			if r.ID == id {
				return r
			}
		}
		t.Fatalf("no stats for rule %s", id)
		return RuleStats{}
	}
	m.Match(ev)
	first := stat("hit")
	if first.Evals != 1 || first.EvalTime <= 0 {
		t.Fatalf("after one evaluation: %+v, want 1 evaluation and a positive time", first)
	}
	for range 3 * EvalSampleEvery {
		m.Match(ev)
	}
	later := stat("hit")
	if later.Evals != 1+3*EvalSampleEvery || later.EvalTime <= first.EvalTime {
		t.Errorf("after %d evaluations: %+v, want the time to grow past %v", later.Evals, later, first.EvalTime)
	}
	if n := stat("never"); n.Evals != 0 || n.EvalTime != 0 {
		t.Errorf("rule never evaluated: %+v", n)
	}
}

// BenchmarkEvalTiming compares the match cost with no evaluation timed,
// every evaluation timed and the sampled timing the matcher uses, side by
// side in one run (go test -bench EvalTiming -count 6 ./detect).
func BenchmarkEvalTiming(b *testing.B) {
	for _, bm := range []struct {
		name string
		mask uint64
	}{
		{"untimed", math.MaxUint64 >> 1},
		{"every", 0},
		{"sampled", EvalSampleEvery - 1},
	} {
		b.Run(bm.name, func(b *testing.B) {
			evs := benchEvents(b)
			m, err := New(benchRules(b, 0), Config{})
			if err != nil {
				b.Fatal(err)
			}
			m.timeMask = bm.mask
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				ev := evs[i%len(evs)]
				m.Match(ev)
				if i%len(evs) == len(evs)-1 {
					m.Advance(ev.Time)
				}
			}
			b.StopTimer()
			m.Flush()
		})
	}
}
