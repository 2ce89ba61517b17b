package rules

import (
	"reflect"
	"testing"
)

// TestPathExprAgreesWithProgram checks that the path shortcut of key and
// field expressions returns what the program returns whenever it answers,
// and that it answers for the usual events.
func TestPathExprAgreesWithProgram(t *testing.T) {
	set := &Set{Macros: map[string]*Macro{}, Lists: map[string]*List{}}
	exprs := []struct {
		src  string
		path bool // of the path form
	}{
		{"a", true},
		{"a.b", true},
		{`a["b"]`, true},
		{"a.b.c", true},
		{"a.b ?? d", true},
		{"a.b.c ?? a.b ?? d", true},
		{`a.b ?? "x"`, false},
		{"a[0]", false},
		{"lower(a)", false},
		{"$env.a", false},
		{"a.b + d", false},
	}
	events := []map[string]any{
		{},
		{"a": nil},
		{"a": "s", "d": 1.5},
		{"a": map[string]any{"b": "v"}},
		{"a": map[string]any{"b": map[string]any{"c": true}}, "d": "dv"},
		{"a": map[string]any{"b": map[string]any{}}, "d": "dv"},
		{"a": map[string]any{"b": []any{"x"}}, "d": "dv"},
		{"a": map[string]any(nil), "d": "dv"},
		{"a": []any{map[string]any{"b": "v"}}},
		{"a": map[string]any{"b": 3}},
		{"a": map[string]any{"b": map[string]string{"c": "typed"}}},
		{"a": map[string]any{"b": nil}, "d": nil},
	}
	for _, e := range exprs {
		c, err := compileAny(e.src, set, nil, false)
		if err != nil {
			t.Fatalf("%s: %v", e.src, err)
		}
		pe := pathExprOf(c.program.Node())
		if (pe != nil) != e.path {
			t.Errorf("%s: path form %v, want %v", e.src, pe != nil, e.path)
		}
		answered := 0
		for _, ev := range events {
			got, ok := pe.eval(ev)
			if !ok {
				continue
			}
			answered++
			want, err := runProgram(c.program, ev)
			if err != nil {
				t.Errorf("%s on %v: shortcut answered %v, program failed: %v", e.src, ev, got, err)
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s on %v: shortcut %#v, program %#v", e.src, ev, got, want)
			}
		}
		if e.path && answered < 3 {
			t.Errorf("%s: shortcut answered %d of %d events", e.src, answered, len(events))
		}
	}
}
