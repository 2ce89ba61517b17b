package rules

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"
)

// Correlation types: the values of correlate.type.
const (
	// CorrelateCount fires when at least Threshold matching events of one
	// group fall within Window.
	CorrelateCount = "count"
	// CorrelateDistinct fires when the matching events of one group within
	// Window carry at least Threshold distinct values of Field.
	CorrelateDistinct = "distinct"
	// CorrelateSequence fires when the Steps match in order, each keyed by
	// its own key, all within Within of the first.
	CorrelateSequence = "sequence"
	// CorrelateFirstSeen fires when a group shows a value of Field that it
	// has not shown before (after a learning period; values unused for
	// Forget are forgotten).
	CorrelateFirstSeen = "first_seen"
	// CorrelateAbsence fires when the first step matches and the second
	// does not follow for the same key within Within.
	CorrelateAbsence = "absence"
)

// CorrelateTypes lists the correlation types.
var CorrelateTypes = []string{CorrelateCount, CorrelateDistinct, CorrelateSequence, CorrelateFirstSeen, CorrelateAbsence}

// Limits and defaults of correlate blocks.
const (
	// MaxThreshold caps correlate.threshold: a window keeps up to
	// threshold-1 events before it fires.
	MaxThreshold = 1000
	// MaxSteps caps the steps of a sequence.
	MaxSteps = 8
	// MaxKeysPerEvent caps the group keys one event yields when key
	// expressions return lists.
	MaxKeysPerEvent = 64
	// DefaultLearn is the default learning period of first_seen.
	DefaultLearn = 7 * 24 * time.Hour
	// DefaultForget is the default time after which first_seen forgets a
	// value it has not seen again.
	DefaultForget = 30 * 24 * time.Hour
)

// Correlate is a rule's correlate block: the rule's matches are not alerts
// by themselves but signals that a correlator combines per group key.
type Correlate struct {
	// Type is one of CorrelateTypes.
	Type string
	// Window is the sliding window of count and distinct.
	Window time.Duration
	// Threshold is the number of events (count) or distinct values
	// (distinct) that fires.
	Threshold int
	// Field is the expression whose value distinct counts and first_seen
	// learns (a field path is an expression).
	Field string
	// Within bounds a sequence (first to last step) and an absence (the
	// time the second step has to follow the first).
	Within time.Duration
	// Learn is first_seen's learning period, from the first event the
	// correlator sees for the rule; default DefaultLearn.
	Learn time.Duration
	// Forget is how long first_seen remembers a value not seen again (to
	// within Refresh); default DefaultForget.
	Forget time.Duration
	// Steps are the steps of sequence and absence, in order.
	Steps []Step
	Pos   Pos

	field     *vm.Program
	fieldPath pathExpr // field, when it only reads field paths
}

// Step is one step of a sequence or absence: its own condition, log types
// and key.
type Step struct {
	Name string
	// LogTypes default to the rule's log types.
	LogTypes []string
	When     string
	// Key are the names of the step's key parts (field paths or named
	// expressions); default the rule's group_by.
	Key     []string
	Pos     Pos
	WhenPos Pos

	program *vm.Program
	key     []keyPart
}

// keyPart is one item of a group key: a field path, or a named expression.
type keyPart struct {
	name string
	path []string // a field path, or
	src  string   // an expression
	pos  Pos
	prog *vm.Program
	fast pathExpr // prog, when it only reads field paths
}

// Span returns the longest event-time span the correlation looks back over
// (Window or Within); 0 for first_seen, whose state is not rebuilt from
// recent input.
func (c *Correlate) Span() time.Duration {
	return max(c.Window, c.Within)
}

// Refresh is how often first_seen moves a known value's last-seen time
// forward, Forget/32: a value is forgotten between Forget−Refresh and
// Forget after its last signal. Refreshing on every signal would queue one
// entry per signal for the whole Forget period (30 days by default), where
// this queues at most one per value per Refresh.
func (c *Correlate) Refresh() time.Duration { return c.Forget / 32 }

// Value evaluates the Field expression on an event and returns its value as
// text; ok is false when it is nil.
func (c *Correlate) Value(fields map[string]any) (v string, ok bool, err error) {
	out, done := c.fieldPath.eval(fields)
	if !done {
		out, err = runProgram(c.field, fields)
	}
	if err != nil || out == nil {
		return "", false, err
	}
	return valueText(out), true, nil
}

