// Package rules loads, validates and compiles vigil's detection rules.
//
// A rule set is read from YAML files (one or more documents per file). A
// document is a rule (it has an id), a macro (it has macro) or a list (it
// has list). Loading is strict: unknown keys, wrong types, missing required
// keys, bad values and duplicate names are all reported, each as a
// Diagnostic at file:line:col, and every error of a file is reported, not
// only the first.
//
// Each rule's when expression is compiled once, at load, with expr
// (github.com/expr-lang/expr) under safety limits: the expression must be
// boolean, at most MaxExprBytes long and MaxExprNodes nodes after macro
// expansion, and only the builtins listed in Builtins are available, plus
// the helpers cidr_match, is_private_ip, in_list and get. Member access is
// nil-safe: a.b.c on an event lacking a or a.b is nil, not an error. Macros
// are expanded in the syntax tree; lists and constant CIDR arguments are
// resolved at compile time.
//
// Summaries are templates of the form "{{ path }}" or
// "{{ path | default \"text\" }}"; a missing field renders as the default,
// or as the empty string when there is none. Rendered values are stripped of
// ANSI escape sequences and control characters.
package rules
