package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/cloudtrail"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/rules/builtin"
)

// demoCloudTrail returns the decompressed CloudTrail objects of the bundled
// demo: a realistic mix of ordinary API calls with an attack among them.
func demoCloudTrail(b *testing.B) [][]byte {
	b.Helper()
	paths, err := filepath.Glob("../../deploy/demo/cloudtrail/*.json*")
	if err != nil || len(paths) == 0 {
		b.Fatalf("demo CloudTrail logs not found: %v", err)
	}
	var objs [][]byte
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		r, err := ingest.Open(f, ingest.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		data, err := io.ReadAll(r)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		objs = append(objs, data)
	}
	return objs
}

// generatedRules writes n CloudTrail rules in the shape rule authors write
// them (an eventName constraint and a further condition) and loads them.
// Their eventNames cycle through a vocabulary of n names that includes
// every name in the demo mix, so events do meet generated rules.
func generatedRules(b *testing.B, n int, objs [][]byte) []*rules.Rule {
	b.Helper()
	names := map[string]bool{}
	dec, err := cloudtrail.New(cloudtrail.Config{})
	if err != nil {
		b.Fatal(err)
	}
	for _, o := range objs {
		err := dec.Decode(context.Background(), bytes.NewReader(o), "bench", ingest.Handler{Event: func(ev *ingest.Event) error {
			if s, ok := ev.Fields["eventName"].(string); ok {
				names[s] = true
			}
			return nil
		}})
		if err != nil {
			b.Fatal(err)
		}
	}
	vocab := make([]string, 0, n)
	for s := range names {
		vocab = append(vocab, s)
	}
	slices.Sort(vocab)
	for i := len(vocab); i < n; i++ {
		vocab = append(vocab, fmt.Sprintf("SyntheticAction%04d", i))
	}
	var buf bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&buf, "---\nid: generated-%04d\ntitle: Generated rule %d\nseverity: low\nlog_types: [cloudtrail]\n", i, i)
		fmt.Fprintf(&buf, "when: eventName == %q && userIdentity.type == \"IAMUser\" && sourceIPAddress startsWith \"198.51.%d.\"\n", vocab[i%len(vocab)], i%256)
		fmt.Fprintf(&buf, "summary: '{{ eventName }} by {{ userIdentity.arn }}'\n")
	}
	path := filepath.Join(b.TempDir(), "generated.yaml")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	set, err := rules.LoadPaths(path)
	if err != nil {
		b.Fatal(err)
	}
	return set.Rules
}

// benchDecodeMatch measures decoding plus matching per CloudTrail event,
// with the built-in pack and extra generated rules.
func benchDecodeMatch(b *testing.B, extra int) {
	objs := demoCloudTrail(b)
	set, err := rules.Load(builtin.FS)
	if err != nil {
		b.Fatal(err)
	}
	rs := set.Rules
	if extra > 0 {
		rs = append(slices.Clone(rs), generatedRules(b, extra, objs)...)
	}
	m, err := detect.New(rs, detect.Config{})
	if err != nil {
		b.Fatal(err)
	}
	dec, err := cloudtrail.New(cloudtrail.Config{})
	if err != nil {
		b.Fatal(err)
	}
	size := 0
	for _, o := range objs {
		size += len(o)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	events := 0
	h := ingest.Handler{Event: func(ev *ingest.Event) error {
		events++
		m.Match(ev)
		return nil
	}}
	b.ResetTimer()
	for b.Loop() {
		for _, o := range objs {
			if err := dec.Decode(context.Background(), bytes.NewReader(o), "bench", h); err != nil {
				b.Fatal(err)
			}
		}
		m.Flush()
		// The detect role takes the signals after each batch; left
		// pending they would pile up to MaxPendingSignals and then be
		// dropped, which costs less than taking them.
		m.Signals()
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
}

// BenchmarkDecodeMatchBuiltin is decode + match of CloudTrail with the
// built-in rule pack.
func BenchmarkDecodeMatchBuiltin(b *testing.B) { benchDecodeMatch(b, 0) }

// BenchmarkMatchBuiltin is match only: the demo CloudTrail mix, decoded
// once before the timer starts, matched against the built-in rule pack.
func BenchmarkMatchBuiltin(b *testing.B) {
	objs := demoCloudTrail(b)
	set, err := rules.Load(builtin.FS)
	if err != nil {
		b.Fatal(err)
	}
	m, err := detect.New(set.Rules, detect.Config{})
	if err != nil {
		b.Fatal(err)
	}
	dec, err := cloudtrail.New(cloudtrail.Config{})
	if err != nil {
		b.Fatal(err)
	}
	var evs []*ingest.Event
	for _, o := range objs {
		err := dec.Decode(context.Background(), bytes.NewReader(o), "bench", ingest.Handler{Event: func(ev *ingest.Event) error {
			evs = append(evs, ev)
			return nil
		}})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, ev := range evs {
			m.Match(ev)
		}
		m.Flush()
		m.Signals()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}

// BenchmarkDecodeMatch1000Rules is the same with 1,000 generated rules
// added to the built-in pack.
func BenchmarkDecodeMatch1000Rules(b *testing.B) { benchDecodeMatch(b, 1000) }
