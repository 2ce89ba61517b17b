package cloudtrail

import (
	"bytes"
	"context"
	"encoding/json"
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
	joined := bytes.Join(recs, []byte(","))
	f.Add([]byte(`{"Records":[` + string(joined) + `]}`))
	f.Add([]byte(`{"Records":[` + string(joined[:len(joined)/2])))
	f.Add([]byte("[" + string(joined) + "]"))
	f.Add(envelope(f, "DATA_MESSAGE", recs))
	f.Add(envelope(f, "CONTROL_MESSAGE", recs[:1]))
	f.Add([]byte(`{"Records":[1,"x",null,{"eventName":5},{]}`))
	f.Add([]byte("{\"eventTime\":\"2022-11-29 00:09:04.38\",\"eventName\":\"x\"}\n{\n\"a\""))
	for _, r := range corpusRecords(f, "log", corpus.Path(f, "panther-analysis", "tests_cloudtrail.ndjson")) {
		f.Add(r)
	}
	for _, r := range corpusRecords(f, "", corpus.Path(f, "otrf-security-datasets", "aws_cloudtrail_ec2_proxy_s3_exfiltration_2020-09-14011940.ndjson")) {
		f.Add(r)
	}
	for _, r := range corpusRecords(f, "event", corpus.Path(f, "aws-docs-cloudtrail", "aws_docs_cloudtrail_examples.ndjson")) {
		f.Add([]byte(`{"Records":[` + string(r) + `]}`))
	}
	d, err := New(Config{Limits: ingest.Limits{MaxRecordBytes: fuzzCap}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		err := d.Decode(context.Background(), bytes.NewReader(in), "fuzz", ingest.Handler{
			Event: func(e *ingest.Event) error {
				if e.ID == "" || e.Type != ingest.TypeCloudTrail || e.Fields == nil || e.Time.Location() != time.UTC {
					t.Fatalf("incomplete event %+v", e)
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
