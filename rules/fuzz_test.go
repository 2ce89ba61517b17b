package rules

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/vigilsec/vigil/ingest/corpus"
)

// FuzzLoad feeds arbitrary bytes to the loader as one rule file, seeded
// with this package's test rules, a few valid rules and YAML rule files of
// other formats from the corpus: it must never panic, must report problems as Diagnostics naming the file, and the
// rules it accepts must evaluate and render without panicking.
func FuzzLoad(f *testing.F) {
	err := fs.WalkDir(os.DirFS("testdata"), ".", func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(p, ".yaml") {
			b, err := os.ReadFile("testdata/" + p)
			if err != nil {
				return err
			}
			f.Add(b)
		}
		return err
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("id: a\ntitle: A\nseverity: low\nlog_types: [vpcflow]\nwhen: cidr_match(srcaddr, '10.0.0.0/8') && dstport in [22, 3389]\n"))
	f.Add([]byte("macro: m\nwhen: x == 1\n---\nid: b\ntitle: B\nseverity: info\nlog_types: [auditd]\nwhen: m || get(records, 'SYSCALL.0.exe') == '/bin/sh'\nsummary: '{{ exe | default \"?\" }}'\n"))
	f.Add([]byte(correlateRules))
	f.Add([]byte("id: d\ntitle: D\nseverity: low\nlog_types: [cloudtrail]\ngroup_by: [a]\ncorrelate: {type: absence, within: 15m, steps: [{name: x, when: a == 1}, {name: y, when: a == 2, key: [{a: 'a ?? 0'}]}]}\n"))
	f.Add([]byte("list: l\nitems: [1, a]\n---\nid: c\ntitle: C\nseverity: critical\nlog_types: [k8saudit]\nwhen: in_list('l', verb) && any(user.groups, # == 'system:masters')\nsuppress: {key: [user.username], for: 2d}\n"))
	fields := map[string]any{
		"eventName": "X", "x": 1.0, "verb": "a", "srcaddr": "10.1.1.1", "dstport": 22,
		"user":    map[string]any{"username": "u", "groups": []any{"system:masters"}},
		"records": map[string]any{"SYSCALL": []any{map[string]any{"exe": "/bin/sh"}}},
	}
	// Foreign rule formats (Sigma, Falco) are YAML of other shapes: the
	// loader must reject them cleanly.
	seeded := 0
	for _, dir := range []string{"sigma", "falco-k8s-audit"} {
		root := corpus.Path(f, dir)
		err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || seeded >= 60 || !(strings.HasSuffix(p, ".yml") || strings.HasSuffix(p, ".yaml")) {
				return err
			}
			b, err := os.ReadFile(p)
			if err == nil && len(b) < 64<<10 {
				f.Add(b)
				seeded++
			}
			return err
		})
		if err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := Load(fstest.MapFS{"f.yaml": {Data: data}})
		if err != nil {
			var ds Diagnostics
			if !errors.As(err, &ds) || len(ds) == 0 {
				t.Fatalf("error is not Diagnostics: %v", err)
			}
			for _, d := range ds {
				if d.Pos.File != "f.yaml" {
					t.Fatalf("diagnostic without the file: %v", d)
				}
			}
		}
		for _, r := range set.Rules {
			r.Eval(fields)
			r.Eval(nil)
			r.RenderSummary(fields)
			r.GroupKey(fields)
			r.SuppressKey(fields)
			r.Constraint()
		}
		Lint(set)
	})
}
