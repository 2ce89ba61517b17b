package notify

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/storage"
)

// topic is a one-partition alerts topic with one consumer group's commit.
type topic struct {
	mu        sync.Mutex
	msgs      []*detect.Alert
	committed int64 // offset of the last committed message, -1 for none
	changed   chan struct{}
}

func newTopic() *topic { return &topic{committed: -1, changed: make(chan struct{})} }

func (tp *topic) publish(as ...*detect.Alert) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.msgs = append(tp.msgs, as...)
	close(tp.changed)
	tp.changed = make(chan struct{})
}

// consumer starts after the committed offset, as a restarted member of the
// group would.
func (tp *topic) consumer() *consumer {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return &consumer{tp: tp, next: tp.committed + 1}
}

func (tp *topic) committedOffset() int64 {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.committed
}

// waitCommitted blocks until the commit reaches off.
func (tp *topic) waitCommitted(t *testing.T, off int64) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		tp.mu.Lock()
		done, ch := tp.committed >= off, tp.changed
		tp.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("commit stuck at %d, want %d", tp.committedOffset(), off)
		}
	}
}

type consumer struct {
	tp   *topic
	next int64
}

var _ storage.Consumer[*detect.Alert] = (*consumer)(nil)

func (c *consumer) Fetch(ctx context.Context) (storage.Message[*detect.Alert], error) {
	for {
		c.tp.mu.Lock()
		if c.next < int64(len(c.tp.msgs)) {
			m := storage.Message[*detect.Alert]{Topic: storage.TopicAlerts, Offset: c.next, Value: c.tp.msgs[c.next]}
			c.next++
			c.tp.mu.Unlock()
			return m, nil
		}
		ch := c.tp.changed
		c.tp.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return storage.Message[*detect.Alert]{}, ctx.Err()
		}
	}
}

func (c *consumer) Commit(_ context.Context, msgs ...storage.Message[*detect.Alert]) error {
	c.tp.mu.Lock()
	defer c.tp.mu.Unlock()
	for _, m := range msgs {
		c.tp.committed = max(c.tp.committed, m.Offset)
	}
	close(c.tp.changed)
	c.tp.changed = make(chan struct{})
	return nil
}

func (c *consumer) Close() error { return nil }

// countingReceiver counts the requests it accepted (answered 2xx) per
// webhook-id; hang, when set, decides which requests to hold until the
// client gives up.
type countingReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	accepted map[string]int
	hang     func(id string, n int) bool
	seen     map[string]int
	hung     chan string
}

func newCountingReceiver(t *testing.T, hang func(id string, n int) bool) *countingReceiver {
	rc := &countingReceiver{accepted: map[string]int{}, seen: map[string]int{}, hang: hang, hung: make(chan string, 10)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderID)
		// Read the body: the server notices a client going away only then.
		_, _ = io.Copy(io.Discard, r.Body)
		rc.mu.Lock()
		rc.seen[id]++
		n := rc.seen[id]
		rc.mu.Unlock()
		if rc.hang != nil && rc.hang(id, n) {
			rc.hung <- id
			<-r.Context().Done() // the sender stops (crashes) mid-request
			return
		}
		rc.mu.Lock()
		rc.accepted[id]++
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *countingReceiver) count(id string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.accepted[id]
}

// A notifier stops in the middle of delivering: destination a has
// accepted the second alert, destination b is still waiting for its
// answer. After a restart with the same delivery log the uncommitted
// alerts are consumed again; each alert reaches each destination exactly
// once.
func TestRestartExactlyOncePerDestination(t *testing.T) {
	alerts := []*detect.Alert{testAlert("r", "k=1", "e1"), testAlert("r", "k=2", "e2"), testAlert("r", "k=3", "e3")}
	a := newCountingReceiver(t, nil)
	b := newCountingReceiver(t, func(id string, n int) bool { return id == alerts[1].AlertID && n == 1 })
	logPath := filepath.Join(t.TempDir(), "deliveries.jsonl")
	tp := newTopic()
	tp.publish(alerts...)

	// recorded signals each row the first run writes.
	recorded := make(chan Attempt, 100)
	start := func(ctx context.Context, signal chan Attempt) chan error {
		log, err := OpenFileLog(logPath)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { log.Close() })
		clock := newFakeClock()
		c := webhookConfig(clock, a.URL, b.URL)
		c.Log = signallingLog{log, signal}
		c.ShutdownTimeout = 50 * time.Millisecond // then in-flight sends are cut: a crash
		n := mustNew(t, c)
		done := make(chan error, 1)
		go func() { done <- n.Run(ctx, tp.consumer()) }()
		return done
	}

	// First run: stop while b holds the second alert and a has taken it.
	ctx1, stop1 := context.WithCancel(context.Background())
	done1 := start(ctx1, recorded)
	if id := <-b.hung; id != alerts[1].AlertID {
		t.Fatalf("b hung on %s", id)
	}
	for at := range recorded {
		if at.AlertID == alerts[1].AlertID && at.Destination == "a" && at.Status == StatusDelivered {
			break
		}
	}
	stop1()
	if err := <-done1; err != nil {
		t.Fatalf("first run: %v", err)
	}
	if got := tp.committedOffset(); got != 0 {
		t.Fatalf("committed offset %d after the stop, want 0 (only the first alert is done everywhere)", got)
	}

	// Second run, from the committed offset, with the log reopened.
	ctx2, stop2 := context.WithCancel(context.Background())
	done2 := start(ctx2, nil)
	tp.waitCommitted(t, 2)
	stop2()
	if err := <-done2; err != nil {
		t.Fatalf("second run: %v", err)
	}
	for _, al := range alerts {
		for name, rc := range map[string]*countingReceiver{"a": a, "b": b} {
			if got := rc.count(al.AlertID); got != 1 {
				t.Errorf("%s accepted %s %d times, want exactly 1", name, al.AlertID, got)
			}
		}
	}
}

