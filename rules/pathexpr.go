package rules

import (
	"strings"

	"github.com/expr-lang/expr/ast"
)

// pathExpr is a compiled expression that only reads field paths: a path
// a.b["c"] rooted at a top-level field, or such paths joined by ??. Group
// keys and correlate fields are mostly of this form, and following the
// paths through the event's maps is much cheaper than running the program.
// Whatever the walk cannot answer exactly as the program would (a level
// that is neither a map nor nil, a value other than a scalar) makes eval
// give up, and the caller runs the program, so that results and errors
// stay the program's.
type pathExpr [][]string

// pathExprOf returns the paths of a compiled expression tree of that form
// (alternatives in order), or nil.
func pathExprOf(n ast.Node) pathExpr {
	if b, ok := n.(*ast.BinaryNode); ok {
		if b.Operator != "??" {
			return nil
		}
		l, r := pathExprOf(b.Left), pathExprOf(b.Right)
		if l == nil || r == nil {
			return nil
		}
		return append(l, r...)
	}
	p := plainPath(n)
	if p == nil {
		return nil
	}
	return pathExpr{p}
}

// plainPath returns the path of a chain of constant member accesses rooted
// at a field identifier, or nil.
func plainPath(n ast.Node) []string {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		if x.Value == "" || strings.HasPrefix(x.Value, "$") {
			return nil // $env and the like are not fields
		}
		return []string{x.Value}
	case *ast.ChainNode:
		return plainPath(x.Node)
	case *ast.MemberNode:
		if x.Method {
			return nil
		}
		return plainPathOf(x.Node, x.Property)
	case *ast.CallNode:
		if base, key, ok := fetchArgs(x); ok {
			return plainPathOf(base, key)
		}
	}
	return nil
}

// plainPathOf returns the path of base.key, or nil.
func plainPathOf(base, key ast.Node) []string {
	s, ok := key.(*ast.StringNode)
	if !ok {
		return nil
	}
	p := plainPath(base)
	if p == nil {
		return nil
	}
	return append(p, s.Value)
}

// eval returns the expression's value on an event's fields, with ok set,
// or ok false when the program must be run instead (always for an
// expression not of that form). Like the program (whose
// member accesses are all optional, see nilSafe), a missing level yields
// nil, and ?? takes the first value that is not nil.
func (p pathExpr) eval(fields map[string]any) (v any, ok bool) {
	if len(p) == 0 {
		return nil, false // not of that form
	}
	for _, path := range p {
		v = fields[path[0]]
		for _, k := range path[1:] {
			if v == nil {
				break
			}
			m, isMap := v.(map[string]any)
			if !isMap {
				return nil, false
			}
			v = m[k]
		}
		switch v.(type) {
		case nil:
			continue
		case string, float64, bool, int, int64:
			return v, true
		default:
			return nil, false
		}
	}
	return nil, true
}
