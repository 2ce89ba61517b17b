package ops

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/detect/correlate"
	"github.com/vigilsec/vigil/detect/notify"
)

// TestRuleEvalTimeAndStaging checks vigil_detect_rule_eval_seconds_total
// (carried over a rule reload, as the other per-rule counters) and
// vigil_notify_skipped_staging_total.
func TestRuleEvalTimeAndStaging(t *testing.T) {
	m := New()
	old := detect.Stats{Rules: []detect.RuleStats{{ID: "r1", Evals: 64, EvalTime: 1500 * time.Millisecond}}}
	cur := old
	m.WatchMatcher(func() detect.Stats { return cur })
	m.Replace(old, correlate.Stats{}, func() {
		cur = detect.Stats{Rules: []detect.RuleStats{{ID: "r1", Evals: 128, EvalTime: 250 * time.Millisecond}}}
	})
	m.WatchNotifier(func() notify.Stats { return notify.Stats{Delivered: 2, SkippedStaging: 3} })
	want := `
# HELP vigil_detect_rule_eval_seconds_total Estimated time spent evaluating the rule: one evaluation in detect.EvalSampleEvery is timed and counted for the others.
# TYPE vigil_detect_rule_eval_seconds_total counter
vigil_detect_rule_eval_seconds_total{rule="r1"} 1.75
# HELP vigil_notify_skipped_staging_total Alerts of rules in mode: staging, stored and not notified.
# TYPE vigil_notify_skipped_staging_total counter
vigil_notify_skipped_staging_total 3
`
	err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "vigil_detect_rule_eval_seconds_total",
		"vigil_notify_skipped_staging_total")
	if err != nil {
		t.Fatal(err)
	}
}
