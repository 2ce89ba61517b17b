package rules

import (
	"reflect"
	"regexp/syntax"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
)

// maxPrefilterLiterals caps the literals a prefilter tests, and
// minPrefilterLiteral is the length of the shortest one: shorter literals
// are in too many strings to be worth a test.
const (
	maxPrefilterLiterals = 16
	minPrefilterLiteral  = 3
)

// prefilter rewrites x matches "pattern", when every match of the pattern
// contains one of a few literals (see regexLiterals), into
// prefilter(x, literals) matches "pattern": prefilterFunc hands x on when
// it contains one of the literals, else the empty string, which the pattern
// cannot match. The result of matches is the same, but a string that
// contains none of the literals costs a few substring searches instead of
// a run of the regexp. It runs after type checking has typed the tree, and
// leaves alone a left side whose type is known not to be a string, so that
// compile errors do not change. The call is to a constant function of a
// signature the virtual machine calls directly, which a rule cannot spell.
type prefilter struct{}

func (prefilter) Visit(node *ast.Node) {
	b, ok := (*node).(*ast.BinaryNode)
	if !ok || b.Operator != "matches" {
		return
	}
	s, ok := b.Right.(*ast.StringNode)
	if !ok {
		return
	}
	if t := b.Left.Type(); t != nil && t.Kind() != reflect.Interface && t.Kind() != reflect.String {
		return
	}
	lits := regexLiterals(s.Value)
	if lits == nil {
		return
	}
	b.Left = typedCall(prefilterFunc, b.Left, b.Left, &ast.ConstantNode{Value: lits})
}

// typedCall returns the call fn(args...), located and typed as like (so
// that the nodes around it compile as they did around like). fn must have
// a signature the virtual machine calls directly, as func(any, any) any
// and func(any) string do.
func typedCall(fn any, like ast.Node, args ...ast.Node) ast.Node {
	callee := &ast.ConstantNode{Value: fn}
	callee.SetType(reflect.TypeOf(fn))
	call := &ast.CallNode{Callee: callee, Arguments: args}
	call.SetLocation(like.Location())
	call.SetType(like.Type())
	return call
}

// prefilterFunc implements prefilter(x, literals): x when it is not a
// string or contains one of literals, else "".
func prefilterFunc(x, literals any) any {
	s, ok := x.(string)
	if !ok {
		return x
	}
	for _, l := range literals.([]string) {
		if strings.Contains(s, l) {
			return s
		}
	}
	return ""
}

// regexLiterals returns strings of which every match of the RE2 pattern
// contains at least one, or nil when it knows none worth testing (more than
// maxPrefilterLiterals, or one shorter than minPrefilterLiteral).
func regexLiterals(pattern string) []string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	lits := requiredLiterals(re)
	if len(lits) == 0 || len(lits) > maxPrefilterLiterals || shortest(lits) < minPrefilterLiteral {
		return nil
	}
	return lits
}

// requiredLiterals returns literals of which every match of re contains
// one, or nil.
func requiredLiterals(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 || len(re.Rune) == 0 {
			return nil
		}
		for _, r := range re.Rune {
			if r == utf8.RuneError {
				return nil // matches an invalid byte, which is not its encoding
			}
		}
		return []string{string(re.Rune)}
	case syntax.OpCapture, syntax.OpPlus:
		return requiredLiterals(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min < 1 {
			return nil
		}
		return requiredLiterals(re.Sub[0])
	case syntax.OpConcat:
		// a match contains a match of each part: take the part whose
		// shortest literal is the longest
		var best []string
		bestLen := 0
		for _, sub := range re.Sub {
			l := requiredLiterals(sub)
			if l == nil {
				continue
			}
			if n := shortest(l); n > bestLen {
				best, bestLen = l, n
			}
		}
		return best
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			l := requiredLiterals(sub)
			if l == nil {
				return nil
			}
			out = append(out, l...)
			if len(out) > maxPrefilterLiterals {
				return nil
			}
		}
		return out
	}
	return nil
}

// shortest returns the length of the shortest string of l.
func shortest(l []string) int {
	n := len(l[0])
	for _, s := range l[1:] {
		n = min(n, len(s))
	}
	return n
}
