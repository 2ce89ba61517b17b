package correlate

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/rules"
)

var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

// loadRules compiles rule YAML documents.
func loadRules(tb testing.TB, docs ...string) []*rules.Rule {
	tb.Helper()
	set, err := rules.Load(fstest.MapFS{"r.yaml": {Data: []byte(strings.Join(docs, "\n---\n"))}})
	if err != nil {
		tb.Fatal(err)
	}
	return set.Rules
}

const (
	deniedBurst = `id: denied
title: denied burst
severity: medium
log_types: [cloudtrail]
when: errorCode == "AccessDenied"
group_by: [{principal: 'userIdentity.sessionContext.sessionIssuer.arn ?? userIdentity.arn'}]
correlate: {type: count, threshold: 3, window: 5m}`
	recon = `id: recon
title: many services
severity: low
log_types: [cloudtrail]
when: eventName startsWith "List"
group_by: [userIdentity.arn]
correlate: {type: distinct, field: eventSource, threshold: 3, window: 10m}`
	newRegion = `id: new-region
title: first use of a region
severity: low
log_types: [cloudtrail]
when: 'true'
group_by: [userIdentity.arn]
correlate: {type: first_seen, field: awsRegion, learn: 1h, forget: 1d}`
	gpuMiner = `id: gpu-miner
title: GPU launch then mining
severity: high
log_types: [cloudtrail, vpcflow]
correlate:
  type: sequence
  within: 1h
  steps:
    - name: launch
      log_types: [cloudtrail]
      when: eventName == "RunInstances"
      key: [{ip: 'map(responseElements.instancesSet.items, .privateIpAddress)'}]
    - name: mining
      log_types: [vpcflow]
      when: dstport == 3333
      key: [{ip: srcaddr}]`
	trailStopped = `id: trail-stopped
title: trail stopped and not restarted
severity: high
log_types: [cloudtrail]
group_by: [requestParameters.name]
correlate:
  type: absence
  within: 15m
  steps:
    - {name: stopped, when: eventName == "StopLogging"}
    - {name: restarted, when: eventName == "StartLogging"}`
)

func ct(id string, at time.Duration, fields map[string]any) *ingest.Event {
	return &ingest.Event{ID: id, Type: ingest.TypeCloudTrail, Time: t0.Add(at), Fields: fields}
}

func flow(id string, at time.Duration, src string, port int) *ingest.Event {
	return &ingest.Event{ID: id, Type: ingest.TypeVPCFlow, Time: t0.Add(at),
		Fields: map[string]any{"srcaddr": src, "dstport": port}}
}

func denied(id string, at time.Duration, who string) *ingest.Event {
	return ct(id, at, map[string]any{"eventName": "GetObject", "errorCode": "AccessDenied",
		"userIdentity": map[string]any{"arn": who}})
}

func call(id string, at time.Duration, who, name, source, region string) *ingest.Event {
	return ct(id, at, map[string]any{"eventName": name, "eventSource": source, "awsRegion": region,
		"userIdentity": map[string]any{"arn": who}})
}

func trail(id string, at time.Duration, name, trail string) *ingest.Event {
	return ct(id, at, map[string]any{"eventName": name, "requestParameters": map[string]any{"name": trail}})
}

// pipeline runs events through a matcher and a correlator, advancing time
// with every event, and returns the closed alerts.
type pipeline struct {
	m       *detect.Matcher
	signals []detect.Signal // matched, not yet given to the correlator
	c       *Correlator
	opened  []*detect.Alert
	closed  []*detect.Alert
}

