package rules

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/optimizer"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// Builtins are the expr builtin functions rules may call. All others are
// disabled: those that allocate without bound (repeat, and ranges through
// the .. operator, which is rejected), read the clock (now, date), or are
// not needed to test one event (sort, groupBy, reduce, fromJSON, base64
// codecs, ...).
var Builtins = []string{
	"all", "none", "any", "one", "filter", "map", "find", "count",
	"len", "type", "abs", "int", "float", "string",
	"trim", "trimPrefix", "trimSuffix", "upper", "lower", "split", "join",
	"indexOf", "lastIndexOf", "hasPrefix", "hasSuffix",
	"max", "min", "first", "last", "keys", "values", "concat", "toJSON",
}

// Helpers are the functions vigil adds to expr's builtins.
var Helpers = []string{"cidr_match", "is_private_ip", "in_list", "get"}

// reservedName reports whether name is a function a macro must not shadow.
func reservedName(name string) bool {
	return slices.Contains(Builtins, name) || slices.Contains(Helpers, name)
}

// compileAll checks the macros, then compiles every rule, dropping the
// rules that fail.
func (l *loader) compileAll() {
	bad := map[string]bool{}
	cycles := macroCycles(l.macros, l.set.Macros)
	for _, m := range l.macros {
		if cyc, ok := cycles[m.Name]; ok {
			l.d.errorf(m.WhenPos, "macro %s: cycle %s", m.Name, strings.Join(cyc, " -> "))
			bad[m.Name] = true
		}
	}
	for _, m := range l.macros {
		if bad[m.Name] {
			continue
		}
		if _, err := compileExpr(m.When, l.set, bad); err != nil {
			l.exprError(m.WhenPos, "macro "+m.Name, err)
			bad[m.Name] = true
		}
	}
	kept := l.set.Rules[:0]
	for _, r := range l.set.Rules {
		c, err := compileExpr(r.When, l.set, bad)
		if err != nil {
			l.exprError(r.WhenPos, "rule "+r.ID, err)
			continue
		}
		r.program = c.program
		r.fields = c.fields
		r.keyPaths = splitPaths(nil)
		if r.Suppress != nil {
			r.keyPaths = splitPaths(r.Suppress.Key)
		}
		if !l.compileCorrelation(r, bad) {
			continue
		}
		kept = append(kept, r)
	}
	clear(l.set.Rules[len(kept):])
	l.set.Rules = kept
}

// exprError reports a compile error at the when key, with the position
// inside the expression when expr gives one.
func (l *loader) exprError(at Pos, what string, err error) {
	l.exprErrorKey(at, what, "when", err)
}

// exprErrorKey reports a compile error of the expression under key.
func (l *loader) exprErrorKey(at Pos, what, key string, err error) {
	var fe *file.Error
	if errors.As(err, &fe) && fe.Line > 0 {
		l.d.errorf(at, "%s: %s: %s (expression line %d, column %d)", what, key, fe.Message, fe.Line, fe.Column+1)
		return
	}
	l.d.errorf(at, "%s: %s: %s", what, key, strings.ReplaceAll(err.Error(), "\n", "; "))
}

