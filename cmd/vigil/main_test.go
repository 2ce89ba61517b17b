package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/detect"
)

var update = flag.Bool("update", false, "rewrite golden files")

// vigil runs the command line and returns exit code, stdout and stderr.
func vigil(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errw bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errw)
	return code, out.String(), errw.String()
}

// TestReplayDemo replays the bundled demo story and compares the alerts
// with the golden list: one line per alert, so a missing attack step or an
// alert on background activity shows as a diff.
func TestReplayDemo(t *testing.T) {
	code, out, errw := vigil(t, "", "replay", "--format", "json", "../../deploy/demo")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errw)
	}
	if !strings.Contains(errw, "0 decode errors, 0 unreadable inputs") {
		t.Errorf("summary reports problems:\n%s", errw)
	}
	var got strings.Builder
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var a detect.Alert
		var probe map[string]any
		if err := json.Unmarshal(sc.Bytes(), &probe); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		for _, k := range []string{"alert_id", "rule_id", "title", "severity", "summary", "group_key", "first_time", "last_time", "count", "event_ids", "tags"} {
			if _, ok := probe[k]; !ok {
				t.Errorf("alert lacks %q: %s", k, sc.Text())
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatal(err)
		}
		if a.AlertID == "" || len(a.EventIDs) == 0 || len(a.EventIDs) > a.Count {
			t.Errorf("alert %s: id %q, %d event ids for count %d", a.RuleID, a.AlertID, len(a.EventIDs), a.Count)
		}
		fmt.Fprintf(&got, "%s %s %s count=%d %s\n", a.FirstTime.Format(time.RFC3339Nano), a.RuleID, a.AlertID, a.Count, a.GroupKey)
	}
	golden := filepath.Join("testdata", "demo_alerts.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Errorf("demo alerts differ from %s (run with -update after checking the diff):\ngot:\n%s\nwant:\n%s", golden, got.String(), want)
	}

	// The same input gives the same alert IDs.
	_, again, _ := vigil(t, "", "replay", "--format", "json", "../../deploy/demo")
	if again != out {
		t.Error("a second replay of the demo printed different alerts")
	}
}

func TestReplayBadInput(t *testing.T) {
	dir := t.TempDir()
	ndjson := `{"eventVersion":"1.08","eventTime":"2026-03-14T09:00:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","awsRegion":"eu-west-1","eventID":"e1","recipientAccountId":"111122223333","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/a"},"requestParameters":{"name":"t"}}
{"eventVersion":"1.08", broken
{"eventVersion":"1.08","eventTime":"2026-03-14T09:01:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"DeleteTrail","awsRegion":"eu-west-1","eventID":"e3","recipientAccountId":"111122223333","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/a"},"requestParameters":{"name":"t2"}}
`
	path := filepath.Join(dir, "trail.ndjson")
	if err := os.WriteFile(path, []byte(ndjson), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "unknown.txt"), []byte("hello world\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errw := vigil(t, "", "replay", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errw)
	}
	if !strings.Contains(errw, path+":2:") {
		t.Errorf("decode error without its position:\n%s", errw)
	}
	if !strings.Contains(errw, "unknown.txt: cannot detect the log type") {
		t.Errorf("undetectable file not reported:\n%s", errw)
	}
	if !strings.Contains(errw, "replay: 2 events (cloudtrail 2), 1 decode errors, 1 unreadable inputs") {
		t.Errorf("summary:\n%s", errw)
	}
	if !strings.Contains(out, "StopLogging") || !strings.Contains(out, "DeleteTrail") {
		t.Errorf("records around the bad line were not matched:\n%s", out)
	}

	// stdin with an explicit type.
	code, out, _ = vigil(t, ndjson, "replay", "--type", "cloudtrail", "-")
	if code != 0 || !strings.Contains(out, "DeleteTrail") {
		t.Errorf("stdin replay: exit %d\n%s", code, out)
	}
}

func TestReplayUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"replay"},
		{"replay", "--format", "xml", "x"},
		{"replay", "--type", "syslog", "x"},
		{"replay", "does-not-exist"},
		{"replay", "--rules", "does-not-exist", "../../deploy/demo"},
		{"nonsense"},
	} {
		if code, _, _ := vigil(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

const goodRule = `id: test-stop-logging
title: Trail stopped
severity: high
log_types: [cloudtrail]
when: eventName == "StopLogging"
summary: 'stopped {{ requestParameters.name }}'
tests:
  - name: fires
    log: {eventName: StopLogging, eventSource: cloudtrail.amazonaws.com, eventTime: "2026-03-14T09:00:00Z", requestParameters: {name: t}}
    expect: 1
  - name: quiet
    log: {eventName: StartLogging, eventSource: cloudtrail.amazonaws.com, eventTime: "2026-03-14T09:00:00Z"}
    expect: 0
`

func writeRule(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rule.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestTestCommand(t *testing.T) {
	code, out, _ := vigil(t, "", "test", writeRule(t, goodRule))
	if code != 0 || !strings.HasSuffix(out, "2 passed, 0 failed\n") {
		t.Errorf("good rule: exit %d\n%s", code, out)
	}
	bad := strings.Replace(goodRule, "expect: 0", "expect: 1", 1)
	code, out, _ = vigil(t, "", "test", writeRule(t, bad))
	if code != 1 || !strings.Contains(out, "test-stop-logging") || !strings.Contains(out, "quiet") || !strings.HasSuffix(out, "1 passed, 1 failed\n") {
		t.Errorf("failing rule: exit %d\n%s", code, out)
	}
	code, out, _ = vigil(t, "", "test")
	if code != 0 || !strings.Contains(out, " passed, 0 failed") {
		t.Errorf("built-in pack: exit %d\n%s", code, out)
	}
}

func TestLintCommand(t *testing.T) {
	code, out, _ := vigil(t, "", "lint", writeRule(t, goodRule))
	if code != 0 || !strings.Contains(out, "1 rules, 0 errors, 0 warnings") {
		t.Errorf("good rule: exit %d\n%s", code, out)
	}
	typo := strings.Replace(goodRule, `when: eventName == "StopLogging"`, `when: eventNmae == "StopLogging"`, 1)
	code, out, _ = vigil(t, "", "lint", writeRule(t, typo))
	if code != 0 || !strings.Contains(out, "rule.yaml:5:") || !strings.Contains(out, "eventNmae") {
		t.Errorf("typo: exit %d\n%s", code, out)
	}
	broken := strings.Replace(goodRule, "severity: high", "severity: urgent\ncolour: red", 1)
	code, out, _ = vigil(t, "", "lint", writeRule(t, broken))
	if code != 1 || !strings.Contains(out, "rule.yaml:3:") || !strings.Contains(out, "colour") {
		t.Errorf("broken rule: exit %d\n%s", code, out)
	}
}