func newPipeline(tb testing.TB, rs []*rules.Rule, cfg Config) *pipeline {
	tb.Helper()
	p := &pipeline{}
	m, err := detect.New(rs, detect.Config{Signal: func(s detect.Signal) { p.signals = append(p.signals, s) }})
	if err != nil {
		tb.Fatal(err)
	}
	c, err := New(rs, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	p.m, p.c = m, c
	return p
}

func (p *pipeline) feed(tb testing.TB, evs ...*ingest.Event) {
	for _, ev := range evs {
		if as := p.m.Match(ev); len(as) > 0 {
			tb.Fatalf("correlation rule raised a single-event alert: %+v", as)
		}
		for _, s := range p.signals {
			if err := p.c.Add(s); err != nil {
				tb.Fatal(err)
			}
		}
		p.signals = p.signals[:0]
		o, c := p.c.Advance(ev.Time)
		p.opened, p.closed = append(p.opened, o...), append(p.closed, c...)
	}
}

func (p *pipeline) flush() []*detect.Alert {
	o, c := p.c.Flush()
	p.opened, p.closed = append(p.opened, o...), append(p.closed, c...)
	return p.closed
}

// brief renders alerts as "rule key count ids" lines, sorted.
func brief(as []*detect.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, fmt.Sprintf("%s %s count=%d %s", a.RuleID, a.GroupKey, a.Count, strings.Join(a.EventIDs, ",")))
	}
	slices.Sort(out)
	return out
}

func TestCorrelationTypes(t *testing.T) {
	alice, bob := "arn:aws:iam::111122223333:user/alice", "arn:aws:iam::111122223333:user/bob"
	tests := []struct {
		name  string
		rule  string
		input []*ingest.Event
		want  []string
	}{
		{"count fires at the threshold and folds the rest", deniedBurst, []*ingest.Event{
			denied("a1", 0, alice), denied("a2", time.Minute, alice), denied("b1", time.Minute, bob),
			denied("a3", 2*time.Minute, alice), denied("a4", 6*time.Minute, alice),
			denied("a5", 30*time.Minute, alice), // the window passed: a new window
		}, []string{"denied principal=" + alice + " count=4 a1,a2,a3,a4"}},
		{"count below the threshold within the window stays quiet", deniedBurst, []*ingest.Event{
			denied("a1", 0, alice), denied("a2", 4*time.Minute, alice), denied("a3", 10*time.Minute, alice),
			denied("b1", 11*time.Minute, bob),
		}, nil},
		{"count keys by the role behind a session", deniedBurst, []*ingest.Event{
			ct("s1", 0, map[string]any{"errorCode": "AccessDenied", "userIdentity": map[string]any{"arn": "sess/1",
				"sessionContext": map[string]any{"sessionIssuer": map[string]any{"arn": "role/r"}}}}),
			ct("s2", time.Second, map[string]any{"errorCode": "AccessDenied", "userIdentity": map[string]any{"arn": "sess/2",
				"sessionContext": map[string]any{"sessionIssuer": map[string]any{"arn": "role/r"}}}}),
			ct("s3", 2*time.Second, map[string]any{"errorCode": "AccessDenied", "userIdentity": map[string]any{"arn": "sess/3",
				"sessionContext": map[string]any{"sessionIssuer": map[string]any{"arn": "role/r"}}}}),
		}, []string{"denied principal=role/r count=3 s1,s2,s3"}},
		{"distinct counts values, not events", recon, []*ingest.Event{
			call("e1", 0, alice, "ListUsers", "iam", "eu-west-1"),
			call("e2", time.Minute, alice, "ListRoles", "iam", "eu-west-1"),
			call("e3", 2*time.Minute, alice, "ListBuckets", "s3", "eu-west-1"),
			call("e4", 3*time.Minute, bob, "ListKeys", "kms", "eu-west-1"),
			call("e5", 4*time.Minute, alice, "ListKeys", "kms", "eu-west-1"),
			call("e6", 5*time.Minute, alice, "ListTopics", "sns", "eu-west-1"),
		}, []string{"recon userIdentity.arn=" + alice + " count=4 e2,e3,e5,e6"}},
		{"distinct values outside the window do not add up", recon, []*ingest.Event{
			call("e1", 0, alice, "ListUsers", "iam", "eu-west-1"),
			call("e2", 6*time.Minute, alice, "ListBuckets", "s3", "eu-west-1"),
			call("e3", 12*time.Minute, alice, "ListKeys", "kms", "eu-west-1"),
		}, nil},
		{"first_seen learns, then fires once per new value", newRegion, []*ingest.Event{
			call("e1", 0, alice, "X", "s", "eu-west-1"),
			call("e2", 30*time.Minute, alice, "X", "s", "us-east-1"),
			call("e3", 2*time.Hour, alice, "X", "s", "us-east-1"),
			call("e4", 3*time.Hour, alice, "X", "s", "ap-south-1"),
			call("e5", 3*time.Hour+time.Minute, alice, "X", "s", "ap-south-1"),
			call("e6", 4*time.Hour, bob, "X", "s", "eu-west-1"),
		}, []string{
			"new-region userIdentity.arn=" + alice + " count=1 e4",
			"new-region userIdentity.arn=" + bob + " count=1 e6",
		}},
		{"first_seen forgets values unused for a day", newRegion, []*ingest.Event{
			call("e1", 0, alice, "X", "s", "eu-west-1"),
			call("e2", 2*time.Hour, alice, "X", "s", "us-east-1"),
			call("e3", 30*time.Hour, alice, "X", "s", "eu-west-1"),
		}, []string{
			"new-region userIdentity.arn=" + alice + " count=1 e2",
			"new-region userIdentity.arn=" + alice + " count=1 e3",
		}},
		{"sequence across log types, keyed per launched address", gpuMiner, []*ingest.Event{
			ct("run", 0, map[string]any{"eventName": "RunInstances", "responseElements": map[string]any{
				"instancesSet": map[string]any{"items": []any{
					map[string]any{"privateIpAddress": "10.0.12.34"}, map[string]any{"privateIpAddress": "10.0.12.57"}}}}}),
			flow("f1", 6*time.Minute, "10.0.12.34", 3333),
			flow("f2", 7*time.Minute, "10.0.12.34", 3333),
			flow("f3", 8*time.Minute, "10.0.99.9", 3333),
			flow("f4", 2*time.Hour, "10.0.12.57", 3333), // too late
		}, []string{"gpu-miner ip=10.0.12.34 count=2 run,f1"}},
		{"sequence steps out of order do not fire", gpuMiner, []*ingest.Event{
			flow("f1", 0, "10.0.12.34", 3333),
			ct("run", time.Minute, map[string]any{"eventName": "RunInstances", "responseElements": map[string]any{
				"instancesSet": map[string]any{"items": []any{map[string]any{"privateIpAddress": "10.0.12.34"}}}}}),
		}, nil},
		{"absence fires when the follow-up does not come", trailStopped, []*ingest.Event{
			trail("s1", 0, "StopLogging", "main"),
			trail("s2", time.Minute, "StopLogging", "main"),
			trail("s3", 2*time.Minute, "StopLogging", "other"),
			trail("r3", 10*time.Minute, "StartLogging", "other"),
			trail("x", 40*time.Minute, "DescribeTrails", "main"),
		}, []string{"trail-stopped requestParameters.name=main count=2 s1,s2"}},
		{"absence undecided at the end of input stays quiet", trailStopped, []*ingest.Event{
			trail("s1", 0, "StopLogging", "main"),
			trail("x", 5*time.Minute, "DescribeTrails", "main"),
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPipeline(t, loadRules(t, tt.rule), Config{})
			p.feed(t, tt.input...)
			got := brief(p.flush())
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if len(p.opened) != len(p.closed) {
				t.Errorf("%d opened, %d closed", len(p.opened), len(p.closed))
			}
		})
	}
}

