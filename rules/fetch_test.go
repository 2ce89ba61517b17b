package rules

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// TestCompileFastAgreesWithExpr compiles expressions with compileFast and
// with expr.Compile, the same options, and checks that both programs
// return the same values and the same errors on events of many shapes.
func TestCompileFastAgreesWithExpr(t *testing.T) {
	opts := []expr.Option{
		expr.Env(map[string]any{}),
		expr.AllowUndefinedVariables(),
		expr.Function("get", getFunc),
		expr.Patch(nilSafe{}),
	}
	exprs := []string{
		`a.b == "x"`,
		`a.b.c`,
		`a["b"].c ?? "d"`,
		`a.b[0]`,
		`a[0]`,
		`a.b.c.d == nil`,
		`len(a.b ?? [])`,
		`a.b startsWith "x"`,
		`a.b.c matches "xyz+"`,
		`a.b matches "^(Get|List)"`,
		`get(a, "b").c`,
		`(a.b ?? a).c`,
		`a.b contains "q"`,
		`all(a.l ?? [], {#.k == "v"})`,
		`any(a.l ?? [], {#.k.z == nil})`,
		`a.b + 1`,
		`a.b.c > 1`,
		`let x = a.b; x.c`,
		`a.l[1].k`,
		`{"k": a}.k.b`,
		`"s".b`,
		`toJSON(a)`,
		`toJSON(a.b ?? {})`,
		`toJSON(a) matches "xyz|typed"`,
	}
	events := []map[string]any{
		{},
		{"a": nil},
		{"a": "str"},
		{"a": 2.5},
		{"a": []any{"x", map[string]any{"k": "v"}}},
		{"a": map[string]any{"b": "xyzz"}},
		{"a": map[string]any{"b": "GetObject"}},
		{"a": map[string]any{"b": map[string]any{"c": 3.0, "d": nil}}},
		{"a": map[string]any{"b": []any{"q", 1.0}}},
		{"a": map[string]any{"b": map[string]any(nil)}},
		{"a": map[string]any{"l": []any{map[string]any{"k": "v"}, map[string]any{"k": "w"}}}},
		{"a": map[string]any{"l": []any{nil, map[string]any{"k": map[string]any{"z": 1.0}}}}},
		{"a": map[string]string{"b": "typed"}},
		{"a": map[string]any{"b": map[string]string{"c": "typed"}}},
	}
	typed, errs := 0, 0
	for _, src := range exprs {
		want, werr := expr.Compile(src, opts...)
		got, gerr := compileFast(src, opts)
		if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
			t.Errorf("%s: compile error %v, expr.Compile %v", src, gerr, werr)
			continue
		}
		if werr != nil {
			continue
		}
		typed += strings.Count(got.Disassemble(), "OpCallTyped")
		for _, ev := range events {
			w, we := run(want, ev)
			g, ge := run(got, ev)
			if we != nil {
				errs++
			}
			if fmt.Sprint(we) != fmt.Sprint(ge) || !reflect.DeepEqual(w, g) {
				t.Errorf("%s on %v: %#v, %v; expr.Compile %#v, %v", src, ev, g, ge, w, we)
			}
		}
	}
	if errs == 0 {
		t.Error("no expression failed: errors were not compared")
	}
	if typed < len(exprs)/2 {
		t.Errorf("only %d member accesses and matches were rewritten", typed)
	}
}

func run(p *vm.Program, env map[string]any) (any, error) {
	var m vm.VM
	return m.Run(p, env)
}
