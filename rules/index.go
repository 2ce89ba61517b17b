package rules

import (
	"slices"

	"github.com/expr-lang/expr/ast"
)

// IndexFields are the top-level fields whose equality constraints a
// matcher may index, in order of preference (the most selective first).
var IndexFields = []string{"eventName", "verb", "syscall", "eventSource", "type"}

// Constraint says that a rule can only match events whose top-level Field
// is a string equal to one of Values.
type Constraint struct {
	Field  string
	Values []string
}

// Constraint returns the equality constraint that the rule's when
// expression (after macro expansion) places on one of IndexFields: a
// top-level conjunct field == "const", field in ["c1", "c2"], or a
// disjunction whose every branch is constrained so on the same field (the
// branches may be conjunctions, as the steps of a sequence are): the field
// must then equal a value of any branch. When several fields are
// constrained, the first in IndexFields order wins. ok is false when the
// expression has no such conjunct.
func (r *Rule) Constraint() (c Constraint, ok bool) {
	if r.program == nil {
		return Constraint{}, false
	}
	found := constraints(r.program.Node())
	for _, f := range IndexFields {
		if vals, ok := found[f]; ok {
			vals = slices.Clone(vals)
			slices.Sort(vals)
			return Constraint{Field: f, Values: slices.Compact(vals)}, true
		}
	}
	return Constraint{}, false
}

// constraints returns, for each field of IndexFields that n constrains, the
// values of which the field must equal one (as a string) for n to be true:
// the constraint of the first conjunct of n that constrains it.
func constraints(n ast.Node) map[string][]string {
	found := map[string][]string{}
	for _, c := range conjuncts(n, nil) {
		for f, vals := range conjunctConstraints(c) {
			if _, dup := found[f]; !dup {
				found[f] = vals
			}
		}
	}
	return found
}

// conjunctConstraints returns the constraints of one conjunct: an equality,
// or a disjunction, for the fields that both of its branches constrain (to
// the union of their values). nil when there are none.
func conjunctConstraints(n ast.Node) map[string][]string {
	if f, vals, ok := equality(n); ok {
		return map[string][]string{f: vals}
	}
	b, ok := n.(*ast.BinaryNode)
	if !ok || b.Operator != "||" && b.Operator != "or" {
		return nil
	}
	l, r := constraints(b.Left), constraints(b.Right)
	var out map[string][]string
	for f, lv := range l {
		rv, ok := r[f]
		if !ok {
			continue
		}
		vals := append(slices.Clone(lv), rv...)
		slices.Sort(vals)
		if out == nil {
			out = map[string][]string{}
		}
		out[f] = slices.Compact(vals)
	}
	return out
}

// conjuncts flattens the top-level && (and) operators.
func conjuncts(n ast.Node, out []ast.Node) []ast.Node {
	if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "&&" || b.Operator == "and") {
		return conjuncts(b.Right, conjuncts(b.Left, out))
	}
	return append(out, n)
}

// equality recognises field == "v", "v" == field and field in [...].
func equality(n ast.Node) (string, []string, bool) {
	b, ok := n.(*ast.BinaryNode)
	if !ok {
		return "", nil, false
	}
	switch b.Operator {
	case "==":
		if f, ok := indexIdent(b.Left); ok {
			if s, ok := b.Right.(*ast.StringNode); ok {
				return f, []string{s.Value}, true
			}
		}
		if f, ok := indexIdent(b.Right); ok {
			if s, ok := b.Left.(*ast.StringNode); ok {
				return f, []string{s.Value}, true
			}
		}
	case "in":
		f, ok := indexIdent(b.Left)
		if !ok {
			return "", nil, false
		}
		switch r := b.Right.(type) {
		case *ast.ArrayNode:
			vals := make([]string, 0, len(r.Nodes))
			for _, e := range r.Nodes {
				s, ok := e.(*ast.StringNode)
				if !ok {
					return "", nil, false
				}
				vals = append(vals, s.Value)
			}
			return f, vals, len(vals) > 0
		case *ast.ConstantNode:
			m, ok := r.Value.(map[string]struct{})
			if !ok || len(m) == 0 {
				return "", nil, false
			}
			vals := make([]string, 0, len(m))
			for k := range m {
				vals = append(vals, k)
			}
			slices.Sort(vals)
			return f, vals, true
		}
	}
	return "", nil, false
}

func indexIdent(n ast.Node) (string, bool) {
	id, ok := n.(*ast.IdentifierNode)
	if ok && slices.Contains(IndexFields, id.Value) {
		return id.Value, true
	}
	return "", false
}
