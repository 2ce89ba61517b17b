package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vigilsec/vigil/cmd/vigil/ops"
)

// stagingRules writes a rule directory for the demo's CloudTrail logs: an
// enabled rule, a staging single-event rule and a staging correlation
// rule.
func stagingRules(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	const rules = `id: live-console-login
title: Console login
severity: medium
log_types: [cloudtrail]
when: eventName == "ConsoleLogin"
---
id: trial-describe-instances
title: Instances listed
severity: low
log_types: [cloudtrail]
when: eventName == "DescribeInstances"
mode: staging
---
id: trial-object-reads
title: Many object reads
severity: low
log_types: [cloudtrail]
when: eventName == "GetObject"
group_by: [userIdentity.arn]
correlate: {type: count, threshold: 3, window: 1h}
mode: staging
`
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// webhookRules is an httptest webhook receiver that records the rule of
// each alert it is sent.
type webhookRules struct {
	*httptest.Server
	mu    sync.Mutex
	rules map[string]int
}

func newWebhookRules(t *testing.T) *webhookRules {
	t.Helper()
	w := &webhookRules{rules: map[string]int{}}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var body struct {
			RuleID string `json:"rule_id"`
		}
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &body); err != nil {
			rw.WriteHeader(http.StatusBadRequest)
			return
		}
		w.mu.Lock()
		w.rules[body.RuleID]++
		w.mu.Unlock()
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *webhookRules) got() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]int{}
	for k, v := range w.rules {
		out[k] = v
	}
	return out
}

// TestRunStagingRule runs vigil run with a staging rule and --webhook: the
// staging rules' alerts are printed marked [staging] and stored with mode
// staging, and only the enabled rule's alerts reach the webhook.
func TestRunStagingRule(t *testing.T) {
	t.Setenv(webhookSecretEnv, "whsec_dmlnaWwtcnVuLXdlYmhvb2stc2VjcmV0LTAx")
	hook := newWebhookRules(t)
	rules := stagingRules(t)
	demo, err := filepath.Abs("../../deploy/demo/cloudtrail")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Chdir(dir)
	db := filepath.Join(dir, "v.duckdb")
	code, out, errw := vigil(t, "", "run", "--rules", rules, "--source", "file://"+demo, "--store", "duckdb://"+db,
		"--webhook", hook.URL+"/hook", "--webhook-allow-insecure")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errw)
	}
	printed := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			t.Fatalf("odd alert line %q", line)
		}
		rule, staging := f[2], len(f) > 3 && f[3] == "[staging]"
		if staging != strings.HasPrefix(rule, "trial-") {
			t.Errorf("line %q: marked staging %v", line, staging)
		}
		printed[rule]++
	}
	if printed["live-console-login"] == 0 || printed["trial-describe-instances"] == 0 || printed["trial-object-reads"] == 0 {
		t.Fatalf("printed alerts by rule %v, want each rule's\n%s", printed, out)
	}
	if got := hook.got(); len(got) != 1 || got["live-console-login"] != printed["live-console-login"] {
		t.Errorf("webhook got alerts by rule %v, want only the %d of live-console-login", got, printed["live-console-login"])
	}

	st, err := openStore(context.Background(), "duckdb://"+db, true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	res, err := st.Query(context.Background(), "SELECT rule_id, mode, count(*) FROM alerts GROUP BY rule_id, mode ORDER BY rule_id")
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]string{}
	for _, row := range res.Rows {
		stored[row[0].(string)] = row[1].(string)
	}
	want := map[string]string{"live-console-login": "enabled", "trial-describe-instances": "staging", "trial-object-reads": "staging"}
	if len(stored) != len(want) {
		t.Errorf("stored alerts by rule and mode: %v, want %v", res.Rows, want)
	}
	for rule, mode := range want {
		if stored[rule] != mode {
			t.Errorf("rule %s: stored with mode %q, want %q", rule, stored[rule], mode)
		}
	}
	res, err = st.Query(context.Background(), "SELECT count(*) FROM alert_deliveries d JOIN alerts a USING (alert_id) WHERE a.mode = 'staging'")
	if err != nil {
		t.Fatal(err)
	}
	if n := res.Rows[0][0]; n != int64(0) {
		t.Errorf("%v delivery attempts recorded for staging alerts", n)
	}
}

