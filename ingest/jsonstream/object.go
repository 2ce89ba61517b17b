package jsonstream

import (
	"fmt"

	json "github.com/goccy/go-json"
)

// Object decodes the record into a map: numbers are float64, nested
// objects and arrays map[string]any and []any. A decoder panic on hostile
// input is returned as an error.
func (r *Record) Object() (map[string]any, error) {
	var m map[string]any
	err := unmarshal(r.data, &m)
	return m, err
}

// unmarshal decodes JSON b into v, turning a panic of the decoder on
// hostile input into an error.
func unmarshal(b []byte, v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("invalid JSON: decoder panic: %v", p)
		}
	}()
	return json.Unmarshal(b, v)
}
