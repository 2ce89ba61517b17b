package correlate

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/rules"
)

// loginRule suppresses console logins per user for an hour; its alerts
// are grouped by user and address.
const loginRule = `id: login
title: console login
severity: low
log_types: [cloudtrail]
when: eventName == "ConsoleLogin"
suppress: {key: [userIdentity.arn], for: 1h}
group_by: [userIdentity.arn, sourceIPAddress]
summary: 'login of {{ userIdentity.arn }}'`

func login(id string, at time.Duration, who string) *ingest.Event {
	return ct(id, at, map[string]any{"eventName": "ConsoleLogin", "userIdentity": map[string]any{"arn": who},
		"sourceIPAddress": "192.0.2.1"})
}

// tick is an event that matches nothing: it only moves event time.
func tick(at time.Duration) *ingest.Event {
	return ct(fmt.Sprintf("tick-%d", at), at, map[string]any{"eventName": "Other"})
}

// briefTimes renders alerts as brief does, with first and last time.
func briefTimes(as []*detect.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, fmt.Sprintf("%s count=%d %s %s..%s", a.GroupKey, a.Count, strings.Join(a.EventIDs, ","),
			a.FirstTime.Sub(t0), a.LastTime.Sub(t0)))
	}
	return out
}

// TestSuppression checks the suppression semantics the matcher had when
// it held the periods: the first match opens an alert at once, later
// matches of the key within the period fold in, the period closes when the
// newest event time reaches its end (or a later match of the key comes),
// and a cap closes the period due first.
func TestSuppression(t *testing.T) {
	const alice = "userIdentity.arn=alice,sourceIPAddress=192.0.2.1"
	const bob = "userIdentity.arn=bob,sourceIPAddress=192.0.2.1"
	tests := []struct {
		name    string
		cfg     Config
		evs     []*ingest.Event
		opened  []string // after the events, before Flush
		closed  []string // before Flush
		flushed []string // by Flush
		evicted uint64
	}{
		{name: "fold within the period", cfg: Config{MaxEventIDs: 2},
			evs: []*ingest.Event{login("a1", 0, "alice"), login("a2", 10*time.Minute, "alice"),
				login("a3", 5*time.Minute, "alice"), login("a4", 59*time.Minute, "alice")},
			opened:  []string{alice + " count=1 a1 0s..0s"},
			flushed: []string{alice + " count=4 a1,a2 0s..59m0s"}},
		{name: "earlier match within the period moves first_time", cfg: Config{},
			evs:     []*ingest.Event{login("a1", 10*time.Minute, "alice"), login("a0", 0, "alice")},
			opened:  []string{alice + " count=1 a1 10m0s..10m0s"},
			flushed: []string{alice + " count=2 a1,a0 0s..10m0s"}},
		{name: "the same event twice counts once", cfg: Config{},
			evs:     []*ingest.Event{login("a1", 0, "alice"), login("a2", time.Minute, "alice"), login("a1", 0, "alice")},
			opened:  []string{alice + " count=1 a1 0s..0s"},
			flushed: []string{alice + " count=2 a1,a2 0s..1m0s"}},
		{name: "a match at the period's end opens a new alert", cfg: Config{},
			evs:     []*ingest.Event{login("a1", 0, "alice"), login("a2", time.Hour, "alice")},
			opened:  []string{alice + " count=1 a1 0s..0s", alice + " count=1 a2 1h0m0s..1h0m0s"},
			closed:  []string{alice + " count=1 a1 0s..0s"},
			flushed: []string{alice + " count=1 a2 1h0m0s..1h0m0s"}},
		{name: "event time closes the period", cfg: Config{},
			evs: []*ingest.Event{login("a1", 0, "alice"), login("b1", 30*time.Minute, "bob"),
				login("a2", 59*time.Minute, "alice"), tick(time.Hour)},
			opened:  []string{alice + " count=1 a1 0s..0s", bob + " count=1 b1 30m0s..30m0s"},
			closed:  []string{alice + " count=2 a1,a2 0s..59m0s"},
			flushed: []string{bob + " count=1 b1 30m0s..30m0s"}},
		{name: "a late match after the close opens a new alert", cfg: Config{},
			evs:     []*ingest.Event{login("a1", 0, "alice"), tick(time.Hour), login("a2", 30*time.Minute, "alice")},
			opened:  []string{alice + " count=1 a1 0s..0s", alice + " count=1 a2 30m0s..30m0s"},
			closed:  []string{alice + " count=1 a1 0s..0s"},
			flushed: []string{alice + " count=1 a2 30m0s..30m0s"}},
		{name: "the cap closes the period due first", cfg: Config{MaxOpen: 1},
			evs:     []*ingest.Event{login("a1", 0, "alice"), login("b1", time.Minute, "bob"), login("a2", 2*time.Minute, "alice")},
			opened:  []string{alice + " count=1 a1 0s..0s", bob + " count=1 b1 1m0s..1m0s", alice + " count=1 a2 2m0s..2m0s"},
			closed:  []string{alice + " count=1 a1 0s..0s", bob + " count=1 b1 1m0s..1m0s"},
			flushed: []string{alice + " count=1 a2 2m0s..2m0s"}, evicted: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPipeline(t, loadRules(t, loginRule), tt.cfg)
			p.feed(t, tt.evs...)
			if got := briefTimes(p.opened); !slices.Equal(got, tt.opened) {
				t.Errorf("opened:\n got %q\nwant %q", got, tt.opened)
			}
			if got := briefTimes(p.closed); !slices.Equal(got, tt.closed) {
				t.Errorf("closed:\n got %q\nwant %q", got, tt.closed)
			}
			n := len(p.closed)
			if got := briefTimes(p.flush()[n:]); !slices.Equal(got, tt.flushed) {
				t.Errorf("flushed:\n got %q\nwant %q", got, tt.flushed)
			}
			// every period's alert keeps the ID it opened with
			ids := map[string]bool{}
			for _, a := range p.opened {
				ids[a.AlertID] = true
			}
			for _, a := range p.closed {
				if !ids[a.AlertID] {
					t.Errorf("closed alert %s (%s) never opened", a.AlertID, a.EventIDs[0])
				}
			}
			st := p.c.Stats()
			if st.Evicted != tt.evicted || st.Rules[0].Open != 0 || st.Rules[0].Alerts != uint64(len(tt.opened)) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestSuppressedAlert checks the fields of a suppressed rule's alert: the
// alert ID, group key and summary of its first match, the rule's title,
// severity, tags, version and mode.
func TestSuppressedAlert(t *testing.T) {
	rs := loadRules(t, loginRule+"\ntags: [t1]\nversion: 3\nmode: staging")
	p := newPipeline(t, rs, Config{})
	p.feed(t, login("a1", 0, "alice"))
	if len(p.opened) != 1 {
		t.Fatalf("opened %+v", p.opened)
	}
	a := p.opened[0]
	want := detect.Alert{AlertID: ingest.StableID("login", "userIdentity.arn=alice,sourceIPAddress=192.0.2.1", "a1"),
		RuleID: "login", Title: "console login", Severity: "low", Summary: "login of alice",
		GroupKey: "userIdentity.arn=alice,sourceIPAddress=192.0.2.1", FirstTime: t0, LastTime: t0, Count: 1,
		EventIDs: []string{"a1"}, Tags: []string{"t1"}, LogType: "cloudtrail", RuleVersion: 3, Mode: rules.ModeStaging}
	if fmt.Sprintf("%+v", *a) != fmt.Sprintf("%+v", want) {
		t.Errorf("alert\n got %+v\nwant %+v", *a, want)
	}
}

// periodEvents are logins of four users: alice and bob each have two
// periods with a quiet gap longer than the rebuild span between them, carol
// two with a late match, erin two back to back; ticks move event time in
// between.
func periodEvents() []*ingest.Event {
	m := time.Minute
	return []*ingest.Event{
		login("a1", 0, "alice"), login("a2", 5*m, "alice"), login("b1", 7*m, "bob"),
		login("a3", 20*m, "alice"), login("b2", 25*m, "bob"), tick(40 * m),
		login("c1", 45*m, "carol"), login("a4", 50*m, "alice"), tick(65 * m), login("b3", 66*m, "bob"),
		login("c2", 90*m, "carol"), tick(150 * m), login("c3", 100*m, "carol"), tick(200 * m),
		login("a5", 210*m, "alice"), login("b4", 215*m, "bob"), login("a6", 230*m, "alice"),
		login("b5", 240*m, "bob"), tick(250 * m), login("a7", 260*m, "alice"), tick(300 * m),
		// erin's second period follows her first within the lateness of
		// its end: a replay of one period would start inside the first.
		login("e1", 300*m, "erin"), login("e2", 340*m, "erin"), login("e3", 370*m, "erin"),
		login("e4", 400*m, "erin"), tick(420 * m), tick(500 * m),
	}
}

// finals runs the events without interruption and returns the final
// version of every alert by ID.
func finals(t *testing.T, rs []*rules.Rule, evs []*ingest.Event) map[string]string {
	p := newPipeline(t, rs, Config{})
	p.feed(t, evs...)
	out := map[string]string{}
	for _, a := range p.flush() {
		out[a.AlertID] = briefTimes([]*detect.Alert{a})[0]
	}
	if len(p.opened) != len(out) {
		t.Fatalf("%d alerts opened, %d closed", len(p.opened), len(out))
	}
	return out
}

// checkEmitted checks that every alert opened exactly once and that the
// last version emitted of each is the final one of the uninterrupted run.
func checkEmitted(t *testing.T, kill int, want map[string]string, opened map[string]int, last map[string]string) {
	t.Helper()
	if !slices.Equal(slices.Sorted(maps.Keys(opened)), slices.Sorted(maps.Keys(want))) {
		t.Fatalf("kill after %d: opened %v, want %v", kill, opened, slices.Sorted(maps.Keys(want)))
	}
	for id, a := range last {
		if _, ok := want[id]; !ok {
			t.Errorf("kill after %d: %s closed as %q, an alert the uninterrupted run has not", kill, id, a)
		}
	}
	for id, n := range opened {
		if n != 1 {
			t.Errorf("kill after %d: %s (%s) opened %d times", kill, id, want[id], n)
		}
		if last[id] != want[id] {
			t.Errorf("kill after %d: %s closed as %q, want %q", kill, id, last[id], want[id])
		}
	}
}

// TestSuppressionSnapshotRestore kills the pipeline after every event,
// restores the correlator from the snapshot taken with the last delivered
// batch and feeds it what was not delivered: every period has one alert ID,
// opened once, and its final version has the right count.
func TestSuppressionSnapshotRestore(t *testing.T) {
	rs := loadRules(t, loginRule)
	evs := periodEvents()
	want := finals(t, rs, evs)
	for kill := 1; kill < len(evs); kill++ {
		opened, last := map[string]int{}, map[string]string{}
		deliver := func(p *pipeline) {
			for _, a := range p.opened {
				opened[a.AlertID]++
			}
			for _, a := range p.closed {
				last[a.AlertID] = briefTimes([]*detect.Alert{a})[0]
			}
			p.opened, p.closed = nil, nil
		}
		p := newPipeline(t, rs, Config{})
		var snap bytes.Buffer
		const batch = 3
		committed := 0
		for i := 0; i < kill; i++ {
			p.feed(t, evs[i])
			if (i+1)%batch == 0 {
				deliver(p)
				snap.Reset()
				if err := p.c.Snapshot(&snap); err != nil {
					t.Fatal(err)
				}
				committed = i + 1
			}
		}
		q := newPipeline(t, rs, Config{})
		if snap.Len() > 0 {
			if err := q.c.Restore(&snap); err != nil {
				t.Fatal(err)
			}
		}
		q.feed(t, evs[committed:]...)
		q.flush()
		deliver(q)
		checkEmitted(t, kill, want, opened, last)
	}
}

// TestSuppressionRebuildByReplay restarts without a snapshot: the new
// correlator replays the input from Span (one period plus the lateness)
// before the committed position in rebuild mode, which emits nothing, then
// goes on. An alert whose period opened before the restart and closes after
// it closes with its ID and its full count; none opens twice.
func TestSuppressionRebuildByReplay(t *testing.T) {
	rs := loadRules(t, loginRule)
	evs := periodEvents()
	want := finals(t, rs, evs)
	for kill := 1; kill < len(evs); kill++ {
		opened, last := map[string]int{}, map[string]string{}
		deliver := func(p *pipeline) {
			for _, a := range p.opened {
				opened[a.AlertID]++
			}
			for _, a := range p.closed {
				last[a.AlertID] = briefTimes([]*detect.Alert{a})[0]
			}
			p.opened, p.closed = nil, nil
		}
		p := newPipeline(t, rs, Config{})
		p.feed(t, evs[:kill]...)
		deliver(p)
		q := newPipeline(t, rs, Config{})
		newest := evs[0].Time
		for _, ev := range evs[:kill] {
			if ev.Time.After(newest) { // the rebuild reads back from the newest time committed
				newest = ev.Time
			}
		}
		from := kill
		for from > 0 && !evs[from-1].Time.Before(newest.Add(-q.c.Span())) {
			from--
		}
		q.c.Replaying(true)
		q.feed(t, evs[from:kill]...)
		q.c.Replaying(false)
		if len(q.opened)+len(q.closed) > 0 {
			t.Fatalf("kill after %d: the rebuild emitted %q %q", kill, briefTimes(q.opened), briefTimes(q.closed))
		}
		q.feed(t, evs[kill:]...)
		q.flush()
		deliver(q)
		checkEmitted(t, kill, want, opened, last)
	}
}

// TestSuppressionSpan checks that twice the suppression period counts as a
// window in the span a rebuild replays.
func TestSuppressionSpan(t *testing.T) {
	c, err := New(loadRules(t, loginRule, deniedBurst), Config{Lateness: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Span(); got != 2*time.Hour+10*time.Minute {
		t.Errorf("span %v", got)
	}
	if c.Rules() != 2 {
		t.Errorf("%d rules", c.Rules())
	}
}

// TestSuppressionRestoreChangedRule restores periods into a new rule set
// (a reload): the periods of an unchanged rule carry over and go on
// folding; those of a rule whose version changed close with their count so
// far, returned by the next Advance.
func TestSuppressionRestoreChangedRule(t *testing.T) {
	other := strings.ReplaceAll(strings.ReplaceAll(loginRule, "id: login", "id: login2"), "ConsoleLogin", "Login2")
	p := newPipeline(t, loadRules(t, loginRule, other), Config{})
	p.feed(t, login("a1", 0, "alice"), login("a2", time.Minute, "alice"),
		ct("o1", 2*time.Minute, map[string]any{"eventName": "Login2", "userIdentity": map[string]any{"arn": "bob"}}))
	var snap bytes.Buffer
	if err := p.c.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	q := newPipeline(t, loadRules(t, loginRule, other+"\nversion: 2"), Config{})
	if err := q.c.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	q.feed(t, login("a3", 3*time.Minute, "alice"))
	if got, want := brief(q.closed), []string{"login2 userIdentity.arn=bob,sourceIPAddress= count=1 o1"}; !slices.Equal(got, want) {
		t.Errorf("closed by the reload: %q, want %q", got, want)
	}
	if len(q.opened) != 0 {
		t.Errorf("opened again: %q", brief(q.opened))
	}
	n := len(q.closed)
	if got, want := brief(q.flush()[n:]), []string{"login userIdentity.arn=alice,sourceIPAddress=192.0.2.1 count=3 a1,a2,a3"}; !slices.Equal(got, want) {
		t.Errorf("carried over: %q, want %q", got, want)
	}
}
