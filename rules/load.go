package rules

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vigilsec/vigil/ingest"
)

// Limits of a rule file.
const (
	// MaxFileBytes caps one rule or list file.
	MaxFileBytes = 8 << 20
	// MaxExprBytes caps the text of one when expression.
	MaxExprBytes = 8 << 10
	// MaxExprNodes caps the syntax tree of one expression after macro
	// expansion.
	MaxExprNodes = 2000
)

var (
	ruleIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	macroRe  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	listRe   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]*$`)
	pathRe   = regexp.MustCompile(`^[A-Za-z0-9_@$-]+(\.[A-Za-z0-9_@$-]+)*$`)
)

// Load reads the rule files named by paths in fsys and compiles them into
// a Set. Paths are slash-separated fs paths; a directory is walked
// recursively for *.yaml and *.yml files (in lexical order); no paths means
// ".". Positions in diagnostics name files by their fs path.
//
// When anything is wrong, Load returns a Diagnostics error holding every
// error found, in every file, and a Set of the rules that did compile
// (callers that need all or nothing discard it).
func Load(fsys fs.FS, paths ...string) (*Set, error) {
	return load(fsys, paths, func(p string) string { return p })
}

// LoadPaths is Load over operating-system paths (files or directories, as
// given on a command line). Diagnostics name files by their path relative
// to the working directory when it is below it, else by their absolute
// path. List and fixture files may refer to ".." relative to a rule file.
func LoadPaths(paths ...string) (*Set, error) {
	if len(paths) == 0 {
		paths = []string{"."}
	}
	cwd, _ := os.Getwd()
	fsPaths := make([]string, len(paths))
	root := ""
	for i, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		vol := filepath.VolumeName(abs)
		root = vol + string(filepath.Separator)
		fsPaths[i] = filepath.ToSlash(strings.TrimPrefix(abs[len(vol):], string(filepath.Separator)))
		if fsPaths[i] == "" {
			fsPaths[i] = "."
		}
	}
	display := func(p string) string {
		abs := root + filepath.FromSlash(p)
		if rel, err := filepath.Rel(cwd, abs); err == nil && cwd != "" && !strings.HasPrefix(rel, "..") {
			return rel
		}
		return abs
	}
	return load(os.DirFS(root), fsPaths, display)
}

// loader holds the state of one Load call.
type loader struct {
	fsys    fs.FS
	display func(string) string
	d       diags
	set     *Set
	macros  []*Macro
	ruleAt  map[string]Pos
}

func load(fsys fs.FS, paths []string, display func(string) string) (*Set, error) {
	if len(paths) == 0 {
		paths = []string{"."}
	}
	l := &loader{
		fsys:    fsys,
		display: display,
		set:     &Set{Macros: map[string]*Macro{}, Lists: map[string]*List{}},
		ruleAt:  map[string]Pos{},
	}
	var files []string
	for _, p := range paths {
		p = path.Clean(p)
		st, err := fs.Stat(fsys, p)
		if err != nil {
			l.d.errorf(Pos{File: display(p)}, "%v", unwrapPath(err))
			continue
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		err = fs.WalkDir(fsys, p, func(name string, e fs.DirEntry, err error) error {
			if err != nil {
				l.d.errorf(Pos{File: display(name)}, "%v", unwrapPath(err))
				return nil
			}
			if !e.IsDir() && (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
				files = append(files, name)
			}
			return nil
		})
		if err != nil {
			l.d.errorf(Pos{File: display(p)}, "%v", err)
		}
	}
	for _, f := range files {
		l.file(f)
	}
	l.compileAll()
	slices.SortStableFunc(l.d.list, func(a, b Diagnostic) int {
		return cmp.Or(strings.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	if l.d.list.HasErrors() {
		return l.set, l.d.list
	}
	return l.set, nil
}

// unwrapPath drops the op and path of a *fs.PathError, whose path the
// diagnostic already shows.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readFile reads a file of fsys, capped at MaxFileBytes.
func readFile(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("file larger than %d bytes", MaxFileBytes)
	}
	return b, nil
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// file parses one rule file.
func (l *loader) file(name string) {
	fp := &fileParser{l: l, name: name, file: l.display(name)}
	data, err := readFile(l.fsys, name)
	if err != nil {
		l.d.errorf(Pos{File: fp.file}, "%v", err)
		return
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			fp.syntaxError(err)
			return
		}
		fp.document(&doc)
	}
}

// fileParser decodes the documents of one file.
type fileParser struct {
	l    *loader
	name string // path in fsys
	file string // display name
}

func (fp *fileParser) pos(n *yaml.Node) Pos {
	return Pos{File: fp.file, Line: n.Line, Col: n.Column}
}

func (fp *fileParser) errorf(n *yaml.Node, format string, args ...any) {
	fp.l.d.errorf(fp.pos(n), format, args...)
}

func (fp *fileParser) syntaxError(err error) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, e := range te.Errors {
			fp.syntaxError(errors.New(e))
		}
		return
	}
	msg := err.Error()
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		fp.l.d.errorf(Pos{File: fp.file, Line: line, Col: 1}, "yaml: %s", m[2])
		return
	}
	fp.l.d.errorf(Pos{File: fp.file, Line: 1, Col: 1}, "%s", msg)
}

// deref follows an alias.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// entry is a key and its value in a mapping.
type entry struct {
	key, val *yaml.Node
}

// mapping checks that n is a mapping whose keys are all in allowed and
// unique, reports the others, and returns the entries by key.
func (fp *fileParser) mapping(n *yaml.Node, what string, allowed ...string) (map[string]entry, bool) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		fp.errorf(n, "%s: expected a mapping, got %s", what, kindName(n))
		return nil, false
	}
	m := make(map[string]entry, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
			fp.errorf(k, "%s: keys must be plain strings", what)
			continue
		}
		if !slices.Contains(allowed, k.Value) {
			fp.errorf(k, "%s: unknown key %q", what, k.Value)
			continue
		}
		if prev, dup := m[k.Value]; dup {
			fp.errorf(k, "%s: duplicate key %q (first at line %d)", what, k.Value, prev.key.Line)
			continue
		}
		m[k.Value] = entry{k, v}
	}
	return m, true
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!str":
			return "a string"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		}
		return "a scalar " + n.ShortTag()
	}
	return "an alias"
}

// str decodes a string value.
func (fp *fileParser) str(e entry) (string, bool) {
	v := deref(e.val)
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" {
		fp.errorf(v, "%s: expected a string, got %s", e.key.Value, kindName(v))
		return "", false
	}
	return v.Value, true
}

// nonEmpty decodes a string that must not be blank.
func (fp *fileParser) nonEmpty(e entry) (string, bool) {
	s, ok := fp.str(e)
	if ok && strings.TrimSpace(s) == "" {
		fp.errorf(e.val, "%s: must not be empty", e.key.Value)
		return "", false
	}
	return s, ok
}

// integer decodes an integer value.
func (fp *fileParser) integer(e entry) (int, bool) {
	v := deref(e.val)
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" {
		fp.errorf(v, "%s: expected an integer, got %s", e.key.Value, kindName(v))
		return 0, false
	}
	var i int
	if err := v.Decode(&i); err != nil {
		fp.errorf(v, "%s: %v", e.key.Value, err)
		return 0, false
	}
	return i, true
}

// boolean decodes a boolean value.
func (fp *fileParser) boolean(e entry) (bool, bool) {
	v := deref(e.val)
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" {
		fp.errorf(v, "%s: expected true or false, got %s", e.key.Value, kindName(v))
		return false, false
	}
	var b bool
	if err := v.Decode(&b); err != nil {
		fp.errorf(v, "%s: %v", e.key.Value, err)
		return false, false
	}
	return b, true
}

// strList decodes a list of strings; check, when set, validates each item.
func (fp *fileParser) strList(e entry, check func(*yaml.Node, string) bool) ([]string, bool) {
	v := deref(e.val)
	if v.Kind != yaml.SequenceNode {
		fp.errorf(v, "%s: expected a list, got %s", e.key.Value, kindName(v))
		return nil, false
	}
	out := make([]string, 0, len(v.Content))
	ok := true
	for _, it := range v.Content {
		it = deref(it)
		if it.Kind != yaml.ScalarNode || it.ShortTag() != "!!str" {
			fp.errorf(it, "%s: expected a string item, got %s", e.key.Value, kindName(it))
			ok = false
			continue
		}
		if check != nil && !check(it, it.Value) {
			ok = false
			continue
		}
		out = append(out, it.Value)
	}
	return out, ok
}

// fieldPath validates a dotted field path item.
func (fp *fileParser) fieldPath(what string) func(*yaml.Node, string) bool {
	return func(n *yaml.Node, s string) bool {
		if !pathRe.MatchString(s) {
			fp.errorf(n, "%s: %q is not a field path (names joined by dots)", what, s)
			return false
		}
		return true
	}
}

// document decodes one YAML document.
func (fp *fileParser) document(doc *yaml.Node) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return
	}
	root := deref(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return // an empty document
	}
	if root.Kind != yaml.MappingNode {
		fp.errorf(root, "document: expected a mapping with id, macro or list, got %s", kindName(root))
		return
	}
	var kinds []string
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch k := root.Content[i].Value; k {
		case "id", "macro", "list":
			kinds = append(kinds, k)
		}
	}
	switch {
	case len(kinds) == 0:
		fp.errorf(root, "document: has none of the keys id (a rule), macro, list")
	case len(kinds) > 1:
		fp.errorf(root, "document: has more than one of the keys id, macro, list")
	case kinds[0] == "id":
		fp.rule(root)
	case kinds[0] == "macro":
		fp.macro(root)
	default:
		fp.list(root)
	}
}

// required reports the keys of names missing from m.
func (fp *fileParser) required(n *yaml.Node, what string, m map[string]entry, names ...string) bool {
	ok := true
	for _, k := range names {
		if _, has := m[k]; !has {
			fp.errorf(n, "%s: missing required key %q", what, k)
			ok = false
		}
	}
	return ok
}

var ruleKeys = []string{"id", "title", "description", "severity", "log_types", "when", "enabled",
	"mode", "suppress", "group_by", "summary", "tags", "runbook", "references", "version", "correlate", "tests"}

func (fp *fileParser) rule(n *yaml.Node) {
	m, _ := fp.mapping(n, "rule", ruleKeys...)
	required := []string{"id", "title", "severity", "log_types", "when"}
	stepped := false
	if t := correlateType(m); t == CorrelateSequence || t == CorrelateAbsence {
		required, stepped = required[:4], true
	}
	ok := fp.required(n, "rule", m, required...)
	if e, has := m["when"]; has && stepped {
		fp.errorf(e.key, "when: %s rules have no when; their steps carry the conditions", correlateType(m))
		ok = false
	}
	if e, has := m["suppress"]; has && m["correlate"].key != nil {
		fp.errorf(e.key, "suppress: a correlation rule folds its matches by itself; remove suppress")
		ok = false
	}
	r := &Rule{Enabled: true, Mode: ModeEnabled, Version: 1, Pos: fp.pos(n), fsys: fp.l.fsys, path: fp.name, keyPos: map[string]Pos{}}
	what := "rule"
	if e, has := m["id"]; has {
		id, good := fp.str(e)
		switch {
		case !good:
			ok = false
		case !ruleIDRe.MatchString(id):
			fp.errorf(e.val, "id: %q must match %s", id, ruleIDRe)
			ok = false
		default:
			r.ID = id
			what = "rule " + id
			if prev, dup := fp.l.ruleAt[id]; dup {
				fp.errorf(e.val, "id: duplicate rule id %q (first defined at %s)", id, prev)
				ok = false
			} else {
				fp.l.ruleAt[id] = fp.pos(e.val)
			}
		}
	}
	for k, e := range m {
		r.keyPos[k] = fp.pos(e.key)
	}
	var good bool
	if e, has := m["title"]; has {
		if r.Title, good = fp.nonEmpty(e); !good {
			ok = false
		}
	}
	if e, has := m["description"]; has {
		if r.Description, good = fp.str(e); !good {
			ok = false
		}
	}
	if e, has := m["severity"]; has {
		if r.Severity, good = fp.str(e); !good {
			ok = false
		} else if !slices.Contains(Severities, r.Severity) {
			fp.errorf(e.val, "severity: %q is not one of %s", r.Severity, strings.Join(Severities, ", "))
			ok = false
		}
	}
	if e, has := m["log_types"]; has {
		r.LogTypes, good = fp.strList(e, func(n *yaml.Node, s string) bool {
			if !slices.Contains(ingest.Types, s) {
				fp.errorf(n, "log_types: %q is not one of %s", s, strings.Join(ingest.Types, ", "))
				return false
			}
			return true
		})
		switch {
		case !good:
			ok = false
		case len(r.LogTypes) == 0:
			fp.errorf(e.val, "log_types: must name at least one log type")
			ok = false
		default:
			seen := map[string]bool{}
			for _, t := range r.LogTypes {
				if seen[t] {
					fp.errorf(e.val, "log_types: %q listed twice", t)
					ok = false
				}
				seen[t] = true
			}
		}
	}
	if e, has := m["when"]; has {
		r.WhenPos = fp.pos(e.key)
		if r.When, good = fp.nonEmpty(e); !good {
			ok = false
		} else if len(r.When) > MaxExprBytes {
			fp.errorf(e.val, "when: expression longer than %d bytes", MaxExprBytes)
			ok = false
		}
	}
	if e, has := m["enabled"]; has {
		if r.Enabled, good = fp.boolean(e); !good {
			ok = false
		}
	}
	if e, has := m["mode"]; has {
		if r.Mode, good = fp.str(e); !good {
			ok = false
		} else if !slices.Contains(Modes, r.Mode) {
			fp.errorf(e.val, "mode: %q is not one of %s", r.Mode, strings.Join(Modes, ", "))
			ok = false
		}
	}
	if e, has := m["suppress"]; has {
		if r.Suppress, good = fp.suppress(e); !good {
			ok = false
		}
	}
	if e, has := m["group_by"]; has {
		if r.grpKey, good = fp.keyList(e); !good {
			ok = false
		}
	} else if r.Suppress != nil {
		r.grpKey = pathParts(r.Suppress.Key)
	}
	r.GroupBy = keyNames(r.grpKey)
	for _, p := range r.grpKey {
		if p.path != nil {
			r.grpPaths = append(r.grpPaths, p.path)
		}
	}
	if e, has := m["correlate"]; has {
		if r.Correlate, good = fp.correlate(e, r, r.grpKey); !good {
			ok = false
		} else if stepped {
			r.When, r.WhenPos = stepsWhen(r.Correlate.Steps), r.Correlate.Pos
			if len(r.grpKey) == 0 {
				r.GroupBy = r.Correlate.Steps[0].Key
			}
		}
	}
	if e, has := m["summary"]; has {
		if r.Summary, good = fp.str(e); !good {
			ok = false
		} else if r.summary, good = fp.template(e.val, r.Summary); !good {
			ok = false
		}
	}
	if e, has := m["tags"]; has {
		if r.Tags, good = fp.strList(e, nil); !good {
			ok = false
		}
	}
	if e, has := m["runbook"]; has {
		if r.Runbook, good = fp.str(e); !good {
			ok = false
		}
	}
	if e, has := m["references"]; has {
		if r.References, good = fp.strList(e, nil); !good {
			ok = false
		}
	}
	if e, has := m["version"]; has {
		if r.Version, good = fp.integer(e); !good {
			ok = false
		} else if r.Version < 1 {
			fp.errorf(e.val, "version: must be at least 1")
			ok = false
		}
	}
	if e, has := m["tests"]; has {
		if r.Tests, good = fp.tests(e, what); !good {
			ok = false
		}
	}
	if ok {
		fp.l.set.Rules = append(fp.l.set.Rules, r)
	}
}

func (fp *fileParser) suppress(e entry) (*Suppress, bool) {
	m, ok := fp.mapping(e.val, "suppress", "key", "for")
	if !ok {
		return nil, false
	}
	ok = fp.required(e.val, "suppress", m, "key", "for")
	s := &Suppress{}
	if k, has := m["key"]; has {
		var good bool
		s.Key, good = fp.strList(k, fp.fieldPath("suppress.key"))
		if !good {
			ok = false
		} else if len(s.Key) == 0 {
			fp.errorf(k.val, "suppress.key: must name at least one field")
			ok = false
		}
	}
	if f, has := m["for"]; has {
		str, good := fp.str(f)
		if !good {
			return nil, false
		}
		d, err := parseDuration(str)
		if err != nil {
			fp.errorf(f.val, "suppress.for: %v", err)
			return nil, false
		}
		s.For = d
	}
	return s, ok
}

// parseDuration parses a Go duration, also accepting a whole number of
// days ("2d"); the result must be positive.
func parseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 || n > 366 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (use e.g. 30s, 15m, 1h, 2d)", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("duration %q must be positive", s)
	}
	return d, nil
}

func (fp *fileParser) tests(e entry, what string) ([]Test, bool) {
	v := deref(e.val)
	if v.Kind != yaml.SequenceNode {
		fp.errorf(v, "tests: expected a list, got %s", kindName(v))
		return nil, false
	}
	ok := true
	names := map[string]bool{}
	var out []Test
	for _, tn := range v.Content {
		m, good := fp.mapping(tn, "test", "name", "log", "logs", "file", "expect")
		if !good {
			ok = false
			continue
		}
		if !fp.required(tn, "test", m, "name", "expect") {
			ok = false
		}
		t := Test{Pos: fp.pos(tn), fsys: fp.l.fsys}
		if n, has := m["name"]; has {
			if t.Name, good = fp.nonEmpty(n); !good {
				ok = false
			} else if names[t.Name] {
				fp.errorf(n.val, "test: duplicate test name %q in %s", t.Name, what)
				ok = false
			}
			names[t.Name] = true
		}
		if x, has := m["expect"]; has && deref(x.val).Kind == yaml.SequenceNode {
			if t.Alerts, good = fp.expected(x, what); !good {
				ok = false
			}
			t.Expect = len(t.Alerts)
		} else if has {
			if t.Expect, good = fp.integer(x); !good {
				ok = false
			} else if t.Expect < 0 {
				fp.errorf(x.val, "expect: must not be negative")
				ok = false
			}
		}
		inputs := 0
		if x, has := m["log"]; has {
			inputs++
			if t.Log, good = fp.record(x.val); !good {
				ok = false
			}
		}
		if x, has := m["logs"]; has {
			inputs++
			lv := deref(x.val)
			if lv.Kind != yaml.SequenceNode {
				fp.errorf(lv, "logs: expected a list of records, got %s", kindName(lv))
				ok = false
			} else {
				for _, rec := range lv.Content {
					r, good := fp.record(rec)
					if !good {
						ok = false
					}
					t.Logs = append(t.Logs, r)
				}
			}
		}
		if x, has := m["file"]; has {
			inputs++
			if t.File, good = fp.nonEmpty(x); !good {
				ok = false
			} else {
				t.path = path.Join(path.Dir(fp.name), t.File)
				if path.IsAbs(t.File) || !fs.ValidPath(t.path) {
					fp.errorf(x.val, "file: %q is not a relative path inside the rule tree", t.File)
					ok = false
				} else if _, err := fs.Stat(fp.l.fsys, t.path); err != nil {
					fp.errorf(x.val, "file: %v", unwrapPath(err))
					ok = false
				}
			}
		}
		if inputs != 1 {
			fp.errorf(tn, "test: needs exactly one of log, logs, file")
			ok = false
		}
		out = append(out, t)
	}
	return out, ok
}

// expected decodes a test's list of expected alerts.
func (fp *fileParser) expected(e entry, what string) ([]ExpectedAlert, bool) {
	ok := true
	var out []ExpectedAlert
	for _, n := range deref(e.val).Content {
		m, good := fp.mapping(n, "expected alert", "rule", "group_key", "count")
		if !good {
			ok = false
			continue
		}
		a := ExpectedAlert{Pos: fp.pos(n)}
		if x, has := m["rule"]; has {
			if a.Rule, good = fp.str(x); !good {
				ok = false
			} else if what != "rule "+a.Rule {
				fp.errorf(x.val, "rule: %q is not the rule under test (%s)", a.Rule, what)
				ok = false
			}
		}
		if x, has := m["group_key"]; has {
			if a.GroupKey, good = fp.str(x); !good {
				ok = false
			}
		}
		if x, has := m["count"]; has {
			if a.Count, good = fp.integer(x); !good {
				ok = false
			} else if a.Count < 1 {
				fp.errorf(x.val, "count: must be at least 1")
				ok = false
			}
		}
		out = append(out, a)
	}
	return out, ok
}

// record decodes one test record: a mapping or a string.
func (fp *fileParser) record(n *yaml.Node) (any, bool) {
	v := deref(n)
	switch {
	case v.Kind == yaml.MappingNode:
		var m map[string]any
		if err := v.Decode(&m); err != nil {
			fp.errorf(v, "log: %v", err)
			return nil, false
		}
		return m, true
	case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str":
		return v.Value, true
	}
	fp.errorf(v, "log: expected a mapping or a string of raw lines, got %s", kindName(v))
	return nil, false
}

func (fp *fileParser) macro(n *yaml.Node) {
	m, _ := fp.mapping(n, "macro", "macro", "when", "description")
	ok := fp.required(n, "macro", m, "macro", "when")
	mc := &Macro{Pos: fp.pos(n)}
	if e, has := m["macro"]; has {
		name, good := fp.str(e)
		switch {
		case !good:
			ok = false
		case !macroRe.MatchString(name):
			fp.errorf(e.val, "macro: %q must be an identifier (%s)", name, macroRe)
			ok = false
		case reservedName(name):
			fp.errorf(e.val, "macro: %q is the name of a function", name)
			ok = false
		default:
			mc.Name = name
			if prev, dup := fp.l.set.Macros[name]; dup {
				fp.errorf(e.val, "macro: duplicate macro %q (first defined at %s)", name, prev.Pos)
				ok = false
			}
		}
	}
	if e, has := m["description"]; has {
		if _, good := fp.str(e); !good {
			ok = false
		}
	}
	if e, has := m["when"]; has {
		mc.WhenPos = fp.pos(e.key)
		var good bool
		if mc.When, good = fp.nonEmpty(e); !good {
			ok = false
		} else if len(mc.When) > MaxExprBytes {
			fp.errorf(e.val, "when: expression longer than %d bytes", MaxExprBytes)
			ok = false
		}
	}
	if ok {
		fp.l.set.Macros[mc.Name] = mc
		fp.l.macros = append(fp.l.macros, mc)
	}
}

func (fp *fileParser) list(n *yaml.Node) {
	m, _ := fp.mapping(n, "list", "list", "items", "file", "description")
	ok := fp.required(n, "list", m, "list")
	ls := &List{Pos: fp.pos(n)}
	if e, has := m["list"]; has {
		name, good := fp.str(e)
		switch {
		case !good:
			ok = false
		case !listRe.MatchString(name):
			fp.errorf(e.val, "list: %q must match %s", name, listRe)
			ok = false
		default:
			ls.Name = name
			if prev, dup := fp.l.set.Lists[name]; dup {
				fp.errorf(e.val, "list: duplicate list %q (first defined at %s)", name, prev.Pos)
				ok = false
			}
		}
	}
	if e, has := m["description"]; has {
		if _, good := fp.str(e); !good {
			ok = false
		}
	}
	_, hasItems := m["items"]
	_, hasFile := m["file"]
	if hasItems == hasFile {
		fp.errorf(n, "list: needs exactly one of items, file")
		ok = false
	}
	if e, has := m["items"]; has {
		v := deref(e.val)
		if v.Kind != yaml.SequenceNode {
			fp.errorf(v, "items: expected a list, got %s", kindName(v))
			ok = false
		} else {
			for _, it := range v.Content {
				it = deref(it)
				if it.Kind != yaml.ScalarNode || it.ShortTag() == "!!null" {
					fp.errorf(it, "items: expected a string or number, got %s", kindName(it))
					ok = false
					continue
				}
				ls.Items = append(ls.Items, it.Value)
			}
		}
	}
	if e, has := m["file"]; has {
		var good bool
		if ls.File, good = fp.nonEmpty(e); !good {
			ok = false
		} else {
			p := path.Join(path.Dir(fp.name), ls.File)
			if path.IsAbs(ls.File) || !fs.ValidPath(p) {
				fp.errorf(e.val, "file: %q is not a relative path inside the rule tree", ls.File)
				ok = false
			} else if data, err := readFile(fp.l.fsys, p); err != nil {
				fp.errorf(e.val, "file: %v", err)
				ok = false
			} else {
				ls.Items = parseListFile(data)
			}
		}
	}
	if ok {
		ls.set = make(map[string]struct{}, len(ls.Items))
		for _, it := range ls.Items {
			ls.set[it] = struct{}{}
		}
		fp.l.set.Lists[ls.Name] = ls
	}
}

// parseListFile returns the items of a list file: one per line, blank
// lines and text after # ignored, surrounding spaces trimmed.
func parseListFile(data []byte) []string {
	var items []string
	for line := range strings.SplitSeq(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); line != "" {
			items = append(items, line)
		}
	}
	return items
}
