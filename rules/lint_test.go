package rules

import (
	"os"
	"strings"
	"testing"
)

func TestLint(t *testing.T) {
	set, err := Load(os.DirFS("testdata"), "lint")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`lint/lint.yaml:5:1: warning: rule lint-fields: when: field evntName does not exist in cloudtrail records`,
		`lint/lint.yaml:5:1: warning: rule lint-fields: when: field userIdentity.sesionContext does not exist in cloudtrail records`,
		`lint/lint.yaml:6:1: warning: rule lint-fields: group_by: field recipientAccountID does not exist in cloudtrail records`,
		`lint/lint.yaml:7:1: warning: rule lint-fields: summary: field sourceIp does not exist in cloudtrail records`,
		`lint/lint.yaml:13:1: warning: rule lint-regex: when: regex "(?i).*(curl|wget).*": unanchored case-insensitive alternation is slow; prefer lower(x) contains "a" || lower(x) contains "b" (or in_list)`,
		`lint/lint.yaml:13:1: warning: rule lint-regex: when: regex "^/tmp/.*": leading or trailing .* is redundant (matches searches the whole string) and costs a scan; drop it`,
		`lint/lint.yaml:13:1: warning: rule lint-regex: when: regex ".*miner": leading or trailing .* is redundant (matches searches the whole string) and costs a scan; drop it`,
		`lint/lint.yaml:13:1: warning: rule lint-regex: when: matches with a pattern that is not a constant compiles it at every evaluation`,
		`lint/lint.yaml:27:1: warning: rule lint-staging-off: mode: staging has no effect while enabled is false (the rule is not evaluated); remove one of them`,
	}
	got := strings.Split(Lint(set).Error(), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestKnownField(t *testing.T) {
	tests := []struct {
		typ, path string
		want      bool
	}{
		{"cloudtrail", "userIdentity.sessionContext.sessionIssuer.arn", true},
		{"cloudtrail", "requestParameters.anything.below", true},
		{"cloudtrail", "userIdentity.nope", false},
		{"k8saudit", "objectRef.subresource", true},
		{"k8saudit", "responseObject.spec.x", true},
		{"vpcflow", "dstport", true},
		{"vpcflow", "dst_port", false},
		{"auditd", "records.SYSCALL", true},
		{"auditd", "eventName", false},
	}
	for _, tt := range tests {
		if got := KnownField(tt.typ, tt.path); got != tt.want {
			t.Errorf("KnownField(%s, %s) = %v", tt.typ, tt.path, got)
		}
	}
}
