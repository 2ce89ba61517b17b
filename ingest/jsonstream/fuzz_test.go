package jsonstream

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
)

// fuzzCap is the record cap under fuzzing, small so that the cap is hit.
const fuzzCap = 256

func FuzzSplit(f *testing.F) {
	for _, tc := range splitTests {
		f.Add([]byte(tc.in))
	}
	f.Add([]byte("{\n\"Records\": [\n{\"a\": \"\\\\\"},\n{\"b\" : [ 1 , 2 ]}\n]\n}"))
	f.Add([]byte(`{"items":[{"a":"\u00e9\ud800"}]}` + "\n" + `{"a":1e999}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		c := Config{Containers: testContainers, MaxRecordBytes: fuzzCap}
		err := Split(context.Background(), bytes.NewReader(in), c, Handler{
			Record: func(r *Record) error {
				if r.Offset < 0 || r.Offset >= int64(len(in)) || r.Line < 0 {
					t.Fatalf("record at offset %d line %d of %d bytes", r.Offset, r.Line, len(in))
				}
				if r.Container != logEvents && !bytes.HasPrefix(in[r.Offset:], r.data) {
					t.Fatalf("record %q is not the input at its offset %d", r.data, r.Offset)
				}
				if len(r.Raw) == 0 || r.Raw[0] != '{' {
					t.Fatalf("record %q is not an object", r.Raw)
				}
				if json.Valid(r.data) {
					var want bytes.Buffer
					if err := json.Compact(&want, r.data); err != nil || !bytes.Equal(r.Raw, want.Bytes()) {
						t.Fatalf("Raw %q of %q, want %q", r.Raw, r.data, want.Bytes())
					}
				}
				if _, err := r.Object(); err == nil && !json.Valid(r.Raw) {
					t.Fatalf("decoded invalid JSON %q", r.Raw)
				}
				return nil
			},
			Bad: func(off int64, line int, err error) {
				if err == nil || off < 0 || off > int64(len(in)) || line < 0 {
					t.Fatalf("bad record at offset %d line %d: %v", off, line, err)
				}
			},
		})
		if err != nil {
			t.Fatalf("Split of bytes returned %v", err)
		}
	})
}