// signallingLog passes each recorded row to a channel, when there is one.
type signallingLog struct {
	DeliveryLog
	ch chan Attempt
}

func (l signallingLog) Record(ctx context.Context, a Attempt) error {
	err := l.DeliveryLog.Record(ctx, a)
	if l.ch != nil {
		l.ch <- a
	}
	return err
}

// Run holds grouped alerts until the window ends, then sends one
// notification and commits the messages behind it; an ungrouped route
// sends and commits at once. Time is synctest's fake clock.
func TestRunGroupingAndCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		grouped, now := &recorder{name: "grouped"}, &recorder{name: "now"}
		n := mustNew(t, Config{Extra: []Destination{grouped, now}, Routes: []Route{
			{Name: "crit", Match: Match{Severity: []string{"critical"}}, Destinations: []string{"now"}},
			{Name: "rest", Default: true, Destinations: []string{"grouped"}, GroupWindow: 10 * time.Minute},
		}})
		tp := newTopic()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Run(ctx, tp.consumer()) }()

		crit := testAlert("root", "", "e0")
		crit.Severity = "critical"
		tp.publish(crit)
		synctest.Wait()
		if len(now.sent()) != 1 || tp.committedOffset() != 0 {
			t.Fatalf("critical alert: sent %d, committed %d", len(now.sent()), tp.committedOffset())
		}

		tp.publish(testAlert("scan", "src=1", "e1"), testAlert("scan", "src=1", "e2"))
		time.Sleep(time.Minute)
		crit2 := testAlert("root", "", "e3")
		crit2.Severity = "critical"
		tp.publish(crit2)
		synctest.Wait()
		if len(grouped.sent()) != 0 {
			t.Fatal("grouped alerts sent before the window ended")
		}
		if len(now.sent()) != 2 {
			t.Fatalf("second critical alert not sent at once")
		}
		if got := tp.committedOffset(); got != 0 {
			t.Fatalf("committed %d while the group is held, want 0 (commits stay in order)", got)
		}

		time.Sleep(9 * time.Minute) // the window, opened at 0, ends now
		synctest.Wait()
		sent := grouped.sent()
		if len(sent) != 1 || sent[0].Count != 2 || len(sent[0].AlertIDs) != 2 {
			t.Fatalf("grouped notifications = %+v", sent)
		}
		if got := tp.committedOffset(); got != 3 {
			t.Fatalf("committed %d after the group was sent, want 3", got)
		}

		// At shutdown, held groups are sent before the last commit.
		tp.publish(testAlert("scan", "src=2", "e4"))
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if len(grouped.sent()) != 2 || tp.committedOffset() != 4 {
			t.Fatalf("shutdown: sent %d, committed %d", len(grouped.sent()), tp.committedOffset())
		}
	})
}

// A destination that hangs delays no other destination; commits wait for
// it, and resume when it answers.
func TestRunStuckDestination(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stuck, fast := &recorder{name: "stuck", block: make(chan struct{})}, &recorder{name: "fast"}
		n := mustNew(t, Config{Extra: []Destination{stuck, fast}, Queue: 2,
			Routes: []Route{{Name: "all", Default: true, Destinations: []string{"stuck", "fast"}}}})
		tp := newTopic()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Run(ctx, tp.consumer()) }()
		tp.publish(testAlert("r", "", "e1"), testAlert("r", "", "e2"), testAlert("r", "", "e3"))
		synctest.Wait()
		if got := len(fast.sent()); got != 3 {
			t.Fatalf("fast destination got %d of 3 while the other hangs", got)
		}
		if got := tp.committedOffset(); got != -1 {
			t.Fatalf("committed %d while a destination has not answered", got)
		}
		close(stuck.block)
		synctest.Wait()
		if got := tp.committedOffset(); got != 2 || len(stuck.sent()) != 3 {
			t.Fatalf("after the answer: committed %d, stuck got %d", got, len(stuck.sent()))
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// Run stops with an error when the delivery state cannot be recorded,
// without committing the alert.
func TestRunLogFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{name: "r"}
		n := mustNew(t, Config{Extra: []Destination{rec}, Log: failingLog{},
			Routes: []Route{{Name: "all", Default: true, Destinations: []string{"r"}}}})
		tp := newTopic()
		tp.publish(testAlert("r", "", "e1"))
		err := n.Run(context.Background(), tp.consumer())
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("Run = %v, want the log failure", err)
		}
		if got := tp.committedOffset(); got != -1 {
			t.Fatalf("committed %d", got)
		}
	})
}
