package k8saudit

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/corpus"
)

// fuzzCap is the record cap under fuzzing, small so that the cap is hit.
const fuzzCap = 4096

func FuzzDecode(f *testing.F) {
	recs := fixture(f)
	for _, r := range recs {
		f.Add(r)
	}
	joined := string(bytes.Join(recs, []byte(",")))
	f.Add([]byte(`{"kind":"EventList","items":[` + joined + `]}`))
	f.Add([]byte(`{"kind":"EventList","items":[` + joined[:len(joined)/2]))
	f.Add([]byte("[" + joined + "]"))
	f.Add(envelope(f, "DATA_MESSAGE", recs))
	f.Add([]byte(`{"kind":0}`))
	f.Add([]byte(`{"items":[1,"x",null,{"kind":0},{]}`))
	for _, r := range corpusLines(f, "log", corpus.Path(f, "panther-analysis", "tests_k8s_audit_eks.ndjson")) {
		f.Add(r)
	}
	for _, file := range falcoTraces(f) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	d, err := New(Config{Limits: ingest.Limits{MaxRecordBytes: fuzzCap}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		err := d.Decode(context.Background(), bytes.NewReader(in), "fuzz", ingest.Handler{
			Event: func(e *ingest.Event) error {
				if e.ID == "" || e.Type != ingest.TypeK8sAudit || e.Fields == nil || e.Time.Location() != time.UTC {
					t.Fatalf("incomplete event %+v", e)
				}
				if k, ok := e.Fields["kind"]; ok && k != "Event" {
					t.Fatalf("emitted an event of kind %v", k)
				}
				if !json.Valid(e.Raw) || bytes.ContainsAny(e.Raw, "\n") {
					t.Fatalf("Raw is not compact JSON: %q", e.Raw)
				}
				return nil
			},
			Bad: func(e *ingest.DecodeError) {
				if e.Err == nil || e.Line < 0 || e.Offset < 0 || e.Offset > int64(len(in)) {
					t.Fatalf("bad position: %+v", e)
				}
			},
		})
		if err != nil {
			t.Fatalf("Decode of bytes returned %v", err)
		}
	})
}
