package rules

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"bad/unknown_key.yaml", []string{
			`bad/unknown_key.yaml:1:1: rule: missing required key "severity"`,
			`bad/unknown_key.yaml:3:1: rule: unknown key "sevrity"`,
		}},
		{"bad/wrong_types.yaml", []string{
			`bad/wrong_types.yaml:2:8: title: expected a string, got a list`,
			`bad/wrong_types.yaml:4:12: log_types: expected a list, got a string`,
			`bad/wrong_types.yaml:6:10: enabled: expected true or false, got a string`,
			`bad/wrong_types.yaml:7:10: version: expected an integer, got a string`,
			`bad/wrong_types.yaml:8:12: tags: expected a string item, got a mapping`,
			`bad/wrong_types.yaml:9:7: mode: expected a string, got a boolean`,
		}},
		{"bad/bad_values.yaml", []string{
			`bad/bad_values.yaml:1:5: id: "Bad_ID" must match ^[a-z0-9][a-z0-9-]*$`,
			`bad/bad_values.yaml:3:11: severity: "urgent" is not one of info, low, medium, high, critical`,
			`bad/bad_values.yaml:4:25: log_types: "syslog" is not one of cloudtrail, vpcflow, k8saudit, auditd`,
			`bad/bad_values.yaml:6:44: suppress.for: invalid duration "5x" (use e.g. 30s, 15m, 1h, 2d)`,
			`bad/bad_values.yaml:7:12: group_by: "user identity" is not a field path (names joined by dots)`,
			`bad/bad_values.yaml:8:10: summary: unclosed {{`,
			`bad/bad_values.yaml:9:7: mode: "stage" is not one of enabled, staging`,
		}},
		{"bad/duplicate.yaml", []string{
			`bad/duplicate.yaml:7:5: id: duplicate rule id "aws-dup" (first defined at bad/duplicate.yaml:1:5)`,
			`bad/duplicate.yaml:9:1: rule: duplicate key "title" (first at line 8)`,
		}},
		{"bad/bad_expr.yaml", []string{
			`bad/bad_expr.yaml:2:1: macro loop_a: cycle loop_a -> loop_b -> loop_a`,
			`bad/bad_expr.yaml:5:1: macro loop_b: cycle loop_b -> loop_a -> loop_b`,
			`bad/bad_expr.yaml:11:1: rule aws-bad-syntax: when: unexpected token EOF (expression line 1, column 12)`,
			`bad/bad_expr.yaml:17:1: rule aws-unknown-list: when: in_list: unknown list "nope"`,
			`bad/bad_expr.yaml:23:1: rule aws-range: when: the range operator .. is not allowed`,
			`bad/bad_expr.yaml:29:1: rule aws-repeat: when: unknown function repeat`,
			`bad/bad_expr.yaml:35:1: rule aws-bad-cidr: when: cidr_match: invalid CIDR "10.0.0.0/33"`,
			`bad/bad_expr.yaml:56:1: macro m4: when: expression exceeds 2000 nodes after macro expansion`,
			`bad/bad_expr.yaml:59:1: macro m5: when: uses macro m4, which has errors`,
			`bad/bad_expr.yaml:62:1: macro m6: when: uses macro m5, which has errors`,
			`bad/bad_expr.yaml:65:1: macro m7: when: uses macro m6, which has errors`,
			`bad/bad_expr.yaml:68:1: macro m8: when: uses macro m7, which has errors`,
			`bad/bad_expr.yaml:71:1: macro m9: when: uses macro m8, which has errors`,
			`bad/bad_expr.yaml:74:1: macro m10: when: uses macro m9, which has errors`,
			`bad/bad_expr.yaml:77:1: macro m11: when: uses macro m10, which has errors`,
			`bad/bad_expr.yaml:80:1: macro m12: when: uses macro m11, which has errors`,
			`bad/bad_expr.yaml:83:1: macro m13: when: uses macro m12, which has errors`,
			`bad/bad_expr.yaml:86:1: macro m14: when: uses macro m13, which has errors`,
			`bad/bad_expr.yaml:89:1: macro m15: when: uses macro m14, which has errors`,
			`bad/bad_expr.yaml:95:1: rule aws-macro-bomb: when: uses macro m15, which has errors`,
		}},
		{"bad/syntax.yaml", []string{
			`bad/syntax.yaml:1:1: yaml: did not find expected ',' or ']'`,
		}},
		{"bad/tests.yaml", []string{
			`bad/tests.yaml:7:5: test: needs exactly one of log, logs, file`,
			`bad/tests.yaml:9:11: file: no such file or directory`,
			`bad/tests.yaml:11:5: test: missing required key "expect"`,
			`bad/tests.yaml:14:10: log: expected a mapping or a string of raw lines, got a list`,
			`bad/tests.yaml:15:13: expect: must not be negative`,
			`bad/tests.yaml:16:5: test: missing required key "name"`,
		}},
		{"bad/correlate.yaml", []string{
			`bad/correlate.yaml:6:19: correlate.type: "burst" is not one of count, distinct, sequence, first_seen, absence`,
			`bad/correlate.yaml:13:38: correlate.within: not used by type count`,
			`bad/correlate.yaml:13:61: correlate.threshold: must be between 1 and 1000`,
			`bad/correlate.yaml:19:1: when: absence rules have no when; their steps carry the conditions`,
			`bad/correlate.yaml:24:5: correlate.steps: absence takes exactly 2 steps (the event, then the one that must follow), got 3`,
			`bad/correlate.yaml:25:63: log_types: "vpcflow" is not one of the rule's log types`,
			`bad/correlate.yaml:33:41: group_by: expected a field path or {name: expression}, got a list`,
			`bad/correlate.yaml:34:1: suppress: a correlation rule folds its matches by itself; remove suppress`,
			`bad/correlate.yaml:37:52: rule: "other" is not the rule under test (rule c-keys)`,
			`bad/correlate.yaml:37:66: count: must be at least 1`,
			`bad/correlate.yaml:44:18: rule c-exprs: key who: unexpected token EOF (expression line 1, column 18)`,
			`bad/correlate.yaml:45:1: rule c-exprs: correlate.field: unexpected token EOF (expression line 1, column 4)`,
		}},
		{"bad/documents.yaml", []string{
			`bad/documents.yaml:1:1: document: expected a mapping with id, macro or list, got a list`,
			`bad/documents.yaml:3:1: document: has none of the keys id (a rule), macro, list`,
			`bad/documents.yaml:5:1: document: has more than one of the keys id, macro, list`,
			`bad/documents.yaml:9:12: items: expected a string or number, got a mapping`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			set, err := Load(os.DirFS("testdata"), tt.file)
			var ds Diagnostics
			if !errors.As(err, &ds) {
				t.Fatalf("want Diagnostics, got %v", err)
			}
			got := strings.Split(ds.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for _, r := range set.Rules {
				if r.program == nil {
					t.Errorf("rule %s kept without a program", r.ID)
				}
			}
		})
	}
}

