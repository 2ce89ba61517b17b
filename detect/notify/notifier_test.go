package notify

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	stdlog "log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/detect"
)

// recorder is a Destination that records what it was sent.
type recorder struct {
	name string
	mu   sync.Mutex
	got  []*Notification
	err  error
	// block, when set, holds every Send until it is closed or ctx ends.
	block chan struct{}
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Send(ctx context.Context, n *Notification) error {
	if r.block != nil {
		select {
		case <-r.block:
		case <-ctx.Done():
			return &SendError{Retry: true, Reason: "network", Err: ctx.Err()}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, n)
	return r.err
}

func (r *recorder) sent() []*Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func TestRouting(t *testing.T) {
	pd, slack, hook, def := &recorder{name: "pd"}, &recorder{name: "slack"}, &recorder{name: "hook"}, &recorder{name: "default"}
	c := Config{
		Extra: []Destination{pd, slack, hook, def},
		Routes: []Route{
			{Name: "pages", Match: Match{MinSeverity: "high", LogTypes: []string{"cloudtrail"}}, Destinations: []string{"pd", "slack"}, Continue: true},
			{Name: "iam", Match: Match{RuleIDs: []string{"aws-iam-*"}}, Destinations: []string{"slack", "hook"}},
			{Name: "k8s", Match: Match{Tags: []string{"attack.t1609*"}, Severity: []string{"medium", "low"}}, Destinations: []string{"hook"}},
			{Name: "rest", Default: true, Destinations: []string{"default"}},
		},
	}
	n := mustNew(t, c)
	alert := func(id, rule, sev, logType string, tags ...string) *detect.Alert {
		return &detect.Alert{AlertID: id, RuleID: rule, Severity: sev, LogType: logType, Tags: tags, Count: 1}
	}
	for _, tc := range []struct {
		a    *detect.Alert
		want []string
	}{
		{alert("1", "aws-root", "critical", "cloudtrail"), []string{"pd", "slack"}},
		{alert("2", "aws-iam-user", "critical", "cloudtrail"), []string{"pd", "slack", "hook"}}, // slack once
		{alert("3", "aws-iam-user", "low", "cloudtrail"), []string{"slack", "hook"}},
		{alert("4", "k8s-exec", "medium", "k8saudit", "attack.t1609"), []string{"hook"}},
		{alert("5", "k8s-exec", "high", "k8saudit", "attack.t1609"), []string{"default"}}, // severity not listed
		{alert("6", "linux-x", "high", "auditd"), []string{"default"}},
	} {
		if err := n.Deliver(context.Background(), tc.a); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range []*recorder{pd, slack, hook, def} {
			for _, s := range r.sent() {
				if s.Alert.AlertID == tc.a.AlertID {
					got = append(got, r.name)
				}
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("alert %s (%s, %s) went to %v, want %v", tc.a.AlertID, tc.a.RuleID, tc.a.Severity, got, tc.want)
		}
	}
}

// A scripted receiver: failures of every retryable kind, then success.
// Delays follow the backoff (jitter fixed at its middle) and Retry-After.
func TestRetriesThenDelivered(t *testing.T) {
	release := make(chan struct{})
	hang := func(w http.ResponseWriter, r *http.Request) int {
		select { // outlive the client's timeout, then let go
		case <-r.Context().Done():
		case <-release:
		}
		return 0
	}
	retryAfter := func(w http.ResponseWriter, _ *http.Request) int {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		return http.StatusTooManyRequests
	}
	rc := newReceiver(t, status(500), retryAfter, hang, status(503), status(502), status(200))
	defer close(release)
	clock := newFakeClock()
	c := webhookConfig(clock, rc.URL)
	c.Outbound.Timeout = 100 * time.Millisecond // the hang ends by this client timeout
	log := NewMemoryLog()
	c.Log = log
	n := mustNew(t, c)
	a := testAlert("r1", "k=v", "e1")
	if err := n.Deliver(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	// Jitter 0.5: a delay d becomes d/2 + d/4 = 0.75 d.
	want := []time.Duration{750 * time.Millisecond, 7 * time.Second, 3 * time.Second, 6 * time.Second, 12 * time.Second}
	if got := clock.Sleeps(); !slices.Equal(got, want) {
		t.Errorf("sleeps = %v, want %v", got, want)
	}
	var statuses []Status
	for _, at := range log.Attempts() {
		statuses = append(statuses, at.Status)
		if at.AlertID != a.AlertID || at.Destination != "a" {
			t.Errorf("attempt %+v", at)
		}
	}
	if want := []Status{StatusFailed, StatusFailed, StatusFailed, StatusFailed, StatusFailed, StatusDelivered}; !slices.Equal(statuses, want) {
		t.Errorf("statuses = %v, want %v", statuses, want)
	}
	if got := rc.accepted()[a.AlertID]; got != 1 {
		t.Errorf("accepted %d times, want 1", got)
	}
	if s := n.Stats(); s.Delivered != 1 || s.Failed != 5 || s.DeadLettered != 0 {
		t.Errorf("stats = %+v", s)
	}
	// The timed-out attempt is recorded as a network failure.
	if e := log.Attempts()[2].Error; !strings.Contains(e, "network") {
		t.Errorf("timeout recorded as %q", e)
	}
}

func TestNetworkErrorRetried(t *testing.T) {
	rc := newReceiver(t)
	url := rc.URL
	rc.Close() // connection refused from now on
	clock := newFakeClock()
	c := webhookConfig(clock, url)
	c.Retry.MaxAttempts = 3
	log := NewMemoryLog()
	c.Log = log
	n := mustNew(t, c)
	if err := n.Deliver(context.Background(), testAlert("r1", "", "e1")); err != nil {
		t.Fatal(err)
	}
	as := log.Attempts()
	if len(as) != 3 || as[2].Status != StatusDeadLetter || !strings.Contains(as[2].Error, "gave up after 3 attempts") {
		t.Fatalf("attempts = %+v", as)
	}
}

// dlq collects dead letters.
type dlq struct {
	mu  sync.Mutex
	got []DeadLetter
}

func (d *dlq) DeadLetter(_ context.Context, l DeadLetter) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, l)
	return nil
}

func TestDeadLetterBounds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		script   []func(http.ResponseWriter, *http.Request) int
		retry    Retry
		attempts int
		reason   string
	}{
		{"attempts", []func(http.ResponseWriter, *http.Request) int{status(500)}, Retry{MaxAttempts: 4}, 4, "gave up after 4 attempts"},
		{"age", []func(http.ResponseWriter, *http.Request) int{status(503)}, Retry{MaxAttempts: 100, MaxAge: 10 * time.Second, Initial: 2 * time.Second}, 3, "exceed max age 10s"}, // at 0, 1.5s, 4.5s; the next at 10.5s
		{"retry-after beyond age", []func(http.ResponseWriter, *http.Request) int{func(w http.ResponseWriter, _ *http.Request) int {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(429)
			return 429
		}}, Retry{MaxAge: time.Minute}, 1, "exceed max age"},
		{"client error is final", []func(http.ResponseWriter, *http.Request) int{status(400)}, Retry{}, 1, "receiver refused: Bad Request (HTTP 400)"},
		{"unauthorized is final", []func(http.ResponseWriter, *http.Request) int{status(401)}, Retry{}, 1, "HTTP 401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, tc.script...)
			clock := newFakeClock()
			c := webhookConfig(clock, rc.URL)
			c.Retry = tc.retry
			log := NewMemoryLog()
			c.Log = log
			dl := &dlq{}
			c.DeadLetters = dl
			n := mustNew(t, c)
			a := testAlert("r1", "", "e1")
			if err := n.Deliver(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			if got := len(rc.requests()); got != tc.attempts {
				t.Errorf("%d requests, want %d", got, tc.attempts)
			}
			as := log.Attempts()
			last := as[len(as)-1]
			if last.Status != StatusDeadLetter || !strings.Contains(last.Error, tc.reason) || last.Attempt != tc.attempts {
				t.Errorf("last attempt %+v, want dead letter after %d with %q", last, tc.attempts, tc.reason)
			}
			if len(dl.got) != 1 || dl.got[0].Alert.AlertID != a.AlertID || dl.got[0].Reason != last.Error || dl.got[0].Destination != "a" {
				t.Errorf("dead letters = %+v", dl.got)
			}
			// A dead-lettered alert is not delivered: a later delivery may try again.
			if st, _ := log.State(context.Background(), a.AlertID, "a"); st.Delivered {
				t.Error("dead letter counted as delivered")
			}
		})
	}
}

