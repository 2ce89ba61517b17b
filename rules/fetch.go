package rules

import (
	"reflect"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm/runtime"
)

// fetchValue reads key from the map or value from: the member access a.b
// (or a["b"], a[0]) of a chain made nil-safe by nilSafe. A map decoded
// from JSON is read directly; a nil from yields nil, as the optional
// access does; anything else goes through expr's own Fetch, which the
// virtual machine would have called, so that results and errors do not
// change. expr's Fetch reaches into a map by reflection, which cost about
// a tenth of the evaluation time of the built-in pack.
func fetchValue(from, key any) any {
	if m, ok := from.(map[string]any); ok {
		if k, ok := key.(string); ok {
			return m[k]
		}
	}
	if runtime.IsNil(from) {
		return nil
	}
	return runtime.Fetch(from, key)
}

// fetchPtr identifies fetchValue among constants.
var fetchPtr = reflect.ValueOf(fetchValue).Pointer()

// fastFetch rewrites the member accesses of a nil-safe chain into calls of
// fetchValue, which the virtual machine makes without reflection or
// allocation (its signature is one of those it calls directly). It runs on
// the checked and optimized tree (see compileFast). A chain is rewritten
// only when all of its accesses have a constant key and a base of unknown
// type: evaluating a constant key cannot fail, so a call made on a nil base
// (which the chain would have skipped) only passes nil on, and accesses to
// values of a known type (which the compiler may read as struct fields)
// stay the compiler's.
type fastFetch struct{}

func (fastFetch) Visit(node *ast.Node) {
	ch, ok := (*node).(*ast.ChainNode)
	if !ok {
		return
	}
	var members []*ast.MemberNode
	n := ch.Node
	for {
		m, ok := n.(*ast.MemberNode)
		if !ok {
			break
		}
		if m.Method || !constantKey(m.Property) || !unknownType(m.Node) {
			return
		}
		members = append(members, m)
		n = m.Node
	}
	if len(members) == 0 {
		return
	}
	base := n
	for i := len(members) - 1; i >= 0; i-- {
		base = typedCall(fetchValue, members[i], base, members[i].Property)
	}
	ch.Node = base
}

// constantKey reports a string or integer constant.
func constantKey(n ast.Node) bool {
	switch n.(type) {
	case *ast.StringNode, *ast.IntegerNode:
		return true
	}
	return false
}

// unknownType reports a node whose type the checker does not know.
func unknownType(n ast.Node) bool {
	t := n.Type()
	return t == nil || t.Kind() == reflect.Interface
}

// fetchArgs returns the base and key of a call made by fastFetch.
func fetchArgs(n ast.Node) (base, key ast.Node, ok bool) {
	c, isCall := n.(*ast.CallNode)
	if !isCall || len(c.Arguments) != 2 {
		return nil, nil, false
	}
	k, isConst := c.Callee.(*ast.ConstantNode)
	if !isConst {
		return nil, nil, false
	}
	if f, isFunc := k.Value.(func(any, any) any); !isFunc || reflect.ValueOf(f).Pointer() != fetchPtr {
		return nil, nil, false
	}
	return c.Arguments[0], c.Arguments[1], true
}
