package detect

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestSignals(t *testing.T) {
	rs := loadRules(t,
		rule("burst", "cloudtrail", `errorCode == "AccessDenied"`, "group_by: [userIdentity.arn]",
			"summary: '{{ eventName }}'", "correlate: {type: count, threshold: 3, window: 5m}"),
		rule("services", "cloudtrail", `eventName startsWith "List"`, "group_by: [userIdentity.arn]",
			"correlate: {type: distinct, field: eventSource, threshold: 3, window: 5m}"),
		rule("bad-key", "cloudtrail", `eventName == "Boom"`, "group_by: [{n: 'int(eventName)'}]",
			"correlate: {type: count, threshold: 2, window: 5m}"),
		`id: seq
title: seq
severity: low
log_types: [cloudtrail, vpcflow]
correlate:
  type: sequence
  within: 1h
  steps:
    - {name: a, log_types: [cloudtrail], when: eventName == "RunInstances", key: [{ip: 'map(items, .ip)'}]}
    - {name: b, log_types: [vpcflow], when: dstport == 3333, key: [{ip: srcaddr}]}`,
		rule("plain", "cloudtrail", `eventName == "ListUsers"`),
	)
	var got []Signal
	m, err := New(rs, Config{Signal: func(s Signal) { got = append(got, s) }})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		fields  map[string]any
		typ     string
		alerts  []string
		signals []string
	}{
		{"count", map[string]any{"eventName": "GetObject", "errorCode": "AccessDenied", "userIdentity": map[string]any{"arn": "u"}},
			"cloudtrail", nil, []string{"burst/0 userIdentity.arn=u  GetObject"}},
		{"distinct value and a plain rule", map[string]any{"eventName": "ListUsers", "eventSource": "iam", "userIdentity": map[string]any{"arn": "u"}},
			"cloudtrail", []string{"plain"}, []string{"services/0 userIdentity.arn=u iam services"}},
		{"no value, no signal", map[string]any{"eventName": "ListUsers", "userIdentity": map[string]any{"arn": "u"}},
			"cloudtrail", []string{"plain"}, nil},
		{"no key, no signal", map[string]any{"eventName": "GetObject", "errorCode": "AccessDenied"}, "cloudtrail", nil, nil},
		{"one signal per listed key", map[string]any{"eventName": "RunInstances", "items": []any{map[string]any{"ip": "b"}, map[string]any{"ip": "a"}}},
			"cloudtrail", nil, []string{"seq/0 ip=a  seq", "seq/0 ip=b  seq"}},
		{"a step of another log type", map[string]any{"srcaddr": "a", "dstport": 3333}, "vpcflow", nil, []string{"seq/1 ip=a  seq"}},
		{"key error", map[string]any{"eventName": "Boom"}, "cloudtrail", nil, nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alerts := ruleIDs(m.Match(event(fmt.Sprint("e", i), tt.typ, time.Duration(i)*time.Second, tt.fields)))
			var sigs []string
			sigs0 := got
			got = nil
			for _, s := range sigs0 {
				if s.EventID != fmt.Sprint("e", i) || s.LogType != tt.typ || !s.Time.Equal(t0.Add(time.Duration(i)*time.Second)) {
					t.Errorf("signal %+v", s)
				}
				sigs = append(sigs, fmt.Sprintf("%s/%d %s %s %s", s.RuleID, s.Step, s.GroupKey, s.Value, s.Summary))
			}
			if !slices.Equal(alerts, tt.alerts) || !slices.Equal(sigs, tt.signals) {
				t.Errorf("alerts %v signals %q", alerts, sigs)
			}
		})
	}
	for _, st := range m.Stats().Rules {
		if (st.Errors > 0) != (st.ID == "bad-key") {
			t.Errorf("rule %s: %d errors (%s)", st.ID, st.Errors, st.LastError)
		}
	}
}

func TestSignalsKept(t *testing.T) {
	rs := loadRules(t, rule("any", "cloudtrail", `true`, "group_by: [k]", "correlate: {type: count, threshold: 2, window: 1m}"))
	m, err := New(rs, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range MaxPendingSignals + 3 {
		m.Match(event(fmt.Sprint(i), "cloudtrail", 0, map[string]any{"k": "v"}))
	}
	if got := m.Signals(); len(got) != MaxPendingSignals || got[0].EventID != "0" {
		t.Errorf("kept %d signals", len(got))
	}
	if m.Stats().DroppedSignals != 3 || m.Signals() != nil {
		t.Errorf("dropped %d", m.Stats().DroppedSignals)
	}
	m.Match(event("again", "cloudtrail", 0, map[string]any{"k": "v"}))
	if got := m.Signals(); len(got) != 1 {
		t.Errorf("after draining: %d signals", len(got))
	}
}
