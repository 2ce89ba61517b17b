package jsonstream

import (
	"fmt"

	json "github.com/goccy/go-json"
)

// Object decodes the record into a map: numbers are float64, nested
// objects and arrays map[string]any and []any. A decoder panic on hostile
// input is returned as an error.
//
// The strings of the map may share memory with Raw, which must therefore
// not be modified: a record is decoded from its Raw bytes when they are
// the bytes as found, and strings without escapes refer to them instead of
// being copied, which saves an allocation per string. A record that was
// compacted is decoded from the bytes as found (so that a syntax error is
// reported as in them), its strings copied.
func (r *Record) Object() (map[string]any, error) {
	var m map[string]any
	var err error
	if r.spaced {
		err = unmarshal(r.data, &m)
	} else {
		err = unmarshal(r.Raw, &m, json.DecodeNoCopyString())
	}
	return m, err
}

// unmarshal decodes JSON b into *v, turning a panic of the decoder on
// hostile input into an error. It uses json.UnmarshalOf, whose v does not
// escape to the heap.
func unmarshal[T any](b []byte, v *T, opts ...json.DecodeOptionFunc) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("invalid JSON: decoder panic: %v", p)
		}
	}()
	return json.UnmarshalOf(b, v, opts...)
}
