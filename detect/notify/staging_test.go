package notify

import (
	"context"
	"testing"
	"time"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/rules"
)

// stagingAlert is testAlert from a rule in mode: staging.
func stagingAlert(rule, key, ev string) *detect.Alert {
	a := testAlert(rule, key, ev)
	a.Mode = rules.ModeStaging
	return a
}

// TestStagingNotSent: Deliver sends nothing for a staging rule's alert,
// neither at once nor through a grouping window, records no delivery and
// counts it; an enabled rule's alert beside it is delivered.
func TestStagingNotSent(t *testing.T) {
	rc := newReceiver(t)
	clock := newFakeClock()
	c := webhookConfig(clock, rc.URL)
	grouped := &recorder{name: "grouped"}
	c.Extra = []Destination{grouped}
	c.Routes[0].Default, c.Routes[0].Match, c.Routes[0].Continue = false, Match{RuleIDs: []string{"*"}}, true
	c.Routes = append(c.Routes, Route{Name: "grouped", Match: Match{RuleIDs: []string{"*"}}, Destinations: []string{"grouped"},
		GroupWindow: time.Minute})
	log := NewMemoryLog()
	c.Log = log
	n := mustNew(t, c)
	ctx := context.Background()
	trial := stagingAlert("trial", "k=v", "e1")
	for _, a := range []*detect.Alert{trial, stagingAlert("trial", "k=v", "e2"), testAlert("live", "k=v", "e3")} {
		if err := n.Deliver(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got := rc.accepted(); len(got) != 1 || got[testAlert("live", "k=v", "e3").AlertID] != 1 {
		t.Errorf("webhook got %v, want only the live alert", got)
	}
	if sent := grouped.sent(); len(sent) != 1 || len(sent[0].AlertIDs) != 1 || sent[0].Alert.RuleID != "live" {
		t.Errorf("grouped route sent %d notifications (%+v), want one of the live alert", len(sent), sent)
	}
	for _, at := range log.Attempts() {
		if at.AlertID == trial.AlertID {
			t.Errorf("a delivery of the staging alert was recorded: %+v", at)
		}
	}
	if s := n.Stats(); s.SkippedStaging != 2 || s.Delivered != 2 {
		t.Errorf("stats %+v, want 2 skipped as staging and 2 delivered", s)
	}
}

// TestRunCommitsStaging: Run commits a staging rule's alerts without
// sending them, so they never hold the consumer back.
func TestRunCommitsStaging(t *testing.T) {
	rec := &recorder{name: "r"}
	n := mustNew(t, Config{Extra: []Destination{rec}, Routes: []Route{{Name: "all", Default: true, Destinations: []string{"r"}}}})
	runOverTopic(t, n, stagingAlert("trial", "", "e1"), testAlert("live", "", "e2"), stagingAlert("trial", "", "e3"))
	if sent := rec.sent(); len(sent) != 1 || sent[0].Alert.RuleID != "live" {
		t.Fatalf("sent %+v, want the live alert only", sent)
	}
	if s := n.Stats(); s.SkippedStaging != 2 {
		t.Errorf("SkippedStaging = %d, want 2", s.SkippedStaging)
	}
}
