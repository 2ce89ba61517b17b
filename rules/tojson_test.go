package rules

import (
	"encoding/json"
	"math"
	"testing"
)

func TestToJSONAsEncodingJSON(t *testing.T) {
	values := []any{
		nil, true, false, "", "plain", `q"uo\te`, "<b>&", "tab\there", "ünï", "\u2028", "\x7f", "bad\xff",
		0.0, math.Copysign(0, -1), 1.0, -2.5, 0.1, 1e20, 1e21, 1e-6, 1e-7, 123456789012345678.0, 5e-324, math.MaxFloat64,
		math.NaN(), math.Inf(1), 3, int64(4),
		[]any{}, []any(nil), map[string]any{}, map[string]any(nil),
		[]any{1.0, "a", nil, []any{}, map[string]any{}},
		map[string]any{"b": 1.0, "a": []any{map[string]any{"z": true, "y": nil}}, "<": "x", "": "empty"},
		map[string]any{"k": map[string]string{"typed": "map"}},
	}
	for _, v := range values {
		want, werr := json.MarshalIndent(v, "", "  ")
		got, gerr := func() (s string, err error) {
			defer func() {
				if p := recover(); p != nil {
					err = p.(error)
				}
			}()
			return toJSON(v), nil
		}()
		if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
			t.Errorf("%#v: error %v, encoding/json %v", v, gerr, werr)
			continue
		}
		if werr == nil && got != string(want) {
			t.Errorf("%#v:\n%s\nencoding/json:\n%s", v, got, want)
		}
	}
}

// FuzzToJSON checks toJSON against encoding/json on decoded JSON.
func FuzzToJSON(f *testing.F) {
	for _, s := range []string{
		`{"requestParameters":{"bucketName":"b","AccessControlPolicy":{"Grant":[{"Grantee":{"URI":"http://acs.amazonaws.com/groups/global/AllUsers"}}]}}}`,
		`[1, 2.5, -0, 1e21, 1e-7, "x\"y", "<&>", null, true, {}]`,
		`{"a":{"b":{"c":[[],[{}]]}},"e":"\u00e9\u2028\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if json.Unmarshal(data, &v) != nil {
			return
		}
		want, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return
		}
		if got := toJSON(v); got != string(want) {
			t.Fatalf("%s:\n%s\nencoding/json:\n%s", data, got, want)
		}
	})
}
