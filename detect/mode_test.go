package detect

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestAlertMode checks that the alerts of a staging rule carry its mode,
// when they open and when they close, and that an enabled rule's alerts
// (and their JSON) have none. (The alerts of suppressed rules are the
// correlator's: see correlate's TestSuppressedAlertMode.)
func TestAlertMode(t *testing.T) {
	rs := loadRules(t,
		rule("live", "cloudtrail", `eventName == "X"`),
		rule("trial", "cloudtrail", `eventName == "X"`, "mode: staging"),
	)
	m, err := New(rs, Config{})
	if err != nil {
		t.Fatal(err)
	}
	opened := m.Match(event("e1", "cloudtrail", 0, map[string]any{"eventName": "X"}))
	m.Match(event("e2", "cloudtrail", 1, map[string]any{"eventName": "X"}))
	closed := m.Flush()
	want := map[string]string{"live": "", "trial": "staging"}
	if len(opened) != 2 {
		t.Fatalf("opened %v, want the two rules", ruleIDs(opened))
	}
	for _, as := range [][]*Alert{opened, closed} {
		for _, a := range as {
			if a.Mode != want[a.RuleID] || a.Staging() != (want[a.RuleID] == "staging") {
				t.Errorf("alert of %s: mode %q, Staging() %v; want %q", a.RuleID, a.Mode, a.Staging(), want[a.RuleID])
			}
			b, err := json.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			if has := strings.Contains(string(b), `"mode":"staging"`); has != a.Staging() {
				t.Errorf("alert of %s: JSON %s", a.RuleID, b)
			}
			if a.RuleID == "live" && strings.Contains(string(b), `"mode"`) {
				t.Errorf("an enabled rule's alert names a mode: %s", b)
			}
		}
	}
}