// macroCycles finds the cycles among macros that use each other, by a
// depth-first search visiting each macro once. It returns, for each macro
// on a cycle, the cycle as a path of names starting and ending with it.
func macroCycles(list []*Macro, macros map[string]*Macro) map[string][]string {
	deps := map[string][]string{}
	for _, m := range list {
		tree, err := parser.Parse(m.When)
		if err != nil {
			continue
		}
		for _, id := range identifiers(tree.Node) {
			if _, ok := macros[id]; ok && !slices.Contains(deps[m.Name], id) {
				deps[m.Name] = append(deps[m.Name], id)
			}
		}
	}
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	cycles := map[string][]string{}
	var stack []string
	var visit func(string)
	visit = func(name string) {
		state[name] = active
		stack = append(stack, name)
		for _, d := range deps[name] {
			switch state[d] {
			case unseen:
				visit(d)
			case active:
				cyc := append(slices.Clone(stack[slices.Index(stack, d):]), d)
				for i, member := range cyc[:len(cyc)-1] {
					if _, seen := cycles[member]; !seen {
						rot := append(slices.Clone(cyc[i:len(cyc)-1]), cyc[:i+1]...)
						cycles[member] = rot
					}
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
	}
	for _, m := range list {
		if state[m.Name] == unseen {
			visit(m.Name)
		}
	}
	return cycles
}

// identifiers returns the identifiers of a tree.
func identifiers(n ast.Node) []string {
	v := &identVisitor{}
	ast.Walk(&n, v)
	return v.names
}

type identVisitor struct{ names []string }

func (v *identVisitor) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok {
		v.names = append(v.names, id.Value)
	}
}

// compiled is a compiled expression and what lint needs to know of it.
type compiled struct {
	program *vm.Program
	fields  []fieldRef
}

// compileExpr compiles a when expression against the set's macros and
// lists. Macros in bad are known to be broken.
func compileExpr(src string, set *Set, bad map[string]bool) (*compiled, error) {
	return compileAny(src, set, bad, true)
}

// compileAny compiles an expression that must be boolean when asBool is
// set, and may have any type otherwise (a key or value expression).
func compileAny(src string, set *Set, bad map[string]bool, asBool bool) (*compiled, error) {
	if len(src) > MaxExprBytes {
		return nil, fmt.Errorf("expression longer than %d bytes", MaxExprBytes)
	}
	exp := &macroExpander{macros: set.Macros, bad: bad, budget: MaxExprNodes}
	res := &resolver{lists: set.Lists}
	cnt := &nodeCounter{}
	opts := make([]expr.Option, 0, 16+len(Builtins))
	opts = append(opts,
		expr.Env(map[string]any{}),
		expr.AllowUndefinedVariables(),
		expr.MaxNodes(MaxExprNodes),
		expr.DisableAllBuiltins(),
	)
	if asBool {
		opts = append(opts, expr.AsBool())
	}
	for _, b := range Builtins {
		opts = append(opts, expr.EnableBuiltin(b))
	}
	opts = append(opts,
		expr.Function("cidr_match", cidrMatch),
		expr.Function("is_private_ip", isPrivateIP),
		expr.Function("in_list", inList),
		expr.Function("get", getFunc),
		expr.Patch(exp),
		expr.Patch(res),
		expr.Patch(nilSafe{}),
		expr.Patch(cnt),
	)
	program, err := compileFast(src, opts)
	if err != nil {
		return nil, err
	}
	if errs := slices.DeleteFunc([]error{exp.err, res.err}, func(e error) bool { return e == nil }); len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	if cnt.n > MaxExprNodes {
		return nil, fmt.Errorf("expression has %d nodes after macro expansion, more than %d", cnt.n, MaxExprNodes)
	}
	return &compiled{program: program, fields: collectFields(program.Node())}, nil
}

// compileFast is expr.Compile with the rewrites that make the program
// faster without changing what it computes (prefilter, fastFetch,
// fastToJSON) applied
// to the checked and optimized tree, just before it is compiled: they run
// after type checking, so that they change no compile error, and after the
// optimizer, which prints constants that it cannot print (functions).
func compileFast(src string, opts []expr.Option) (*vm.Program, error) {
	config := conf.CreateNew()
	for _, op := range opts {
		op(config)
	}
	for name := range config.Disabled {
		delete(config.Builtins, name)
	}
	config.Check()
	tree, err := checker.ParseCheck(src, config)
	if err != nil {
		return nil, err
	}
	if config.Optimize {
		if err := optimizer.Optimize(&tree.Node, config); err != nil {
			var fe *file.Error
			if errors.As(err, &fe) {
				return nil, fe.Bind(tree.Source)
			}
			return nil, err
		}
	}
	ast.Walk(&tree.Node, prefilter{})
	ast.Walk(&tree.Node, fastFetch{})
	ast.Walk(&tree.Node, fastToJSON{})
	return compiler.Compile(tree, config)
}

// joinErrors joins errors on one line, separated by "; ".
func joinErrors(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = strings.ReplaceAll(e.Error(), "\n", "; ")
	}
	return errors.New(strings.Join(msgs, "; "))
}

// macroExpander replaces identifiers naming macros by the macro's tree,
// expanded in turn. budget is the number of nodes expansion may still add:
// macros that use macros several times grow exponentially, so expansion
// stops as soon as the tree would exceed MaxExprNodes.
type macroExpander struct {
	macros  map[string]*Macro
	bad     map[string]bool
	stack   []string
	budget  int
	badUsed []string // broken macros already reported
	err     error
}

func (e *macroExpander) Visit(node *ast.Node) {
	id, ok := (*node).(*ast.IdentifierNode)
	if !ok {
		return
	}
	m, ok := e.macros[id.Value]
	if !ok {
		return
	}
	switch {
	case e.bad[m.Name]:
		if !slices.Contains(e.badUsed, m.Name) {
			e.badUsed = append(e.badUsed, m.Name)
			e.err = errors.Join(e.err, fmt.Errorf("uses macro %s, which has errors", m.Name))
		}
		return
	case slices.Contains(e.stack, m.Name):
		e.err = errors.Join(e.err, fmt.Errorf("macro cycle through %s", m.Name))
		return
	case len(e.stack) > 32:
		e.err = errors.Join(e.err, fmt.Errorf("macros nested more than 32 deep"))
		return
	case e.budget < 0:
		return // reported once, when it ran out
	}
	tree, err := parser.Parse(m.When)
	if err != nil {
		e.err = errors.Join(e.err, fmt.Errorf("macro %s: %w", m.Name, err))
		return
	}
	cnt := &nodeCounter{}
	ast.Walk(&tree.Node, cnt)
	if e.budget -= cnt.n; e.budget < 0 {
		e.err = errors.Join(e.err, fmt.Errorf("expression exceeds %d nodes after macro expansion", MaxExprNodes))
		return
	}
	e.stack = append(e.stack, m.Name)
	ast.Walk(&tree.Node, e)
	e.stack = e.stack[:len(e.stack)-1]
	ast.Patch(node, tree.Node)
}

// resolver binds in_list list names and constant CIDRs at compile time and
// rejects the range operator.
type resolver struct {
	lists map[string]*List
	err   error
}

func (r *resolver) fail(format string, args ...any) {
	r.err = errors.Join(r.err, fmt.Errorf(format, args...))
}

func (r *resolver) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BinaryNode:
		if n.Operator == ".." {
			r.fail("the range operator .. is not allowed")
		}
	case *ast.CallNode:
		callee, ok := n.Callee.(*ast.IdentifierNode)
		if !ok {
			return
		}
		switch callee.Value {
		default:
			if !slices.Contains(Helpers, callee.Value) {
				r.fail("unknown function %s", callee.Value)
			}
		case "in_list":
			if len(n.Arguments) != 2 {
				r.fail("in_list takes 2 arguments (list name, value), got %d", len(n.Arguments))
				return
			}
			name, ok := n.Arguments[0].(*ast.StringNode)
			if !ok {
				r.fail("in_list: the list name must be a string constant")
				return
			}
			l, ok := r.lists[name.Value]
			if !ok {
				r.fail("in_list: unknown list %q", name.Value)
				return
			}
			ast.Patch(&n.Arguments[0], &ast.ConstantNode{Value: l})
		case "cidr_match":
			if len(n.Arguments) < 2 {
				r.fail("cidr_match takes an address and at least one CIDR")
				return
			}
			var set prefixSet
			for _, a := range n.Arguments[1:] {
				s, ok := a.(*ast.StringNode)
				if !ok {
					return // not constant: parsed at run time
				}
				p, err := parsePrefix(s.Value)
				if err != nil {
					r.fail("cidr_match: %v", err)
					return
				}
				set = append(set, p)
			}
			c := &ast.ConstantNode{Value: set}
			c.SetLocation(n.Arguments[1].Location())
			n.Arguments = []ast.Node{n.Arguments[0], c}
		}
	}
}

