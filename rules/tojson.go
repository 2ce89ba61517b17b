package rules

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"

	"github.com/expr-lang/expr/ast"
)

// fastToJSON rewrites calls of the toJSON builtin into typed calls of
// toJSON, which writes the values an event is made of (maps, lists,
// strings, numbers, booleans, nil) without reflection, byte for byte as the
// builtin (json.MarshalIndent with two spaces) does, and leaves anything
// else to the builtin's encoder.
type fastToJSON struct{}

func (fastToJSON) Visit(node *ast.Node) {
	b, ok := (*node).(*ast.BuiltinNode)
	if !ok || b.Name != "toJSON" || len(b.Arguments) != 1 {
		return
	}
	*node = typedCall(toJSON, b, b.Arguments...)
}

// toJSON implements toJSON(v). An error of the encoder is raised as the
// builtin's is (the virtual machine turns it into the evaluation's error).
func toJSON(v any) string {
	if b, ok := appendJSON(make([]byte, 0, 256), v, 0); ok {
		return string(b)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	return string(b)
}

// maxJSONDepth bounds the nesting appendJSON writes itself.
const maxJSONDepth = 200

// appendJSON appends v as json.MarshalIndent(v, "", "  ") writes it at
// nesting depth, or returns ok false for a value it leaves to
// encoding/json: another type, a NaN or infinite number, a string with
// other than printable ASCII, or one with <, > or & (which encoding/json
// escapes).
func appendJSON(b []byte, v any, depth int) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), true
	case bool:
		return strconv.AppendBool(b, x), true
	case string:
		return appendJSONString(b, x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return b, false
		}
		format := byte('f')
		if abs := math.Abs(x); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
			format = 'e'
		}
		b = strconv.AppendFloat(b, x, format, -1, 64)
		if format == 'e' {
			// as encoding/json: e-09 becomes e-9
			if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
				b[n-2] = b[n-1]
				b = b[:n-1]
			}
		}
		return b, true
	case int:
		return strconv.AppendInt(b, int64(x), 10), true
	case []any:
		if x == nil {
			return append(b, "null"...), true
		}
		if len(x) == 0 {
			return append(b, "[]"...), true
		}
		if depth >= maxJSONDepth {
			return b, false
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendIndent(b, depth+1)
			var ok bool
			if b, ok = appendJSON(b, e, depth+1); !ok {
				return b, false
			}
		}
		return append(appendIndent(b, depth), ']'), true
	case map[string]any:
		if x == nil {
			return append(b, "null"...), true
		}
		if len(x) == 0 {
			return append(b, "{}"...), true
		}
		if depth >= maxJSONDepth {
			return b, false
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendIndent(b, depth+1)
			var ok bool
			if b, ok = appendJSONString(b, k); !ok {
				return b, false
			}
			b = append(b, ':', ' ')
			if b, ok = appendJSON(b, x[k], depth+1); !ok {
				return b, false
			}
		}
		return append(appendIndent(b, depth), '}'), true
	}
	return b, false
}

// appendIndent starts a new line indented for depth.
func appendIndent(b []byte, depth int) []byte {
	b = append(b, '\n')
	for range depth {
		b = append(b, ' ', ' ')
	}
	return b
}

// appendJSONString appends s quoted, or returns ok false when s has a byte
// that encoding/json would write otherwise than appendJSONString does.
func appendJSONString(b []byte, s string) ([]byte, bool) {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, s[start:i]...)
			b = append(b, '\\', c)
			start = i + 1
		case c < 0x20 || c > 0x7e || c == '<' || c == '>' || c == '&':
			return b, false
		}
	}
	b = append(b, s[start:]...)
	return append(b, '"'), true
}
