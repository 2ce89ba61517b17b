package vpcflow

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/ingest"
)

// FuzzDecode checks that no input crashes the decoder and that every event
// and bad record it produces is well formed.
func FuzzDecode(f *testing.F) {
	for _, ex := range readDocExamples(f) {
		f.Add([]byte(ex.Record))
		f.Add([]byte(ex.Format + "\n" + ex.Record + "\r\n"))
	}
	for _, l := range scenarioLines(f) {
		f.Add([]byte(l))
	}
	own, err := filepath.Glob("testdata/*.log")
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range own {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("\xef\xbb\xbf#\n\x00 - # -\n${version} ${srcaddr}\n2 ::1\n"))
	decoders := []*Decoder{}
	for _, c := range []Config{{}, {Format: v5Format}, {Limits: ingest.Limits{MaxRecordBytes: 64}}} {
		d, err := New(c)
		if err != nil {
			f.Fatal(err)
		}
		decoders = append(decoders, d)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		nlines := bytes.Count(in, []byte("\n")) + 1
		for _, d := range decoders {
			var events, bad int
			err := d.Decode(context.Background(), bytes.NewReader(in), "fuzz", ingest.Handler{
				Event: func(e *ingest.Event) error {
					events++
					if e.ID == "" || e.Type != ingest.TypeVPCFlow || e.Source != "fuzz" || len(e.Raw) == 0 {
						t.Fatalf("malformed event %+v", e)
					}
					if e.Time.Location() != nil && e.Time.Location().String() != "UTC" {
						t.Fatalf("time %v not in UTC", e.Time)
					}
					if !bytes.Contains(in, e.Raw) {
						t.Fatalf("Raw %q is not from the input", e.Raw)
					}
					for k, v := range e.Fields {
						switch v := v.(type) {
						case int:
						case string:
							if v == "-" || v == "" || strings.ContainsAny(v, " \t") {
								t.Fatalf("field %s = %q", k, v)
							}
						default:
							t.Fatalf("field %s has type %T", k, v)
						}
					}
					return nil
				},
				Bad: func(e *ingest.DecodeError) {
					bad++
					if e.Line < 1 || e.Line > nlines || e.Source != "fuzz" || e.Err == nil {
						t.Fatalf("malformed bad record %+v", e)
					}
				},
			})
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if events+bad > nlines {
				t.Fatalf("%d events and %d bad records from %d lines", events, bad, nlines)
			}
		}
		Sniff(in)
	})
}
