package rules

import (
	"slices"
	"testing"
	"testing/fstest"
	"time"
)

const correlateRules = `id: seq
title: T
severity: low
log_types: [cloudtrail, vpcflow]
correlate:
  type: sequence
  within: 1h
  steps:
    - name: launch
      log_types: [cloudtrail]
      when: eventName == "RunInstances"
      key: [{ip: 'map(responseElements.items ?? [], .ip)'}]
    - name: flow
      log_types: [vpcflow]
      when: dstport == 3333
      key: [{ip: srcaddr}]
---
id: seen
title: T
severity: low
log_types: [cloudtrail]
when: 'true'
group_by: [recipientAccountId, {who: 'userIdentity.sessionContext.sessionIssuer.arn ?? userIdentity.arn'}]
correlate: {type: first_seen, field: 'lower(awsRegion)'}
tests:
  - name: t
    logs: [{eventName: A}, {eventName: B}]
    expect: [{rule: seen, group_key: "who=x", count: 2}, {group_key: "who=y"}]
`

func TestCorrelateLoad(t *testing.T) {
	set, err := Load(fstest.MapFS{"c.yaml": {Data: []byte(correlateRules)}})
	if err != nil {
		t.Fatal(err)
	}
	seq := set.Rule("seq")
	c := seq.Correlate
	if c == nil || c.Type != CorrelateSequence || c.Within != time.Hour || len(c.Steps) != 2 || c.Span() != time.Hour {
		t.Fatalf("sequence %+v", c)
	}
	if seq.When != `(eventName == "RunInstances") || (dstport == 3333)` || !slices.Equal(seq.GroupBy, []string{"ip"}) {
		t.Errorf("when %q, group_by %v", seq.When, seq.GroupBy)
	}
	launch := map[string]any{"eventName": "RunInstances", "responseElements": map[string]any{"items": []any{
		map[string]any{"ip": "10.0.0.2"}, map[string]any{"ip": "10.0.0.1"}, map[string]any{"ip": "10.0.0.2"}, map[string]any{}}}}
	if ok, err := c.Steps[0].Eval(launch); !ok || err != nil {
		t.Errorf("launch step: %v %v", ok, err)
	}
	keys, err := c.Steps[0].Keys(launch)
	if err != nil || !slices.Equal(keys, []string{"ip=10.0.0.1", "ip=10.0.0.2"}) {
		t.Errorf("launch keys %q %v", keys, err)
	}
	if keys, _ := c.Steps[1].Keys(map[string]any{"srcaddr": "10.0.0.1"}); !slices.Equal(keys, []string{"ip=10.0.0.1"}) {
		t.Errorf("flow keys %q", keys)
	}
	if keys, _ := c.Steps[1].Keys(map[string]any{}); keys != nil {
		t.Errorf("an event without the key value gave keys %q", keys)
	}

	seen := set.Rule("seen")
	c = seen.Correlate
	if c.Learn != DefaultLearn || c.Forget != DefaultForget || c.Span() != 0 {
		t.Errorf("first_seen defaults %+v", c)
	}
	ev := map[string]any{"awsRegion": "EU-WEST-1", "recipientAccountId": 111122223333.0, "userIdentity": map[string]any{"arn": "a",
		"sessionContext": map[string]any{"sessionIssuer": map[string]any{"arn": "role/r"}}}}
	if v, ok, err := c.Value(ev); v != "eu-west-1" || !ok || err != nil {
		t.Errorf("value %q %v %v", v, ok, err)
	}
	if keys, _ := seen.GroupKeys(ev); !slices.Equal(keys, []string{"recipientAccountId=111122223333,who=role/r"}) {
		t.Errorf("group keys %q", keys)
	}
	if k := seen.GroupKey(ev); k != "recipientAccountId=111122223333,who=role/r" {
		t.Errorf("group key %q", k)
	}
	want := []ExpectedAlert{{Rule: "seen", GroupKey: "who=x", Count: 2}, {GroupKey: "who=y"}}
	got := seen.Tests[0].Alerts
	if seen.Tests[0].Expect != 2 || len(got) != 2 || got[0].Rule != want[0].Rule || got[0].Count != 2 || got[1].GroupKey != "who=y" {
		t.Errorf("expected alerts %+v", got)
	}
}
