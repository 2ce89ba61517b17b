package rules

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"
)

// fieldRef is an event field path a rule's expression reads.
type fieldRef struct {
	path []string
}

// collectFields returns the field paths an expression tree reads: top-level
// identifiers and chains of constant member accesses rooted at one.
// Variables bound by let and predicate pointers are not fields.
func collectFields(n ast.Node) []fieldRef {
	v := &fieldVisitor{seen: map[string]bool{}, lets: map[string]bool{}}
	ast.Walk(&n, v)
	var out []fieldRef
	for _, f := range v.refs {
		if !v.lets[f.path[0]] {
			out = append(out, f)
		}
	}
	return out
}

type fieldVisitor struct {
	refs []fieldRef
	seen map[string]bool
	lets map[string]bool
}

func (v *fieldVisitor) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.VariableDeclaratorNode:
		v.lets[n.Name] = true
	case *ast.CallNode:
		if _, _, ok := fetchArgs(n); ok {
			v.record(n) // a member access (see fastFetch)
			return
		}
		// the callee is a function, not a field: drop it if it was recorded
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			v.refs = slices.DeleteFunc(v.refs, func(f fieldRef) bool {
				return len(f.path) == 1 && f.path[0] == id.Value
			})
			delete(v.seen, id.Value)
		}
	case *ast.IdentifierNode, *ast.MemberNode:
		v.record(n)
	}
}

// record records the path of n, when it is one.
func (v *fieldVisitor) record(n ast.Node) {
	if p := memberPath(n); p != nil {
		k := strings.Join(p, ".")
		if !v.seen[k] {
			v.seen[k] = true
			v.refs = append(v.refs, fieldRef{path: p})
		}
	}
}

// memberPath returns the path of a chain a.b["c"] rooted at an identifier,
// or nil.
func memberPath(n ast.Node) []string {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		return []string{x.Value}
	case *ast.ChainNode:
		return memberPath(x.Node)
	case *ast.MemberNode:
		return memberPathOf(x.Node, x.Property)
	case *ast.CallNode:
		if base, key, ok := fetchArgs(x); ok {
			return memberPathOf(base, key)
		}
	}
	return nil
}

// memberPathOf returns the path of base.key, or nil.
func memberPathOf(base, key ast.Node) []string {
	s, ok := key.(*ast.StringNode)
	if !ok {
		return nil
	}
	p := memberPath(base)
	if p == nil {
		return nil
	}
	return append(p, s.Value)
}

// GroupKey returns the alert group key of an event: the GroupBy paths and
// their values, "path=value" joined by commas, in GroupBy order; "" when
// the rule has no group_by (and no suppress).
func (r *Rule) GroupKey(fields map[string]any) string {
	var b strings.Builder
	for i, p := range r.grpKey {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.name)
		b.WriteByte('=')
		if v, err := p.value(fields); err == nil && v != nil {
			b.WriteString(valueText(v))
		}
	}
	return b.String()
}

// SuppressKey returns the suppression key of an event, formatted like
// GroupKey over Suppress.Key; "" when the rule has no suppress block.
func (r *Rule) SuppressKey(fields map[string]any) string {
	if r.Suppress == nil {
		return ""
	}
	return joinKey(r.Suppress.Key, r.keyPaths, fields)
}

func joinKey(names []string, paths [][]string, fields map[string]any) string {
	var b strings.Builder
	for i, p := range paths {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(names[i])
		b.WriteByte('=')
		v := lookup(fields, p)
		if v == nil {
			continue
		}
		if s, ok := stringify(v); ok {
			b.WriteString(s)
		} else if js, err := json.Marshal(v); err == nil {
			b.Write(js)
		}
	}
	return b.String()
}
