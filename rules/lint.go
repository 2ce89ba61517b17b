package rules

import (
	"cmp"
	"regexp/syntax"
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"
)

// Lint returns warnings about the rules of a loaded set: field names that
// no log type of the rule has (in when, suppress.key, group_by and the
// summary), costly or redundant regular expressions, and a mode that has
// no effect because the rule is disabled. Lint reports warnings only; Load
// reports the errors.
func Lint(set *Set) Diagnostics {
	var d diags
	for _, r := range set.Rules {
		lintFields(&d, r)
		lintMode(&d, r)
		if r.program != nil {
			lintRegexps(&d, r, r.program.Node())
		}
	}
	slices.SortStableFunc(d.list, func(a, b Diagnostic) int {
		return cmp.Or(strings.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	return d.list
}

// lintMode warns about mode: staging on a rule with enabled: false, which
// is not evaluated at all: the author probably meant one or the other.
func lintMode(d *diags, r *Rule) {
	if pos, set := r.keyPos["mode"]; set && !r.Enabled && r.Mode == ModeStaging {
		d.warnf(pos, "rule %s: mode: staging has no effect while enabled is false (the rule is not evaluated); remove one of them", r.ID)
	}
}

// lintFields warns about each path not known to any of the rule's log
// types, at its first unknown segment.
func lintFields(d *diags, r *Rule) {
	type use struct {
		path []string
		pos  Pos
		what string
	}
	var uses []use
	for _, f := range r.fields {
		uses = append(uses, use{f.path, r.WhenPos, "when"})
	}
	if r.Suppress != nil {
		for _, p := range r.keyPaths {
			uses = append(uses, use{p, r.keyPos["suppress"], "suppress.key"})
		}
	}
	if _, own := r.keyPos["group_by"]; own {
		for _, p := range r.grpPaths {
			uses = append(uses, use{p, r.keyPos["group_by"], "group_by"})
		}
	}
	for _, part := range r.summary.parts {
		if part.field != nil {
			uses = append(uses, use{part.field, r.keyPos["summary"], "summary"})
		}
	}
	reported := map[string]bool{}
	for _, u := range uses {
		best := 0
		for _, t := range r.LogTypes {
			best = max(best, knownDepth(t, u.path))
		}
		if best == len(u.path) {
			continue
		}
		unknown := strings.Join(u.path[:best+1], ".")
		if reported[u.what+"\x00"+unknown] {
			continue
		}
		reported[u.what+"\x00"+unknown] = true
		d.warnf(u.pos, "rule %s: %s: field %s does not exist in %s records", r.ID, u.what, unknown, strings.Join(r.LogTypes, "/"))
	}
}

// lintRegexps warns about matches operators whose pattern is not constant
// (compiled at every evaluation) or is costly: an unanchored
// case-insensitive alternation, or redundant leading or trailing .*.
func lintRegexps(d *diags, r *Rule, root ast.Node) {
	v := &regexVisitor{}
	ast.Walk(&root, v)
	for _, w := range v.warnings {
		d.warnf(r.WhenPos, "rule %s: when: %s", r.ID, w)
	}
}

type regexVisitor struct{ warnings []string }

func (v *regexVisitor) Visit(node *ast.Node) {
	b, ok := (*node).(*ast.BinaryNode)
	if !ok || b.Operator != "matches" {
		return
	}
	s, ok := b.Right.(*ast.StringNode)
	if !ok {
		v.warnings = append(v.warnings, "matches with a pattern that is not a constant compiles it at every evaluation")
		return
	}
	if w := regexpCost(s.Value); w != "" {
		v.warnings = append(v.warnings, "regex "+quote(s.Value)+": "+w)
	}
}

func quote(s string) string {
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return "\"" + s + "\""
}

// regexpCost returns advice about a costly pattern, or "".
func regexpCost(pat string) string {
	re, err := syntax.Parse(pat, syntax.Perl)
	if err != nil {
		return "" // the compiler reports invalid patterns
	}
	core := strings.TrimPrefix(pat, "(?i)")
	foldCase := core != pat
	anchored := strings.HasPrefix(core, "^") || strings.HasPrefix(core, `\A`)
	switch {
	case foldCase && !anchored && hasAlternation(re):
		return "unanchored case-insensitive alternation is slow; prefer lower(x) contains \"a\" || lower(x) contains \"b\" (or in_list)"
	case strings.HasPrefix(core, ".*") || strings.HasSuffix(core, ".*") && !strings.HasSuffix(core, `\.*`):
		return "leading or trailing .* is redundant (matches searches the whole string) and costs a scan; drop it"
	}
	return ""
}

// hasAlternation reports whether a regexp has an alternation of literals
// or larger pieces (not a character class).
func hasAlternation(re *syntax.Regexp) bool {
	if re.Op == syntax.OpAlternate {
		return true
	}
	for _, s := range re.Sub {
		if hasAlternation(s) {
			return true
		}
	}
	return false
}
