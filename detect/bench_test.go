package detect

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/rules"
)

// benchEvents decodes the CloudTrail records of testdata/cloudtrail_mix.jsonl
// into events.
func benchEvents(b testing.TB) []*ingest.Event {
	f, err := os.Open("testdata/cloudtrail_mix.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var evs []*ingest.Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			b.Fatal(err)
		}
		at, _ := time.Parse(time.RFC3339, m["eventTime"].(string))
		evs = append(evs, &ingest.Event{ID: m["eventID"].(string), Type: ingest.TypeCloudTrail, Time: at, Fields: m})
	}
	return evs
}

// benchRules loads testdata/builtin_like.yaml plus n generated rules, each
// constrained to its own eventName.
func benchRules(b testing.TB, n int) []*rules.Rule {
	data, err := os.ReadFile("testdata/builtin_like.yaml")
	if err != nil {
		b.Fatal(err)
	}
	var gen strings.Builder
	for i := range n {
		fmt.Fprintf(&gen, "---\nid: gen-%04d\ntitle: generated %d\nseverity: low\nlog_types: [cloudtrail]\n"+
			"when: eventName == \"Generated%04d\" && userIdentity.type == \"IAMUser\" && sourceIPAddress != \"10.0.0.1\"\n", i, i, i)
	}
	set, err := rules.Load(fstest.MapFS{
		"builtin_like.yaml": {Data: data},
		"generated.yaml":    {Data: []byte(gen.String())},
	})
	if err != nil {
		b.Fatal(err)
	}
	return set.Rules
}

func benchMatch(b *testing.B, n int) {
	evs := benchEvents(b)
	m, err := New(benchRules(b, n), Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ev := evs[i%len(evs)]
		m.Match(ev)
		if i%len(evs) == len(evs)-1 {
			m.Advance(ev.Time)
		}
	}
	b.StopTimer()
	m.Flush()
}

// BenchmarkMatchBuiltinLike measures the match cost per event of a
// realistic CloudTrail mix against rules shaped like the built-in pack.
func BenchmarkMatchBuiltinLike(b *testing.B) { benchMatch(b, 0) }

// BenchmarkMatch1000Rules is BenchmarkMatchBuiltinLike with 1,000 more
// rules, each on an eventName of its own: with the index the cost per event
// should stay close to BenchmarkMatchBuiltinLike's.
func BenchmarkMatch1000Rules(b *testing.B) { benchMatch(b, 1000) }

// TestIndexScales checks what the benchmarks measure, without a clock: the
// 1,000 generated rules add no evaluation to the CloudTrail mix, whose
// eventNames none of them names.
func TestIndexScales(t *testing.T) {
	evals := func(n int) uint64 {
		m, err := New(benchRules(t, n), Config{})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range benchEvents(t) {
			m.Match(ev)
		}
		var sum uint64
		for _, r := range m.Stats().Rules {
			sum += r.Evals
		}
		return sum
	}
	small, large := evals(0), evals(1000)
	if small == 0 || large != small {
		t.Errorf("evaluations: %d with the small set, %d with 1,000 more rules", small, large)
	}
}
