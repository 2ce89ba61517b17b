package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/detect"
)

// t0 is the fake clock's start.
var t0 = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

// fakeClock is a clock whose Sleep advances time at once and records the
// delays asked for.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// testSecret is a whsec_ secret for tests (the key is 24 bytes of text).
const testSecret = "whsec_dmlnaWwtdGVzdC1zZWNyZXQtMDAwMDAx"

// request is one request a receiver got.
type request struct {
	Header http.Header
	Body   []byte
	// Status is what the receiver answered.
	Status int
}

// receiver is an httptest server that answers from a script: the i-th
// request gets script[i] (the last entry repeats), and records every
// request.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	script []func(w http.ResponseWriter, r *http.Request) int
	got    []request
}

// status returns a script step answering with code.
func status(code int) func(http.ResponseWriter, *http.Request) int {
	return func(w http.ResponseWriter, _ *http.Request) int {
		w.WriteHeader(code)
		return code
	}
}

func newReceiver(t testing.TB, script ...func(http.ResponseWriter, *http.Request) int) *receiver {
	t.Helper()
	if len(script) == 0 {
		script = append(script, status(http.StatusOK))
	}
	rc := &receiver{script: script}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		step := rc.script[min(len(rc.got), len(rc.script)-1)]
		i := len(rc.got)
		rc.got = append(rc.got, request{Header: r.Header.Clone(), Body: body})
		rc.mu.Unlock()
		code := step(w, r)
		rc.mu.Lock()
		rc.got[i].Status = code
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.got...)
}

// accepted counts the requests answered 2xx, by webhook-id.
func (rc *receiver) accepted() map[string]int {
	m := map[string]int{}
	for _, r := range rc.requests() {
		if r.Status >= 200 && r.Status < 300 {
			m[r.Header.Get(HeaderID)]++
		}
	}
	return m
}

// host returns the receiver's host without port.
func (rc *receiver) host() string {
	u, _ := url.Parse(rc.URL)
	return u.Hostname()
}

// loopbackOK is the outbound policy tests use for their local receivers.
var loopbackOK = Outbound{AllowHTTP: []string{"127.0.0.1"}, AllowNetworks: []string{"127.0.0.1/32"}}

// testAlert returns an alert of rule with a group key and first event id.
func testAlert(rule, key, ev string) *detect.Alert {
	return &detect.Alert{
		AlertID: "a-" + rule + "-" + key + "-" + ev, RuleID: rule, Title: "Title of " + rule,
		Severity: "high", Summary: "something happened", GroupKey: key,
		FirstTime: t0, LastTime: t0, Count: 1, EventIDs: []string{ev},
		Tags: []string{"attack.t1078"}, LogType: "cloudtrail", RuleVersion: 1,
	}
}

// webhookConfig returns a Config with one webhook destination per URL
// and one ungrouped default route to all of them.
func webhookConfig(clock *fakeClock, urls ...string) Config {
	c := Config{
		Outbound: loopbackOK,
		Now:      clock.Now, Sleep: clock.Sleep, Jitter: func() float64 { return 0.5 },
		Getenv: func(k string) string {
			if k == "SECRET" {
				return testSecret
			}
			return ""
		},
	}
	r := Route{Name: "all", Default: true}
	for i, u := range urls {
		name := string(rune('a' + i))
		c.Destinations = append(c.Destinations, DestinationConfig{Name: name, Type: TypeWebhook, URL: u, SecretEnv: []string{"SECRET"}})
		r.Destinations = append(r.Destinations, name)
	}
	c.Routes = []Route{r}
	return c
}

func mustNew(t testing.TB, c Config) *Notifier {
	t.Helper()
	n, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// decodeBody decodes a webhook body.
func decodeBody(t testing.TB, raw []byte) WebhookBody {
	t.Helper()
	var b WebhookBody
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("body %s: %v", raw, err)
	}
	return b
}