// Eval evaluates the step's condition on an event's fields.
func (s *Step) Eval(fields map[string]any) (bool, error) {
	out, err := runProgram(s.program, fields)
	if err != nil {
		return false, fmt.Errorf("step %s: %w", s.Name, err)
	}
	b, isBool := out.(bool)
	if !isBool {
		return false, fmt.Errorf("step %s: when returned %T, not bool", s.Name, out)
	}
	return b, nil
}

// Keys returns the step's group keys for an event; see Rule.GroupKeys.
func (s *Step) Keys(fields map[string]any) ([]string, error) {
	return groupKeys(s.key, fields)
}

// GroupKeys returns the group keys under which a correlation rule counts an
// event: like GroupKey, but a key part whose value is a list yields one key
// per item (at most MaxKeysPerEvent keys in all), and an event lacking a
// value of a key part yields none.
func (r *Rule) GroupKeys(fields map[string]any) ([]string, error) {
	return groupKeys(r.grpKey, fields)
}

func groupKeys(parts []keyPart, fields map[string]any) ([]string, error) {
	if len(parts) == 0 {
		return []string{""}, nil
	}
	var keys []string
	var one [1]string // the values of a scalar part, without allocating
	for i, p := range parts {
		v, err := p.value(fields)
		if err != nil {
			return nil, err
		}
		var vals []string
		switch x := v.(type) {
		case nil:
		case []any:
			for _, it := range x {
				if it != nil {
					vals = append(vals, valueText(it))
				}
			}
			slices.Sort(vals)
			vals = slices.Compact(vals)
		default:
			one[0] = valueText(x)
			vals = one[:]
		}
		if len(vals) == 0 {
			return nil, nil
		}
		if i == 0 {
			next := make([]string, 0, min(len(vals), MaxKeysPerEvent))
			for _, v := range vals {
				if len(next) == MaxKeysPerEvent {
					break
				}
				next = append(next, p.name+"="+v)
			}
			keys = next
			continue
		}
		next := make([]string, 0, min(len(keys)*len(vals), MaxKeysPerEvent))
		for _, k := range keys {
			k += ","
			for _, v := range vals {
				if len(next) == MaxKeysPerEvent {
					break
				}
				next = append(next, k+p.name+"="+v)
			}
		}
		keys = next
	}
	return keys, nil
}

// value returns a key part's value on an event.
func (p *keyPart) value(fields map[string]any) (any, error) {
	if p.prog == nil {
		return lookup(fields, p.path), nil
	}
	if v, ok := p.fast.eval(fields); ok {
		return v, nil
	}
	v, err := runProgram(p.prog, fields)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", p.name, err)
	}
	return v, nil
}

// valueText renders a value as key or summary text: scalars as text, other
// values as JSON.
func valueText(v any) string {
	if s, ok := stringify(v); ok {
		return s
	}
	js, _ := json.Marshal(v)
	return string(js)
}

// runProgram runs a compiled expression, turning a panic into an error.
func runProgram(p *vm.Program, fields map[string]any) (out any, err error) {
	if p == nil {
		return nil, fmt.Errorf("expression is not compiled")
	}
	m := vms.Get().(*vm.VM)
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("panic: %v", r)
			return // a VM that panicked is not reused
		}
		vms.Put(m)
	}()
	return m.Run(p, fields)
}

// keyList decodes a group_by or key list: items are field paths, or
// single-entry mappings {name: expression}.
func (fp *fileParser) keyList(e entry) ([]keyPart, bool) {
	v := deref(e.val)
	if v.Kind != yaml.SequenceNode {
		fp.errorf(v, "%s: expected a list, got %s", e.key.Value, kindName(v))
		return nil, false
	}
	ok := true
	var out []keyPart
	names := map[string]bool{}
	for _, it := range v.Content {
		it = deref(it)
		var p keyPart
		switch {
		case it.Kind == yaml.ScalarNode && it.ShortTag() == "!!str":
			if !fp.fieldPath(e.key.Value)(it, it.Value) {
				ok = false
				continue
			}
			p = keyPart{name: it.Value, path: strings.Split(it.Value, "."), pos: fp.pos(it)}
		case it.Kind == yaml.MappingNode && len(it.Content) == 2:
			k, x := deref(it.Content[0]), deref(it.Content[1])
			if k.Kind != yaml.ScalarNode || !macroRe.MatchString(k.Value) {
				fp.errorf(k, "%s: a named key needs an identifier as its name", e.key.Value)
				ok = false
				continue
			}
			if x.Kind != yaml.ScalarNode || x.ShortTag() != "!!str" || strings.TrimSpace(x.Value) == "" {
				fp.errorf(x, "%s: key %s: expected an expression string, got %s", e.key.Value, k.Value, kindName(x))
				ok = false
				continue
			}
			p = keyPart{name: k.Value, src: x.Value, pos: fp.pos(x)}
		default:
			fp.errorf(it, "%s: expected a field path or {name: expression}, got %s", e.key.Value, kindName(it))
			ok = false
			continue
		}
		if names[p.name] {
			fp.errorf(it, "%s: %q given twice", e.key.Value, p.name)
			ok = false
			continue
		}
		names[p.name] = true
		out = append(out, p)
	}
	return out, ok
}

