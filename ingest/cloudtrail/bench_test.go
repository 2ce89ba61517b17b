package cloudtrail

import (
	"bytes"
	"context"
	"testing"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/corpus"
)

// benchMix returns the corpus records that are CloudTrail: documented
// examples, rule test cases and a recorded attack.
func benchMix(b *testing.B) [][]byte {
	var mix [][]byte
	add := func(recs [][]byte) {
		for _, r := range recs {
			if hasRecordKey(b, r) {
				mix = append(mix, r)
			}
		}
	}
	add(corpusRecords(b, "log", corpus.Path(b, "panther-analysis", "tests_cloudtrail.ndjson")))
	add(corpusRecords(b, "event", corpus.Path(b, "aws-docs-cloudtrail", "aws_docs_cloudtrail_examples.ndjson")))
	add(corpusRecords(b, "", corpus.Path(b, "otrf-security-datasets", "aws_cloudtrail_ec2_proxy_s3_exfiltration_2020-09-14011940.ndjson")))
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

func BenchmarkDecodeRecords(b *testing.B) {
	mix := benchMix(b)
	in := []byte(`{"Records":[` + string(bytes.Join(mix, []byte(","))) + `]}`)
	benchDecode(b, in, len(mix))
}

func BenchmarkDecodeNDJSON(b *testing.B) {
	mix := benchMix(b)
	benchDecode(b, bytes.Join(mix, []byte("\n")), len(mix))
}