// TestRunRuleMetrics scrapes /metrics after a run of the staging rule set
// with a webhook: every evaluated rule has its evaluation time, and the
// staging alerts are counted as not notified.
func TestRunRuleMetrics(t *testing.T) {
	t.Setenv(webhookSecretEnv, "whsec_dmlnaWwtcnVuLXdlYmhvb2stc2VjcmV0LTAx")
	hook := newWebhookRules(t)
	inputs, err := runInputs([]string{"file://../../deploy/demo/cloudtrail"}, false)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPipeline(pipelineConfig{rules: []string{stagingRules(t)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := openStore(ctx, "duckdb://"+filepath.Join(t.TempDir(), "v.duckdb"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	nc, err := notifyConfigOf("", []string{hook.URL + "/hook"}, true)
	if err != nil {
		t.Fatal(err)
	}
	n, closeLog, err := runNotifier(nc, st, p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog()
	p.sink, p.notifier = st, n
	p.metrics.WatchNotifier(n.Stats)
	if err := p.run(ctx, inputs); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ops.Handler(p.metrics))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	value := func(series string) float64 {
		t.Helper()
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(body)
		if m == nil {
			t.Fatalf("/metrics has no %s:\n%s", series, body)
		}
		v, err := strconv.ParseFloat(string(m[1]), 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, rule := range []string{"live-console-login", "trial-describe-instances", "trial-object-reads"} {
		if v := value(`vigil_detect_rule_eval_seconds_total{rule="` + rule + `"}`); v <= 0 {
			t.Errorf("rule %s: evaluation time %v, want positive", rule, v)
		}
	}
	if v := value("vigil_notify_skipped_staging_total"); v <= 0 {
		t.Errorf("vigil_notify_skipped_staging_total %v, want positive", v)
	}
	if v := value("vigil_notify_delivered_total"); v <= 0 || int(v) != hook.got()["live-console-login"] {
		t.Errorf("vigil_notify_delivered_total %v, webhook got %v", v, hook.got())
	}
}

// TestStagingRuleTestsAndReplay: a staging rule's tests run as any rule's
// under vigil test, and vigil replay shows its alerts, marked [staging].
func TestStagingRuleTestsAndReplay(t *testing.T) {
	dir := t.TempDir()
	const rule = `id: trial-stop-logging
title: Trail stopped
severity: high
log_types: [cloudtrail]
when: eventName == "StopLogging"
mode: staging
tests:
  - name: stopping fires
    log: {eventName: StopLogging, eventTime: "2026-03-14T09:00:00Z", eventID: e1}
    expect: 1
  - name: starting does not
    log: {eventName: StartLogging, eventTime: "2026-03-14T09:00:00Z", eventID: e2}
    expect: 0
`
	if err := os.WriteFile(filepath.Join(dir, "rule.yaml"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errw := vigil(t, "", "test", dir)
	if code != 0 || !strings.Contains(out+errw, "2 passed, 0 failed") {
		t.Fatalf("vigil test: exit %d\n%s%s", code, out, errw)
	}
	logs := filepath.Join(dir, "logs.json")
	if err := os.WriteFile(logs, []byte(`{"Records":[{"eventName":"StopLogging","eventTime":"2026-03-14T09:00:00Z","eventID":"e1","eventSource":"cloudtrail.amazonaws.com"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errw = vigil(t, "", "replay", "--rules", dir, logs)
	if code != 0 || !strings.Contains(out, "trial-stop-logging [staging]") {
		t.Fatalf("vigil replay: exit %d\n%s%s", code, out, errw)
	}
}