// keyNames returns the names of key parts.
func keyNames(parts []keyPart) []string {
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.name
	}
	return out
}

// pathParts turns field paths into key parts.
func pathParts(paths []string) []keyPart {
	out := make([]keyPart, len(paths))
	for i, p := range paths {
		out[i] = keyPart{name: p, path: strings.Split(p, ".")}
	}
	return out
}

var correlateKeys = []string{"type", "window", "threshold", "field", "within", "learn", "forget", "steps"}

// correlateUses says which keys each type requires (first) and allows.
var correlateUses = map[string]struct{ required, optional []string }{
	CorrelateCount:     {[]string{"window", "threshold"}, nil},
	CorrelateDistinct:  {[]string{"window", "threshold", "field"}, nil},
	CorrelateSequence:  {[]string{"within", "steps"}, nil},
	CorrelateFirstSeen: {[]string{"field"}, []string{"learn", "forget"}},
	CorrelateAbsence:   {[]string{"within", "steps"}, nil},
}

// correlateType peeks at the type of a rule's correlate block, "" when
// there is none or it is malformed.
func correlateType(m map[string]entry) string {
	e, has := m["correlate"]
	if !has {
		return ""
	}
	v := deref(e.val)
	if v.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		if v.Content[i].Value == "type" {
			return deref(v.Content[i+1]).Value
		}
	}
	return ""
}

// correlate decodes a rule's correlate block. ruleKey is the rule's
// group_by, the default key of steps.
func (fp *fileParser) correlate(e entry, r *Rule, ruleKey []keyPart) (*Correlate, bool) {
	m, ok := fp.mapping(e.val, "correlate", correlateKeys...)
	if !ok {
		return nil, false
	}
	if !fp.required(e.val, "correlate", m, "type") {
		return nil, false
	}
	c := &Correlate{Pos: fp.pos(e.key)}
	var good bool
	if c.Type, good = fp.str(m["type"]); !good {
		return nil, false
	}
	use, known := correlateUses[c.Type]
	if !known {
		fp.errorf(m["type"].val, "correlate.type: %q is not one of %s", c.Type, strings.Join(CorrelateTypes, ", "))
		return nil, false
	}
	ok = fp.required(e.val, "correlate ("+c.Type+")", m, use.required...)
	for k, x := range m {
		if k != "type" && !slices.Contains(use.required, k) && !slices.Contains(use.optional, k) {
			fp.errorf(x.key, "correlate.%s: not used by type %s", k, c.Type)
			ok = false
		}
	}
	dur := func(key string, dst *time.Duration) {
		x, has := m[key]
		if !has {
			return
		}
		s, good := fp.str(x)
		if !good {
			ok = false
			return
		}
		d, err := parseDuration(s)
		if err != nil {
			fp.errorf(x.val, "correlate.%s: %v", key, err)
			ok = false
			return
		}
		*dst = d
	}
	dur("window", &c.Window)
	dur("within", &c.Within)
	c.Learn, c.Forget = DefaultLearn, DefaultForget
	dur("learn", &c.Learn)
	dur("forget", &c.Forget)
	if x, has := m["threshold"]; has {
		if c.Threshold, good = fp.integer(x); !good {
			ok = false
		} else if c.Threshold < 1 || c.Threshold > MaxThreshold {
			fp.errorf(x.val, "correlate.threshold: must be between 1 and %d", MaxThreshold)
			ok = false
		}
	}
	if x, has := m["field"]; has {
		if c.Field, good = fp.nonEmpty(x); !good {
			ok = false
		} else if len(c.Field) > MaxExprBytes {
			fp.errorf(x.val, "correlate.field: expression longer than %d bytes", MaxExprBytes)
			ok = false
		}
	}
	if x, has := m["steps"]; has {
		if c.Steps, good = fp.steps(x, c.Type, r, ruleKey); !good {
			ok = false
		}
	}
	return c, ok
}

