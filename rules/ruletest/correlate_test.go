package ruletest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/rules"
)

const correlationRules = `id: burst
title: burst
severity: low
log_types: [cloudtrail]
when: errorCode == "AccessDenied"
group_by: [who]
correlate: {type: count, threshold: 2, window: 5m}
tests:
  - name: expected alerts match
    logs:
      - {eventTime: "2026-03-14T10:00:00Z", errorCode: AccessDenied, who: b}
      - {eventTime: "2026-03-14T10:09:00Z", errorCode: AccessDenied, who: a}
      - {eventTime: "2026-03-14T10:01:00Z", errorCode: AccessDenied, who: b}
      - {eventTime: "2026-03-14T10:08:00Z", errorCode: AccessDenied, who: a}
      - {eventTime: "2026-03-14T10:09:30Z", errorCode: AccessDenied, who: a}
    expect: [{group_key: who=b, count: 2}, {rule: burst, group_key: who=a, count: 3}]
  - name: wrong group key
    logs:
      - {eventTime: "2026-03-14T10:00:00Z", errorCode: AccessDenied, who: b}
      - {eventTime: "2026-03-14T10:01:00Z", errorCode: AccessDenied, who: b}
    expect: [{group_key: who=a}]
  - name: wrong count
    logs:
      - {eventTime: "2026-03-14T10:00:00Z", errorCode: AccessDenied, who: b}
      - {eventTime: "2026-03-14T10:01:00Z", errorCode: AccessDenied, who: b}
    expect: [{count: 3}]
---
id: across
title: across
severity: low
log_types: [cloudtrail, k8saudit]
correlate:
  type: sequence
  within: 10m
  steps:
    - {name: a, log_types: [cloudtrail], when: eventName == "A", key: [who]}
    - {name: b, log_types: [k8saudit], when: verb == "list", key: [{who: user}]}
tests:
  - name: records of two log types
    logs:
      - {eventTime: "2026-03-14T10:00:00Z", eventName: A, who: x}
      - {eventTime: "2026-03-14T10:05:00Z", kind: Event, verb: list, user: x}
    expect: [{group_key: who=x, count: 2}]
`

func TestCorrelationTests(t *testing.T) {
	set, err := rules.Load(fstest.MapFS{"c.yaml": {Data: []byte(correlationRules)}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Decoders: map[string]ingest.Decoder{
			ingest.TypeCloudTrail: jsonLines{ingest.TypeCloudTrail},
			ingest.TypeK8sAudit:   jsonLines{ingest.TypeK8sAudit},
		},
		Detect: func(head []byte) string {
			if bytes.Contains(head, []byte(`"kind":"Event"`)) {
				return ingest.TypeK8sAudit
			}
			return ingest.TypeCloudTrail
		},
	}
	rep, err := Run(context.Background(), set, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, r := range rep.Results {
		all = append(all, r.String())
	}
	got := strings.Join(all, "\n")
	for _, want := range []string{
		"PASS c.yaml:9:5 burst/expected alerts match: expected 2 alerts, got 2",
		`FAIL c.yaml:17:5 burst/wrong group key: alert 1: group key "who=b", expected "who=a"`,
		"FAIL c.yaml:22:5 burst/wrong count: alert 1 (who=b): count 2, expected 3",
		"PASS c.yaml:39:5 across/records of two log types: expected 1 alerts, got 1",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if rep.Summary() != "2 passed, 2 failed" {
		t.Errorf("summary %s", rep.Summary())
	}
}
