package rules

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestRegexLiterals(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		want    []string
	}{
		{`abc`, []string{"abc"}},
		{`acs.amazonaws.com/groups/global/(AllUsers|AuthenticatedUsers)|"(public-read|public-read-write|authenticated-read)"`,
			[]string{"com/groups/global/", "public-read", "authenticated-read"}},
		{`trufflehog|pacu|cloudfox`, []string{"trufflehog", "pacu", "cloudfox"}},
		{`(decrypt|ransom)[^/]*[.](txt|html?|hta)$`, []string{"decrypt", "ransom"}},
		{`^(Get|List|Describe|Head)`, []string{"Get", "List", "Describe", "Head"}},
		{`x(abc)+`, []string{"abc"}},
		{`(abc){2,3}`, []string{"abc"}},
		{`^10[.]`, []string{"10."}},
		{`x(ab)+`, nil},
		{`(?i)abc`, nil},
		{`a*`, nil},
		{`(ab)?cde`, []string{"cde"}},
		{`ab|c*`, nil},
		{`^[0-9]{1,3}([.][0-9]{1,3}){3}$`, nil},
		{`\x{FFFD}`, nil},
		{`(`, nil},
		{`a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q`, nil},
	} {
		got := regexLiterals(tc.pattern)
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("regexLiterals(%q) = %q, want %q", tc.pattern, got, want)
		}
	}
}

// TestPrefilterPatch checks that matches with a constant pattern gets the
// prefilter, that the results stay those of the pattern, and that a left
// side known not to be a string is still a compile error.
func TestPrefilterPatch(t *testing.T) {
	set := &Set{Macros: map[string]*Macro{}, Lists: map[string]*List{}}
	c, err := compileExpr(`lower(ua ?? "") matches "trufflehog|pacu" || ip matches "^[0-9]+[.]"`, set, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(c.program.Disassemble(), "OpCallTyped"); n != 1 {
		t.Errorf("%d typed calls (the prefilter), want 1:\n%s", n, c.program.Disassemble())
	}
	for _, tc := range []struct {
		fields map[string]any
		want   bool
	}{
		{map[string]any{"ua": "TruffleHog/3.0"}, true},
		{map[string]any{"ua": "aws-cli/2"}, false},
		{map[string]any{"ip": "10.1.2.3"}, true},
		{map[string]any{}, false},
	} {
		out, err := runProgram(c.program, tc.fields)
		if err != nil || out != tc.want {
			t.Errorf("%v: %v, %v; want %v", tc.fields, out, err, tc.want)
		}
	}
	if _, err := compileExpr(`1 matches "a"`, set, nil); err == nil {
		t.Error("1 matches \"a\" compiled")
	}
}

// FuzzRegexLiterals checks that a string containing none of a pattern's
// literals never matches it.
func FuzzRegexLiterals(f *testing.F) {
	for _, s := range [][2]string{
		{`acs.amazonaws.com/groups/global/(AllUsers|AuthenticatedUsers)|"(public-read|public-read-write|authenticated-read)"`, `{"acl":"public-read"}`},
		{`(decrypt|ransom|restore_files)[^/]*[.](txt|html?|hta)$`, "a/ransom_note.txt"},
		{`x(ab)+y|c{2}`, "xababy"},
		{`(?i:a)bc|de`, "Abc"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return
		}
		lits := regexLiterals(pattern)
		if lits == nil {
			return
		}
		out := prefilterFunc(s, lits)
		if got, want := re.MatchString(out.(string)), re.MatchString(s); got != want {
			t.Fatalf("%q on %q: %v after the prefilter (literals %q), %v without", pattern, s, got, lits, want)
		}
	})
}
