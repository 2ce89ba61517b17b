package detect

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigilsec/vigil/ingest"
)

// TestFirstSeenSignalsThinned checks that the matcher sends a first_seen
// rule's signal for a (group key, value) pair once per forget/32 of event
// time (32 days / 32 = 1 day here), always for a new pair, and for one
// earlier than the last sent, so that the correlator sees every first
// sighting and a refresh at the pace it keeps itself.
func TestFirstSeenSignalsThinned(t *testing.T) {
	rs := loadRules(t, rule("region", "cloudtrail", `awsRegion != nil`,
		"group_by: [userIdentity.arn]", "correlate: {type: first_seen, field: awsRegion, learn: 1h, forget: 32d}"))
	var sigs []string
	m, err := New(rs, Config{Signal: func(s Signal) { sigs = append(sigs, s.EventID) }})
	if err != nil {
		t.Fatal(err)
	}
	call := func(id string, at time.Duration, who, region string) *ingest.Event {
		return event(id, "cloudtrail", at, map[string]any{"awsRegion": region, "userIdentity": map[string]any{"arn": who}})
	}
	evs := []*ingest.Event{call("first", 0, "alice", "eu-west-1")}
	for i := 1; i <= 100; i++ { // the same pair all day: nothing new
		evs = append(evs, call(fmt.Sprintf("dup%d", i), time.Duration(i)*10*time.Minute, "alice", "eu-west-1"))
	}
	evs = append(evs,
		call("other-region", 2*time.Hour, "alice", "us-east-1"),
		call("other-user", 2*time.Hour, "bob", "eu-west-1"),
		call("next-day", 25*time.Hour, "alice", "eu-west-1"),
		call("earlier", 24*time.Hour, "alice", "eu-west-1"), // before the last sent: sent
		call("same-day", 26*time.Hour, "alice", "eu-west-1"),
	)
	for _, ev := range evs {
		m.Match(ev)
	}
	want := []string{"first", "other-region", "other-user", "next-day", "earlier"}
	if fmt.Sprint(sigs) != fmt.Sprint(want) {
		t.Errorf("signals of %v, want %v", sigs, want)
	}
}