// nilSafe makes every member access optional (a?.b) and wraps each access
// chain in a chain node, so that a missing level yields nil, not an error.
type nilSafe struct{}

func (nilSafe) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok || m.Method {
		return
	}
	m.Optional = true
	if c, ok := m.Node.(*ast.ChainNode); ok {
		m.Node = c.Node
	}
	ast.Patch(node, &ast.ChainNode{Node: m})
}

// nodeCounter counts the nodes of the final tree.
type nodeCounter struct{ n int }

func (c *nodeCounter) Visit(*ast.Node) { c.n++ }

// vms reuses expr virtual machines across evaluations.
var vms = sync.Pool{New: func() any { return new(vm.VM) }}

// Compiled reports whether the rule's expression was compiled, which is
// the case for every rule of a Set returned by Load.
func (r *Rule) Compiled() bool { return r.program != nil }

// Eval evaluates the rule's when expression on an event's fields. Errors
// (a wrong type, a panic in a helper) are returned, never raised. Eval is
// safe for concurrent use.
func (r *Rule) Eval(fields map[string]any) (ok bool, err error) {
	if r.program == nil {
		return false, fmt.Errorf("rule %s is not compiled", r.ID)
	}
	m := vms.Get().(*vm.VM)
	defer func() {
		if p := recover(); p != nil {
			ok, err = false, fmt.Errorf("rule %s: panic: %v", r.ID, p)
			return // a VM that panicked is not reused
		}
		vms.Put(m)
	}()
	return r.run(m, fields)
}

// run runs the rule's program on m.
func (r *Rule) run(m *vm.VM, fields map[string]any) (bool, error) {
	out, err := m.Run(r.program, fields)
	if err != nil {
		return false, fmt.Errorf("rule %s: %w", r.ID, err)
	}
	b, isBool := out.(bool)
	if !isBool {
		return false, fmt.Errorf("rule %s: when returned %T, not bool", r.ID, out)
	}
	return b, nil
}

// Evaluator evaluates rules on a virtual machine of its own, which saves
// Rule.Eval's taking one from a pool and putting it back for each
// evaluation. It is not safe for concurrent use; the zero value is ready.
type Evaluator struct {
	m vm.VM
}

// Eval is r.Eval(fields), evaluated on e's machine.
func (e *Evaluator) Eval(r *Rule, fields map[string]any) (ok bool, err error) {
	if r.program == nil {
		return false, fmt.Errorf("rule %s is not compiled", r.ID)
	}
	defer func() {
		if p := recover(); p != nil {
			ok, err = false, fmt.Errorf("rule %s: panic: %v", r.ID, p)
			e.m = vm.VM{} // a VM that panicked is not reused
		}
	}()
	return r.run(&e.m, fields)
}

// prefixSet is a parsed list of CIDRs.
type prefixSet []netip.Prefix

func (s prefixSet) contains(a netip.Addr) bool {
	for _, p := range s {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parsePrefix parses a CIDR, or a single address as a one-address prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}
