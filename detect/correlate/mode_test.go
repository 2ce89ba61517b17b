package correlate

import (
	"testing"
	"time"
)

// TestAlertMode checks that a correlation alert carries its rule's mode:
// staging for a staging rule, none for an enabled one.
func TestAlertMode(t *testing.T) {
	rs := loadRules(t, deniedBurst+"\nmode: staging", `id: denied-live
title: denied burst
severity: medium
log_types: [cloudtrail]
when: errorCode == "AccessDenied"
group_by: [userIdentity.arn]
correlate: {type: count, threshold: 3, window: 5m}`)
	p := newPipeline(t, rs, Config{})
	p.feed(t, denied("a", 0, "alice"), denied("b", time.Minute, "alice"), denied("c", 2*time.Minute, "alice"))
	as := p.flush()
	got := map[string]string{}
	for _, a := range append(p.opened, as...) {
		got[a.RuleID] = a.Mode
		if a.Staging() != (a.Mode == "staging") {
			t.Errorf("alert of %s: Staging() %v with mode %q", a.RuleID, a.Staging(), a.Mode)
		}
	}
	if m, ok := got["denied"]; !ok || m != "staging" {
		t.Errorf("staging rule's alert: mode %q (raised: %v), want staging", m, ok)
	}
	if m, ok := got["denied-live"]; !ok || m != "" {
		t.Errorf("enabled rule's alert: mode %q (raised: %v), want none", m, ok)
	}
}