// The same alert ID reaches a destination once, however often it is
// delivered (an alert is reported when it opens and when it closes).
func TestDuplicateSuppressed(t *testing.T) {
	rc := newReceiver(t)
	clock := newFakeClock()
	n := mustNew(t, webhookConfig(clock, rc.URL))
	a := testAlert("r1", "k=v", "e1")
	closed := *a
	closed.Count = 5
	for _, x := range []*detect.Alert{a, &closed, a} {
		if err := n.Deliver(context.Background(), x); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(rc.requests()); got != 1 {
		t.Errorf("%d requests, want 1", got)
	}
	if s := n.Stats(); s.Duplicates != 2 {
		t.Errorf("duplicates = %d, want 2", s.Duplicates)
	}
}

// Alerts of the same rule and group key within a route's window go out as
// one notification with a count; other keys and rules go separately; an
// alert reported again (open, then close) replaces its earlier copy.
func TestGroupingWindow(t *testing.T) {
	clock := newFakeClock()
	rec := &recorder{name: "r"}
	n := mustNew(t, Config{Extra: []Destination{rec}, Now: clock.Now, Sleep: clock.Sleep,
		Routes: []Route{{Name: "grouped", Default: true, Destinations: []string{"r"}, GroupWindow: 5 * time.Minute}}})
	ctx := context.Background()
	deliver := func(a *detect.Alert) {
		t.Helper()
		if err := n.Deliver(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	a1 := testAlert("brute", "user=alice", "e1")
	deliver(a1)
	deliver(testAlert("brute", "user=bob", "e3"))
	clock.Advance(time.Minute)
	a2 := testAlert("brute", "user=alice", "e2")
	a2.Count, a2.LastTime = 3, t0.Add(time.Minute)
	deliver(a2)
	a1closed := *a1
	a1closed.Count = 2
	deliver(&a1closed)
	clock.Advance(3 * time.Minute)
	if err := n.Flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := len(rec.sent()); got != 0 {
		t.Fatalf("%d notifications before the window ended", got)
	}
	clock.Advance(time.Minute) // t0+5m: alice's window ends
	if err := n.Flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	sent := rec.sent()
	if len(sent) != 2 {
		t.Fatalf("%d notifications, want 2 (alice, bob)", len(sent))
	}
	byKey := map[string]*Notification{}
	for _, s := range sent {
		byKey[s.Alert.GroupKey] = s
	}
	alice := byKey["user=alice"]
	if alice == nil || alice.Count != 5 || !slices.Equal(alice.AlertIDs, []string{a1.AlertID, a2.AlertID}) ||
		alice.Alert.AlertID != a1.AlertID || !alice.LastTime.Equal(t0.Add(time.Minute)) {
		t.Errorf("alice = %+v, want count 5 (2+3) over both alerts", alice)
	}
	if bob := byKey["user=bob"]; bob == nil || bob.Count != 1 || len(bob.AlertIDs) != 1 {
		t.Errorf("bob = %+v", bob)
	}
	// A new window opens for later alerts; delivered ones are not re-sent.
	deliver(a2)
	deliver(testAlert("brute", "user=alice", "e9"))
	if err := n.Flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	sent = rec.sent()
	if len(sent) != 3 || !slices.Equal(sent[2].AlertIDs, []string{testAlert("brute", "user=alice", "e9").AlertID}) {
		t.Errorf("after the window: %d notifications, last %+v", len(sent), sent[len(sent)-1])
	}
}

// A rate-limited destination makes notifications wait for tokens; none
// is dropped.
func TestRateLimit(t *testing.T) {
	rc := newReceiver(t)
	clock := newFakeClock()
	c := webhookConfig(clock, rc.URL)
	c.Destinations[0].Rate = Rate{PerMinute: 30, Burst: 2}
	n := mustNew(t, c)
	for i := range 5 {
		if err := n.Deliver(context.Background(), testAlert("r", "", string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(rc.requests()); got != 5 {
		t.Errorf("%d requests, want 5", got)
	}
	// Burst 2 goes at once, then one every 2s.
	if got, want := clock.Sleeps(), []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
}

// https works through the pinned dialer: the certificate is checked for
// the URL's host.
func TestHTTPS(t *testing.T) {
	var hits int
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits++ }))
	defer srv.Close()
	srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	clock := newFakeClock()
	c := webhookConfig(clock, srv.URL)
	c.Outbound = Outbound{AllowNetworks: []string{"127.0.0.1/32"}, RootCAs: pool}
	n := mustNew(t, c)
	if err := n.Deliver(context.Background(), testAlert("r", "", "e")); err != nil {
		t.Fatal(err)
	}
	if hits != 1 {
		t.Errorf("%d hits", hits)
	}
	// Without the test CA the certificate is refused, and not retried forever.
	c.Outbound.RootCAs = x509.NewCertPool()
	c.Retry.MaxAttempts = 2
	log := NewMemoryLog()
	c.Log = log
	n = mustNew(t, c)
	if err := n.Deliver(context.Background(), testAlert("r", "", "e2")); err != nil {
		t.Fatal(err)
	}
	if as := log.Attempts(); as[len(as)-1].Status != StatusDeadLetter {
		t.Errorf("attempts = %+v", as)
	}
}

// A failing delivery log stops delivery with an error, so the alert is
// not committed.
func TestLogFailure(t *testing.T) {
	rc := newReceiver(t)
	clock := newFakeClock()
	c := webhookConfig(clock, rc.URL)
	c.Log = failingLog{}
	n := mustNew(t, c)
	if err := n.Deliver(context.Background(), testAlert("r", "", "e")); err == nil {
		t.Error("Deliver succeeded without recording")
	}
}

type failingLog struct{}

func (failingLog) Record(context.Context, Attempt) error { return errors.New("disk full") }
func (failingLog) State(context.Context, string, string) (DeliveryState, error) {
	return DeliveryState{}, nil
}

func TestTestRoute(t *testing.T) {
	good := newReceiver(t)
	bad := newReceiver(t, status(404))
	clock := newFakeClock()
	c := webhookConfig(clock, good.URL, bad.URL)
	n := mustNew(t, c)
	n.sampleID = func() string { return "vigil-test-1" }
	res, err := n.Test(context.Background(), "all")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Status != StatusDelivered || res[1].Status != StatusDeadLetter || !strings.Contains(res[1].Reason, "404") {
		t.Errorf("results = %+v", res)
	}
	if got := good.accepted()["vigil-test-1"]; got != 1 {
		t.Errorf("sample accepted %d times", got)
	}
	if _, err := n.Test(context.Background(), "nope"); err == nil || !strings.Contains(err.Error(), "routes: all") {
		t.Errorf("unknown route: %v", err)
	}
}

// A slow receiver that answers within the timeout gets the alert once:
// slowness alone is no reason to retry.
func TestSlowReceiver(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) int {
		close(started)
		<-release
		return http.StatusOK
	})
	clock := newFakeClock()
	n := mustNew(t, webhookConfig(clock, rc.URL))
	done := make(chan error, 1)
	a := testAlert("r", "", "slow")
	go func() { done <- n.Deliver(context.Background(), a) }()
	<-started
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := rc.accepted()[a.AlertID]; got != 1 || len(rc.requests()) != 1 || len(clock.Sleeps()) != 0 {
		t.Errorf("accepted %d, requests %d, sleeps %v", got, len(rc.requests()), clock.Sleeps())
	}
}

// A per-rule summary template replaces the rule's summary in what is
// sent; its output is cleaned; other rules keep their own summary.
func TestSummaryTemplate(t *testing.T) {
	rec := &recorder{name: "r"}
	n := mustNew(t, Config{Extra: []Destination{rec},
		Templates: []Template{
			{Rules: []string{"aws-iam-*"}, Summary: "{{ .Alert.Title }} in {{ .Account }} ({{ .Count }} events): {{ .Alert.Summary }}"},
			{Rules: []string{"aws-iam-user-created"}, Summary: "never used: the first match wins"},
		},
		Routes: []Route{{Name: "all", Default: true, Destinations: []string{"r"}}}})
	hostile := hostileAlert()
	plain := testAlert("linux-x", "", "e")
	for _, a := range []*detect.Alert{hostile, plain} {
		if err := n.Deliver(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	sent := rec.sent()
	want := "IAM user created in 111122223333 (2 events): " + clean(hostile.Summary)
	if got := sent[0].Alert.Summary; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	if got := sent[1].Alert.Summary; got != plain.Summary {
		t.Errorf("untemplated summary = %q", got)
	}
	if hostile.Summary == want {
		t.Error("the caller's alert was changed")
	}
}
