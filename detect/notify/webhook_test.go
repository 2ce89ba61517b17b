package notify

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The Standard Webhooks specification's example: secret, message ID,
// timestamp and payload with the signature its reference libraries give.
func TestSignStandardWebhooksVector(t *testing.T) {
	s, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Sign([]Secret{s}, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

func TestParseSecret(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{testSecret, true},
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true},
		{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", false}, // no prefix
		{"whsec_not base64!", false},
		{"whsec_c2hvcnQ=", false}, // 5 bytes
		{"", false},
	} {
		_, err := ParseSecret(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseSecret(%q) error %v, want ok=%v", tc.in, err, tc.ok)
		}
		if err != nil && len(tc.in) > 10 && strings.Contains(err.Error(), tc.in[6:]) {
			t.Errorf("error %q echoes the secret", err)
		}
	}
	s, _ := ParseSecret(testSecret)
	if fmt.Sprint(s) != "[redacted]" || s.LogValue().String() != "[redacted]" {
		t.Error("a secret prints its key")
	}
}

func TestVerify(t *testing.T) {
	oldS, _ := ParseSecret(testSecret)
	newS, _ := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	other, _ := ParseSecret("whsec_b3RoZXItc2VjcmV0LWtleS0xMjM0NQ==")
	body := []byte(`{"alert_id":"x"}`)
	now := time.Unix(1_800_000_000, 0)
	headers := func(ts time.Time, signers []Secret, b []byte) http.Header {
		h := http.Header{}
		h.Set(HeaderID, "x")
		h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
		h.Set(HeaderSignature, Sign(signers, "x", ts.Unix(), b))
		return h
	}
	for _, tc := range []struct {
		name     string
		h        http.Header
		body     []byte
		receiver []Secret
		ok       bool
	}{
		{"current secret", headers(now, []Secret{oldS}, body), body, []Secret{oldS}, true},
		{"rotation, receiver still on the old secret", headers(now, []Secret{newS, oldS}, body), body, []Secret{oldS}, true},
		{"rotation, receiver already on the new secret", headers(now, []Secret{newS, oldS}, body), body, []Secret{newS}, true},
		{"receiver accepting both", headers(now, []Secret{newS}, body), body, []Secret{oldS, newS}, true},
		{"wrong secret", headers(now, []Secret{other}, body), body, []Secret{oldS}, false},
		{"tampered body", headers(now, []Secret{oldS}, body), []byte(`{"alert_id":"y"}`), []Secret{oldS}, false},
		{"4m59s old", headers(now.Add(-299*time.Second), []Secret{oldS}, body), body, []Secret{oldS}, true},
		{"older than 5 minutes", headers(now.Add(-301*time.Second), []Secret{oldS}, body), body, []Secret{oldS}, false},
		{"more than 5 minutes ahead", headers(now.Add(301*time.Second), []Secret{oldS}, body), body, []Secret{oldS}, false},
		{"no headers", http.Header{}, body, []Secret{oldS}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.receiver, tc.h, tc.body, now)
			if (err == nil) != tc.ok {
				t.Fatalf("Verify = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// A receiver verifying signatures gets the alert, with webhook-id equal to
// the alert ID on every attempt, and a retried message is re-signed with
// a fresh timestamp.
func TestWebhookSignedAndStableID(t *testing.T) {
	clock := newFakeClock()
	secret, _ := ParseSecret(testSecret)
	verified := 0
	check := func(code int) func(http.ResponseWriter, *http.Request) int {
		return func(w http.ResponseWriter, r *http.Request) int {
			w.WriteHeader(code)
			return code
		}
	}
	rc := newReceiver(t, check(500), check(200))
	c := webhookConfig(clock, rc.URL+"/hook")
	c.Retry.Initial = 10 * time.Second
	c.Destinations[0].Link = "https://vigil.example/alerts/{{ .AlertID | urlquery }}"
	n := mustNew(t, c)
	a := testAlert("r1", "recipientAccountId=111122223333", "e1")
	a.Runbook = "Call the account owner."
	if err := n.Deliver(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	reqs := rc.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 (one 500, one 200)", len(reqs))
	}
	for i, r := range reqs {
		if got := r.Header.Get(HeaderID); got != a.AlertID {
			t.Errorf("request %d: webhook-id %q, want the alert ID %q", i, got, a.AlertID)
		}
		ts, _ := strconv.ParseInt(r.Header.Get(HeaderTimestamp), 10, 64)
		if err := Verify([]Secret{secret}, r.Header, r.Body, time.Unix(ts, 0)); err != nil {
			t.Errorf("request %d: %v", i, err)
		} else {
			verified++
		}
	}
	if verified != 2 {
		t.Fatalf("%d of 2 requests verified", verified)
	}
	if reqs[0].Header.Get(HeaderTimestamp) == reqs[1].Header.Get(HeaderTimestamp) {
		t.Error("the retry kept the first attempt's timestamp; the fake clock advanced by the backoff")
	}
	b := decodeBody(t, reqs[1].Body)
	if b.AlertID != a.AlertID || b.RuleID != "r1" || b.Count != 1 || b.Alerts != 1 || b.Route != "all" {
		t.Errorf("body = %+v", b)
	}
	if want := "https://vigil.example/alerts/" + url.QueryEscape(a.AlertID); b.Link != want {
		t.Errorf("link = %q, want %q", b.Link, want)
	}
	if b.Runbook != "Call the account owner." {
		t.Errorf("runbook = %q", b.Runbook)
	}
	if reqs[1].Header.Get("Content-Type") != "application/json" {
		t.Errorf("content type %q", reqs[1].Header.Get("Content-Type"))
	}
}

// A receiver's response body never reaches logs, errors or the delivery
// log, whatever the status.
func TestResponseBodyNeverLogged(t *testing.T) {
	const marker = "RESPONSE-BODY-MARKER-7f3a"
	answer := func(code int) func(http.ResponseWriter, *http.Request) int {
		return func(w http.ResponseWriter, _ *http.Request) int {
			w.WriteHeader(code)
			fmt.Fprint(w, marker)
			return code
		}
	}
	for _, code := range []int{200, 400, 500} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			clock := newFakeClock()
			rc := newReceiver(t, answer(code))
			c := webhookConfig(clock, rc.URL)
			c.Retry.MaxAttempts = 2
			var logs captured
			c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			log := NewMemoryLog()
			c.Log = log
			n := mustNew(t, c)
			err := n.Deliver(context.Background(), testAlert("r1", "", "e1"))
			if err != nil && strings.Contains(err.Error(), marker) {
				t.Errorf("error echoes the body: %v", err)
			}
			if strings.Contains(logs.String(), marker) {
				t.Errorf("log echoes the body: %s", logs.String())
			}
			for _, a := range log.Attempts() {
				if strings.Contains(a.Error, marker) {
					t.Errorf("attempt echoes the body: %+v", a)
				}
			}
			if len(log.Attempts()) == 0 {
				t.Error("no attempt recorded")
			}
		})
	}
}

// captured is a concurrency-safe log buffer.
type captured struct {
	mu sync.Mutex
	b  []byte
}

func (c *captured) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.b = append(c.b, p...)
	return len(p), nil
}

func (c *captured) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.b)
}

// The --webhook shortcut end to end: every alert, ungrouped, signed with
// VIGIL_WEBHOOK_SECRET, to a local http receiver.
func TestWebhookShortcutDelivers(t *testing.T) {
	rc := newReceiver(t)
	t.Setenv("VIGIL_WEBHOOK_SECRET", testSecret)
	c, err := WebhookShortcut([]string{rc.URL + "/hook"}, "VIGIL_WEBHOOK_SECRET", true)
	if err != nil {
		t.Fatal(err)
	}
	n := mustNew(t, c)
	for _, sev := range []string{"info", "critical"} {
		a := testAlert("r-"+sev, "", "e")
		a.Severity = sev
		if err := n.Deliver(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := ParseSecret(testSecret)
	reqs := rc.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	for _, r := range reqs {
		if err := Verify([]Secret{s}, r.Header, r.Body, time.Now()); err != nil {
			t.Error(err)
		}
	}
}