func TestLoadValid(t *testing.T) {
	set, err := Load(os.DirFS("testdata"), "valid")
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Rules) != 2 || len(set.Macros) != 2 || len(set.Lists) != 2 {
		t.Fatalf("got %d rules, %d macros, %d lists", len(set.Rules), len(set.Macros), len(set.Lists))
	}
	r := set.Rule("aws-console-login-no-mfa")
	if r == nil || !r.Enabled || r.Version != 1 || r.Suppress.For != time.Hour ||
		strings.Join(r.GroupBy, ",") != "userIdentity.arn" || len(r.Tests) != 3 {
		t.Fatalf("unexpected rule %+v", r)
	}
	if r.Pos.String() != "valid/rules.yaml:8:1" || r.WhenPos.String() != "valid/rules.yaml:12:1" {
		t.Errorf("positions %s %s", r.Pos, r.WhenPos)
	}
	f, err := r.Tests[2].Open()
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	f.Close()
	n := set.Rule("net-miner-port")
	if n.Enabled || n.Version != 2 {
		t.Errorf("enabled/version not read: %+v", n)
	}
	ports := set.Lists["miner_ports"]
	if strings.Join(ports.Items, ",") != "3333,4444,14444" || !ports.Contains("4444") {
		t.Errorf("list file items %q", ports.Items)
	}
}

func TestLoadMode(t *testing.T) {
	const rule = "id: %s\ntitle: T\nseverity: low\nlog_types: [cloudtrail]\nwhen: eventName == \"X\"\n"
	fsys := fstest.MapFS{
		"default.yaml": {Data: []byte(fmt.Sprintf(rule, "r-default"))},
		"enabled.yaml": {Data: []byte(fmt.Sprintf(rule, "r-enabled") + "mode: enabled\n")},
		"staging.yaml": {Data: []byte(fmt.Sprintf(rule, "r-staging") + "mode: staging\n")},
		"off.yaml":     {Data: []byte(fmt.Sprintf(rule, "r-off") + "mode: staging\nenabled: false\n")},
	}
	set, err := Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"r-default": ModeEnabled, "r-enabled": ModeEnabled, "r-staging": ModeStaging, "r-off": ModeStaging} {
		if r := set.Rule(id); r == nil || r.Mode != want {
			t.Errorf("rule %s: mode %+v, want %q", id, r, want)
		}
	}
	if r := set.Rule("r-off"); r.Enabled {
		t.Error("r-off: enabled: false not read beside mode")
	}
}

func TestLoadPaths(t *testing.T) {
	set, err := LoadPaths("testdata/valid/rules.yaml", "testdata/valid/lists.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Rules) != 2 {
		t.Fatalf("got %d rules", len(set.Rules))
	}
	_, err = LoadPaths("testdata/bad/unknown_key.yaml")
	if err == nil || !strings.HasPrefix(err.Error(), "testdata/bad/unknown_key.yaml:1:1: ") {
		t.Errorf("want a cwd-relative position, got %v", err)
	}
}

func TestLoadFS(t *testing.T) {
	fsys := fstest.MapFS{
		"aws/a.yml":           {Data: []byte("id: a\ntitle: A\nseverity: info\nlog_types: [cloudtrail]\nwhen: in_list('l', eventName)\n")},
		"aws/testdata/x.json": {Data: []byte("{}")},
		"lists/l.yaml":        {Data: []byte("list: l\nfile: ../lists/l.txt\n")},
		"lists/l.txt":         {Data: []byte("A\nB\n")},
		"README.md":           {Data: []byte("not a rule")},
	}
	set, err := Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Rules) != 1 || len(set.Lists["l"].Items) != 2 {
		t.Fatalf("got %+v", set)
	}
	if _, err := Load(fsys, "missing"); err == nil || err.Error() != "missing: file does not exist" {
		t.Errorf("missing path: %v", err)
	}
}