// steps decodes the steps of a sequence or absence.
func (fp *fileParser) steps(e entry, typ string, r *Rule, ruleKey []keyPart) ([]Step, bool) {
	v := deref(e.val)
	if v.Kind != yaml.SequenceNode {
		fp.errorf(v, "correlate.steps: expected a list, got %s", kindName(v))
		return nil, false
	}
	ok := true
	switch n := len(v.Content); {
	case typ == CorrelateAbsence && n != 2:
		fp.errorf(v, "correlate.steps: absence takes exactly 2 steps (the event, then the one that must follow), got %d", n)
		ok = false
	case n < 2 || n > MaxSteps:
		fp.errorf(v, "correlate.steps: a sequence takes 2 to %d steps, got %d", MaxSteps, n)
		ok = false
	}
	var out []Step
	names := map[string]bool{}
	for _, sn := range v.Content {
		m, good := fp.mapping(sn, "step", "name", "when", "log_types", "key")
		if !good {
			ok = false
			continue
		}
		if !fp.required(sn, "step", m, "name", "when") {
			ok = false
			continue
		}
		s := Step{Pos: fp.pos(sn), WhenPos: fp.pos(m["when"].key), LogTypes: r.LogTypes, key: ruleKey}
		if s.Name, good = fp.nonEmpty(m["name"]); !good {
			ok = false
		} else if names[s.Name] {
			fp.errorf(m["name"].val, "step: duplicate step name %q", s.Name)
			ok = false
		}
		names[s.Name] = true
		if s.When, good = fp.nonEmpty(m["when"]); !good {
			ok = false
		} else if len(s.When) > MaxExprBytes {
			fp.errorf(m["when"].val, "when: expression longer than %d bytes", MaxExprBytes)
			ok = false
		}
		if x, has := m["log_types"]; has {
			s.LogTypes, good = fp.strList(x, func(n *yaml.Node, t string) bool {
				if !slices.Contains(r.LogTypes, t) {
					fp.errorf(n, "log_types: %q is not one of the rule's log types", t)
					return false
				}
				return true
			})
			if !good {
				ok = false
			} else if len(s.LogTypes) == 0 {
				fp.errorf(x.val, "log_types: must name at least one of the rule's log types")
				ok = false
			}
		}
		if x, has := m["key"]; has {
			if s.key, good = fp.keyList(x); !good {
				ok = false
			}
		}
		s.Key = keyNames(s.key)
		out = append(out, s)
	}
	if ok {
		for _, s := range out[1:] {
			if !slices.Equal(s.Key, out[0].Key) {
				fp.errorf(v, "correlate.steps: every step needs a key with the same names (%s has [%s], %s has [%s])",
					out[0].Name, strings.Join(out[0].Key, ", "), s.Name, strings.Join(s.Key, ", "))
				ok = false
				break
			}
		}
	}
	return out, ok
}

// stepsWhen is the rule-level condition of a rule whose steps carry the
// conditions: any step matches.
func stepsWhen(steps []Step) string {
	parts := make([]string, len(steps))
	for i, s := range steps {
		parts[i] = "(" + s.When + ")"
	}
	return strings.Join(parts, " || ")
}

// compileCorrelation compiles a rule's key expressions and correlate block,
// reporting errors; it returns false when anything failed.
func (l *loader) compileCorrelation(r *Rule, bad map[string]bool) bool {
	ok := true
	keys := func(parts []keyPart) {
		for i := range parts {
			p := &parts[i]
			if p.src == "" || p.prog != nil {
				continue
			}
			c, err := compileAny(p.src, l.set, bad, false)
			if err != nil {
				l.exprErrorKey(p.pos, "rule "+r.ID, "key "+p.name, err)
				ok = false
				continue
			}
			p.prog = c.program
			p.fast = pathExprOf(c.program.Node())
			r.fields = append(r.fields, c.fields...)
		}
	}
	keys(r.grpKey)
	c := r.Correlate
	if c == nil {
		return ok
	}
	if c.Field != "" {
		cf, err := compileAny(c.Field, l.set, bad, false)
		if err != nil {
			l.exprErrorKey(c.Pos, "rule "+r.ID, "correlate.field", err)
			ok = false
		} else {
			c.field = cf.program
			c.fieldPath = pathExprOf(cf.program.Node())
			r.fields = append(r.fields, cf.fields...)
		}
	}
	for i := range c.Steps {
		s := &c.Steps[i]
		cs, err := compileExpr(s.When, l.set, bad)
		if err != nil {
			l.exprErrorKey(s.WhenPos, "rule "+r.ID+" step "+s.Name, "when", err)
			ok = false
			continue
		}
		s.program = cs.program
		keys(s.key)
	}
	return ok
}
