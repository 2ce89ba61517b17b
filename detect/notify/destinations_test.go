package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/detect"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// hostileAlert carries log content written to attack the on-call tools:
// Slack mentions and links, ANSI colours, a bidi override, control
// characters.
func hostileAlert() *detect.Alert {
	a := testAlert("aws-iam-user-created", "recipientAccountId=111122223333,userIdentity.arn=arn:aws:iam::111122223333:user/<!here>", "ev-1")
	a.AlertID = "c0ffee0123456789"
	a.Severity = "critical"
	a.Title = "IAM user created"
	a.Summary = "user \x1b[31m<!channel>\x1b[0m @here created <@U024BE7LH> & <https://evil.example|click here>\r\n\u202etxt.exe\x07 *bold* @everyone\x1b]8;;https://evil.example\x07link\x1b]8;;\x07"
	a.Tags = []string{"attack.persistence", "attack.t1136.003"}
	a.EventIDs = []string{"ev-1", "ev-2"}
	a.Count = 2
	a.LastTime = t0.Add(time.Minute)
	return a
}

// TestDestinationPayloads sends the hostile alert to each destination type
// and compares the request bodies with golden files.
func TestDestinationPayloads(t *testing.T) {
	rc := newReceiver(t)
	clock := newFakeClock()
	env := map[string]string{"SECRET": testSecret, "SLACK_URL": rc.URL + "/slack", "PD_KEY": "R0UT1NGKEY"}
	link := "https://vigil.example/alerts/{{ .AlertID }}"
	c := Config{
		Outbound: loopbackOK, Now: clock.Now, Sleep: clock.Sleep,
		Getenv: func(k string) string { return env[k] },
		Destinations: []DestinationConfig{
			{Name: "hook", Type: TypeWebhook, URL: rc.URL + "/hook", SecretEnv: []string{"SECRET"}, Link: link},
			{Name: "slack", Type: TypeSlack, URLEnv: "SLACK_URL", Link: link},
			{Name: "pd", Type: TypePagerDuty, URL: rc.URL + "/pd", RoutingKeyEnv: "PD_KEY", Link: link},
			{Name: "am", Type: TypeAlertmanager, URL: rc.URL + "/am/", Link: link},
		},
		Routes: []Route{{Name: "all", Default: true, Destinations: []string{"hook", "slack", "pd", "am"}}},
	}
	n := mustNew(t, c)
	a := hostileAlert()
	a.Runbook = "Confirm the user with the account owner; <!here> is not a mention."
	if err := n.Deliver(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	reqs := rc.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4", len(reqs))
	}
	byPath := map[string][]byte{}
	for _, r := range reqs {
		var v any
		if err := json.Unmarshal(r.Body, &v); err != nil {
			t.Fatalf("body %s: %v", r.Body, err)
		}
		pretty, _ := json.MarshalIndent(v, "", "  ")
		switch {
		case r.Header.Get(HeaderSignature) != "":
			byPath["webhook"] = pretty
		case bytes.Contains(r.Body, []byte(`"blocks"`)):
			byPath["slack"] = pretty
		case bytes.Contains(r.Body, []byte(`"routing_key"`)):
			byPath["pagerduty"] = pretty
		default:
			byPath["alertmanager"] = pretty
		}
	}
	for _, name := range []string{"webhook", "slack", "pagerduty", "alertmanager"} {
		got := byPath[name]
		if got == nil {
			t.Errorf("no %s request", name)
			continue
		}
		golden(t, filepath.Join("testdata", name+".golden.json"), append(got, '\n'))
		// No escape, control or bidi character reaches any destination.
		s := string(got)
		for _, bad := range []string{`\u001b`, `\u0007`, `\r`, "\u202e"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s payload contains %q", name, bad)
			}
		}
	}
	// Slack: no raw <, > or broadcast words in any text.
	var m slackMessage
	_ = json.Unmarshal(byPath["slack"], &m)
	texts := []string{m.Text}
	for _, b := range m.Blocks {
		if b.Text != nil {
			texts = append(texts, b.Text.Text)
		}
		for _, f := range append(b.Fields, b.Elements...) {
			texts = append(texts, f.Text)
		}
	}
	for _, txt := range texts {
		for _, bad := range []string{"<", ">", "@here", "@channel", "@everyone", "!here", "!channel"} {
			if strings.Contains(txt, bad) {
				t.Errorf("Slack text %q contains %q", txt, bad)
			}
		}
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestSlackText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a & b", "a &amp; b"},
		{"<!here>", "&lt;!\u200bhere&gt;"},
		{"@channel look", "@\u200bchannel look"},
		{"<@U123|bob>", "&lt;@U123|bob&gt;"},
		{"<https://x|y>", "&lt;https://x|y&gt;"},
		{"plain", "plain"},
	} {
		if got := slackText(tc.in, 3000); got != tc.want {
			t.Errorf("slackText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := slackText(strings.Repeat("x", 200), 150); len([]rune(got)) != 150 {
		t.Errorf("not capped: %d runes", len([]rune(got)))
	}
}

func TestPagerDutySeverity(t *testing.T) {
	for in, want := range map[string]string{"critical": "critical", "high": "error", "medium": "warning", "low": "info", "info": "info", "": "info"} {
		if got := pdSeverity(in); got != want {
			t.Errorf("pdSeverity(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClean(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text", "plain text"},
		{"\x1b[31mred\x1b[0m", "red"},
		{"a\x1b]0;title\x07b", "ab"},
		{"a\x1b]8;;http://x\x1b\\b", "ab"},
		{"tab\there\r\nnext", "tab here  next"},
		{"nul\x00bell\x07del\x7f", "nulbelldel"},
		{"c1\u0085\u009b31mx", "c1x"},
		{"bidi\u202eexe.txt\u2066", "bidiexe.txt"},
		{"bad\xffutf8", "bad\ufffdutf8"},
		{"\x1b", ""},
		{"\x1b[", ""},
	} {
		if got := clean(tc.in); got != tc.want {
			t.Errorf("clean(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := clean(strings.Repeat("é", maxText)); len(got) > maxText {
		t.Errorf("clean kept %d bytes", len(got))
	}
}

func TestAccountOf(t *testing.T) {
	for in, want := range map[string]string{
		"recipientAccountId=111122223333":                "111122223333",
		"userIdentity.arn=x,userIdentity.accountId=4444": "4444",
		"account_id=5555,srcaddr=10.0.0.1":               "5555",
		"user=alice":                                     "",
		"":                                               "",
	} {
		if got := accountOf(in); got != want {
			t.Errorf("accountOf(%q) = %q, want %q", in, got, want)
		}
	}
}
