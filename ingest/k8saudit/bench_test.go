package k8saudit

import (
	"bytes"
	"context"
	"testing"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/corpus"
)

// benchMix returns the corpus audit events: EKS rule test cases and the
// falco traces, without the malformed one.
func benchMix(b *testing.B) [][]byte {
	mix := corpusLines(b, "log", corpus.Path(b, "panther-analysis", "tests_k8s_audit_eks.ndjson"))
	for _, f := range falcoTraces(b) {
		for _, l := range corpusLines(b, "", f) {
			if !bytes.Equal(l, []byte(`{"kind": 0}`)) && !bytes.Equal(l, []byte(`{"kind":0}`)) {
				mix = append(mix, l)
			}
		}
	}
	return mix
}

func benchDecode(b *testing.B, in []byte, want int) {
	d, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	h := ingest.Handler{Event: func(*ingest.Event) error { n++; return nil }}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(context.Background(), bytes.NewReader(in), "bench", h); err != nil {
			b.Fatal(err)
		}
	}
	if n != want*b.N {
		b.Fatalf("decoded %d events, want %d", n, want*b.N)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkDecodeNDJSON(b *testing.B) {
	mix := benchMix(b)
	benchDecode(b, bytes.Join(mix, []byte("\n")), len(mix))
}

func BenchmarkDecodeEventList(b *testing.B) {
	mix := benchMix(b)
	benchDecode(b, []byte(`{"kind":"EventList","items":[`+string(bytes.Join(mix, []byte(",")))+`]}`), len(mix))
}

func BenchmarkDecodeCloudWatch(b *testing.B) {
	mix := benchMix(b)
	benchDecode(b, envelope(b, "DATA_MESSAGE", mix), len(mix))
}