func TestLateSignals(t *testing.T) {
	p := newPipeline(t, loadRules(t, deniedBurst), Config{Lateness: 10 * time.Minute})
	p.feed(t, denied("a1", time.Hour, "alice"), denied("old", 45*time.Minute, "alice"), denied("ok", 52*time.Minute, "alice"))
	p.flush()
	st := p.c.Stats()
	if st.Late != 1 || st.Rules[0].Late != 1 || st.Signals != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestCaps(t *testing.T) {
	p := newPipeline(t, loadRules(t, deniedBurst, newRegion), Config{MaxWindows: 2, MaxValues: 2, MaxEventIDs: 2})
	var evs []*ingest.Event
	for i := range 4 {
		evs = append(evs, denied(fmt.Sprint("d", i), time.Duration(i)*time.Second, fmt.Sprint("u", i)))
	}
	for i := range 5 {
		evs = append(evs, denied(fmt.Sprint("x", i), time.Minute+time.Duration(i)*time.Second, "burst"))
	}
	for i := range 3 {
		evs = append(evs, call(fmt.Sprint("r", i), 2*time.Minute+time.Duration(i)*time.Second, "u", "X", "s", fmt.Sprint("region-", i)))
	}
	p.feed(t, evs...)
	as := p.flush()
	st := p.c.Stats()
	if st.Rules[0].Evicted != 3 || st.Rules[1].Evicted == 0 {
		t.Errorf("evictions %+v", st.Rules)
	}
	if len(as) != 1 || as[0].Count != 5 || len(as[0].EventIDs) != 2 {
		t.Errorf("alerts %s", brief(as))
	}
}

// attack is a recorded multi-step story over all correlation types.
func attack() []*ingest.Event {
	alice := "arn:aws:iam::111122223333:user/alice"
	evs := []*ingest.Event{
		call("learn", 0, alice, "X", "s", "eu-west-1"),
		call("bglearn", time.Minute, "bob", "Describe", "ec2", "eu-west-1"),
		call("l1", 2*time.Hour, alice, "ListUsers", "iam", "eu-west-1"),
		call("l2", 2*time.Hour+10*time.Second, alice, "ListBuckets", "s3", "eu-west-1"),
		call("l3", 2*time.Hour+20*time.Second, alice, "ListKeys", "kms", "us-east-2"),
		denied("d1", 2*time.Hour+time.Minute, alice),
		denied("d2", 2*time.Hour+time.Minute, alice),
		denied("d3", 2*time.Hour+2*time.Minute, alice),
		trail("stop", 2*time.Hour+3*time.Minute, "StopLogging", "main"),
		ct("run", 2*time.Hour+4*time.Minute, map[string]any{"eventName": "RunInstances", "responseElements": map[string]any{
			"instancesSet": map[string]any{"items": []any{map[string]any{"privateIpAddress": "10.0.12.34"}}}}}),
		flow("f1", 2*time.Hour+9*time.Minute, "10.0.12.34", 3333),
		denied("d4", 2*time.Hour+10*time.Minute, alice),
	}
	for i := range 20 {
		evs = append(evs, call(fmt.Sprint("bg", i), 2*time.Hour+time.Duration(i)*3*time.Minute, "bob", "Describe", "ec2", "eu-west-1"))
	}
	slices.SortStableFunc(evs, func(a, b *ingest.Event) int { return a.Time.Compare(b.Time) })
	return evs
}

var allRules = []string{deniedBurst, recon, newRegion, gpuMiner, trailStopped}

// TestShuffleWithinLateness replays the attack in many arrival orders,
// each event displaced by less than the lateness, and expects the same
// alerts with the same IDs every time.
func TestShuffleWithinLateness(t *testing.T) {
	rs := loadRules(t, allRules...)
	run := func(evs []*ingest.Event) []string {
		p := newPipeline(t, rs, Config{Lateness: 15 * time.Minute})
		p.feed(t, evs...)
		var ids []string
		for _, a := range p.flush() {
			ids = append(ids, a.AlertID+" "+brief([]*detect.Alert{a})[0])
		}
		slices.Sort(ids)
		if st := p.c.Stats(); st.Late != 0 {
			t.Fatalf("%d late signals", st.Late)
		}
		return ids
	}
	want := run(attack())
	if len(want) != 5 {
		t.Fatalf("the attack raised %d alerts, want one per rule:\n%s", len(want), strings.Join(want, "\n"))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		evs := attack()
		// displace each event by up to 14 minutes: sort by a jittered time
		keys := make(map[*ingest.Event]time.Time, len(evs))
		for _, ev := range evs {
			keys[ev] = ev.Time.Add(time.Duration(rng.Int64N(int64(14 * time.Minute))))
		}
		slices.SortFunc(evs, func(a, b *ingest.Event) int { return keys[a].Compare(keys[b]) })
		if got := run(evs); !slices.Equal(got, want) {
			t.Fatalf("order %d: got\n%s\nwant\n%s", i, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// emitted collects what a pipeline delivered downstream.
type emitted struct{ opened map[string]int }

// TestSnapshotRestore kills the correlator after every batch of the
// attack, restores it from the snapshot taken with the last delivered
// batch, and expects exactly one alert per scenario overall.
func TestSnapshotRestore(t *testing.T) {
	rs := loadRules(t, allRules...)
	evs := attack()
	for kill := 1; kill < len(evs); kill++ {
		out := emitted{opened: map[string]int{}}
		deliver := func(p *pipeline) {
			for _, a := range p.opened {
				out.opened[a.RuleID+" "+a.AlertID]++
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
		// killed: what was not committed is lost, alerts included
		q := newPipeline(t, rs, Config{})
		if snap.Len() > 0 {
			if err := q.c.Restore(&snap); err != nil {
				t.Fatal(err)
			}
		}
		q.feed(t, evs[committed:]...)
		q.flush()
		deliver(q)
		if len(out.opened) != 5 {
			t.Fatalf("kill after %d: alerts %v", kill, out.opened)
		}
		for k, n := range out.opened {
			if n != 1 {
				t.Errorf("kill after %d: %s emitted %d times", kill, k, n)
			}
		}
	}
}

// TestRebuildByReplay restarts without a snapshot: the new correlator
// replays the input from Span before the committed position in rebuild
// mode, then goes on. The count, distinct, sequence and absence alerts
// come out exactly once (first_seen needs a snapshot and is left out).
func TestRebuildByReplay(t *testing.T) {
	rs := loadRules(t, deniedBurst, recon, gpuMiner, trailStopped)
	evs := attack()
	for kill := 1; kill < len(evs); kill++ {
		seen := map[string]int{}
		p := newPipeline(t, rs, Config{})
		p.feed(t, evs[:kill]...)
		for _, a := range p.opened {
			seen[a.AlertID]++
		}
		q := newPipeline(t, rs, Config{})
		from := kill
		for from > 0 && !evs[from-1].Time.Before(evs[kill-1].Time.Add(-q.c.Span())) {
			from--
		}
		q.c.Replaying(true)
		q.feed(t, evs[from:kill]...)
		q.c.Replaying(false)
		q.opened, q.closed = nil, nil
		q.feed(t, evs[kill:]...)
		q.flush()
		for _, a := range q.opened {
			seen[a.AlertID]++
		}
		if len(seen) != 4 {
			t.Fatalf("kill after %d: %d alerts", kill, len(seen))
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("kill after %d: %s emitted %d times", kill, id, n)
			}
		}
	}
}

func TestEventIDPacking(t *testing.T) {
	tab := newIDTable()
	for _, id := range []string{
		"0123456789abcdef0123456789abcdef", "3f1c2a4e-9b7d-4c1e-8f2a-6d5e4c3b2a19", "short",
		"3F1C2A4E-9B7D-4C1E-8F2A-6D5E4C3B2A19", "0123456789ABCDEF0123456789abcdef", "a-much-longer-identifier-of-some-source", "",
	} {
		ref := tab.ref(id)
		if got := tab.str(ref); got != id {
			t.Errorf("%q came back as %q", id, got)
		}
		tab.release(ref)
	}
	if len(tab.other) != 0 {
		t.Errorf("table keeps %d IDs", len(tab.other))
	}
}

func TestUnknownRule(t *testing.T) {
	c, err := New(loadRules(t, deniedBurst), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Add(detect.Signal{RuleID: "nope", Time: t0}); err == nil {
		t.Error("signal of an unknown rule accepted")
	}
}

// TestTimeMarks closes an absence on a correlator that reads only signals:
// a time mark is accepted and moves event time on.
func TestTimeMarks(t *testing.T) {
	rs := loadRules(t, trailStopped)
	p := newPipeline(t, rs, Config{})
	p.m.Match(trail("s1", 0, "StopLogging", "main"))
	c := p.c
	for _, s := range p.signals {
		if err := c.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	mark := detect.Signal{Time: t0.Add(40 * time.Minute)}
	if err := c.Add(mark); err != nil {
		t.Fatal(err)
	}
	opened, closed := c.Advance(mark.Time) // as a stage does with every message
	if len(opened) != 1 || len(closed) != 1 || opened[0].RuleID != "trail-stopped" {
		t.Errorf("opened %v, closed %v", brief(opened), brief(closed))
	}
}

func TestCapsPerType(t *testing.T) {
	rs := loadRules(t, recon, gpuMiner, trailStopped)
	p := newPipeline(t, rs, Config{MaxWindows: 1})
	p.feed(t,
		call("r1", 0, "a", "ListUsers", "iam", "eu-west-1"),
		call("r2", time.Second, "b", "ListUsers", "iam", "eu-west-1"),
		trail("s1", 0, "StopLogging", "one"),
		trail("s2", time.Second, "StopLogging", "two"),
		ct("run1", 0, map[string]any{"eventName": "RunInstances", "responseElements": map[string]any{
			"instancesSet": map[string]any{"items": []any{map[string]any{"privateIpAddress": "10.0.0.1"}, map[string]any{"privateIpAddress": "10.0.0.2"}}}}}),
		flow("f1", time.Minute, "10.0.0.1", 3333), // its partial sequence was evicted by 10.0.0.2's
		trail("x", time.Hour, "DescribeTrails", "none"),
	)
	got := brief(p.flush())
	want := []string{"trail-stopped requestParameters.name=two count=1 s2"}
	if !slices.Equal(got, want) {
		t.Errorf("alerts %q", got)
	}
	for _, r := range p.c.Stats().Rules {
		if r.Evicted != 1 {
			t.Errorf("rule %s: %d evicted", r.ID, r.Evicted)
		}
	}
}

// TestRestoreChangedRule drops the state of a rule whose version changed
// and keeps the others'.
func TestRestoreChangedRule(t *testing.T) {
	cfg := Config{Lateness: time.Second}
	p := newPipeline(t, loadRules(t, deniedBurst, trailStopped), cfg)
	p.feed(t, denied("d1", 0, "a"), denied("d2", time.Second, "a"), trail("s1", 0, "StopLogging", "main"),
		trail("x1", 10*time.Second, "DescribeTrails", "main"))
	var snap bytes.Buffer
	if err := p.c.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	q := newPipeline(t, loadRules(t, deniedBurst+"\nversion: 2", trailStopped), cfg)
	if err := q.c.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	if st := q.c.Stats(); st.Rules[0].Open != 0 || st.Rules[1].Open != 1 || st.Rules[1].Signals != 1 {
		t.Fatalf("restored stats %+v", st)
	}
	q.feed(t, denied("d3", 12*time.Second, "a"), trail("x2", time.Hour, "DescribeTrails", "main"))
	got := brief(q.flush())
	want := []string{"trail-stopped requestParameters.name=main count=1 s1"}
	if !slices.Equal(got, want) {
		t.Errorf("alerts %q", got)
	}
	if err := q.c.Restore(strings.NewReader("not a snapshot")); err == nil {
		t.Error("garbage restored")
	}
}

// TestFirstSeenQueueBounded feeds a first_seen rule a signal a minute for a
// day from one principal in one region: the value is learned once and its
// last-seen time refreshed about every Forget/32, so the expiry queue holds
// a few entries, not one per signal, and the value is still known.
func TestFirstSeenQueueBounded(t *testing.T) {
	p := newPipeline(t, loadRules(t, newRegion), Config{})
	for i := range 24 * 60 {
		p.feed(t, call(fmt.Sprintf("e%d", i), time.Duration(i)*time.Minute, "arn:aws:iam::1:user/alice", "X", "s", "eu-west-1"))
	}
	st := p.c.rules[0].st.(*seenState)
	if n := st.queue.len(); n > 40 {
		t.Errorf("%d queue entries for one value over a day of signals, want at most 40", n)
	}
	if st.size() != 1 {
		t.Errorf("%d values known, want 1", st.size())
	}
	// Back after two hours in the same region: still known, no alert.
	p.feed(t, call("late", 26*time.Hour, "arn:aws:iam::1:user/alice", "X", "s", "eu-west-1"))
	if len(p.opened) != 0 {
		t.Errorf("alerts for a known region: %v", p.opened)
	}
}
