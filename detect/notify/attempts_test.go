package notify

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/detect"
)

// stopAfter returns a Config.Sleep that ends the process after n backoffs:
// it cancels the delivery's context, as a shutdown or a crash would.
func stopAfter(n int, cancel context.CancelFunc) func(context.Context, time.Duration) error {
	return func(ctx context.Context, _ time.Duration) error {
		if n--; n < 0 {
			cancel()
		}
		return ctx.Err()
	}
}

// failing returns a destination whose every send fails and is retryable.
func failing(name string) *recorder {
	return &recorder{name: name, err: &SendError{Retry: true, Reason: "HTTP 503"}}
}

// numbers returns the attempt numbers and statuses recorded for alertID.
func numbers(log *MemoryLog, alertID string) (nums []int, sts []Status) {
	for _, a := range log.Attempts() {
		if a.AlertID == alertID {
			nums, sts = append(nums, a.Attempt), append(sts, a.Status)
		}
	}
	return nums, sts
}

// restartConfig is a Config with the one destination d on a default
// route, recording in log, with instant backoffs unless sleep is set.
func restartConfig(d Destination, log DeliveryLog, maxAttempts int, sleep func(context.Context, time.Duration) error) Config {
	clock := newFakeClock()
	if sleep == nil {
		sleep = clock.Sleep
	}
	return Config{Extra: []Destination{d}, Log: log, Now: clock.Now, Sleep: sleep, Jitter: func() float64 { return 0.5 },
		Retry:  Retry{MaxAttempts: maxAttempts},
		Routes: []Route{{Name: "all", Default: true, Destinations: []string{d.Name()}}}}
}

// A notifier that stops while retrying and a new one over the same log
// (a restart, or another replica after a rebalance): the second numbers
// its attempts on from the first's, so no row is written twice.
func TestAttemptsContinueAfterRestart(t *testing.T) {
	log := NewMemoryLog()
	a := testAlert("r1", "", "e1")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := failing("d")
	n1 := mustNew(t, restartConfig(first, log, 8, stopAfter(2, cancel)))
	if err := n1.Deliver(ctx, a); err == nil {
		t.Fatal("Deliver succeeded though the notifier stopped while retrying")
	}
	if got := len(first.sent()); got != 3 {
		t.Fatalf("first notifier sent %d times, want 3", got)
	}

	second := &recorder{name: "d"}
	n2 := mustNew(t, restartConfig(second, log, 8, nil))
	if err := n2.Deliver(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	nums, sts := numbers(log, a.AlertID)
	if want := []int{1, 2, 3, 4}; !slices.Equal(nums, want) {
		t.Errorf("attempt numbers = %v, want %v", nums, want)
	}
	if want := []Status{StatusFailed, StatusFailed, StatusFailed, StatusDelivered}; !slices.Equal(sts, want) {
		t.Errorf("statuses = %v, want %v", sts, want)
	}
	if st, _ := log.State(context.Background(), a.AlertID, "d"); st != (DeliveryState{Delivered: true, Attempts: 4}) {
		t.Errorf("state = %+v, want delivered after 4 attempts", st)
	}

	// A third start finds it delivered and sends nothing.
	third := &recorder{name: "d"}
	n3 := mustNew(t, restartConfig(third, log, 8, nil))
	if err := n3.Deliver(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if len(third.sent()) != 0 || n3.Stats().Duplicates != 1 {
		t.Errorf("delivered alert sent %d times again, stats %+v", len(third.sent()), n3.Stats())
	}
}

// Retry.MaxAttempts counts the attempts recorded before a restart: the
// new notifier has only the rest of the budget.
func TestBudgetCountsRecordedAttempts(t *testing.T) {
	log := NewMemoryLog()
	a := testAlert("r1", "", "e1")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n1 := mustNew(t, restartConfig(failing("d"), log, 4, stopAfter(2, cancel)))
	if err := n1.Deliver(ctx, a); err == nil {
		t.Fatal("Deliver succeeded though the notifier stopped while retrying")
	}

	second := failing("d")
	c := restartConfig(second, log, 4, nil)
	dl := &dlq{}
	c.DeadLetters = dl
	n2 := mustNew(t, c)
	if err := n2.Deliver(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if got := len(second.sent()); got != 1 {
		t.Errorf("after 3 attempts of 4, the restarted notifier sent %d times, want 1", got)
	}
	nums, sts := numbers(log, a.AlertID)
	if want := []int{1, 2, 3, 4}; !slices.Equal(nums, want) {
		t.Errorf("attempt numbers = %v, want %v", nums, want)
	}
	if sts[len(sts)-1] != StatusDeadLetter {
		t.Errorf("statuses = %v, want a dead letter last", sts)
	}
	if len(dl.got) != 1 || dl.got[0].Attempts != 4 || !strings.Contains(dl.got[0].Reason, "gave up after 4 attempts") {
		t.Errorf("dead letters = %+v, want one after 4 attempts", dl.got)
	}
}

// A budget spent before the notifier took the alert (max_attempts lowered
// since, or attempts of another replica) dead-letters it without sending.
func TestSpentBudgetDeadLettersAtOnce(t *testing.T) {
	ctx := context.Background()
	log := NewMemoryLog()
	a := testAlert("r1", "", "e1")
	for i := 1; i <= 3; i++ {
		if err := log.Record(ctx, Attempt{AlertID: a.AlertID, Destination: "d", Attempt: i, Status: StatusFailed, Error: "HTTP 503", AttemptedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	d := &recorder{name: "d"}
	c := restartConfig(d, log, 3, nil)
	dl := &dlq{}
	c.DeadLetters = dl
	n := mustNew(t, c)
	if err := n.Deliver(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got := len(d.sent()); got != 0 {
		t.Errorf("sent %d times with the budget spent, want 0", got)
	}
	nums, sts := numbers(log, a.AlertID)
	if !slices.Equal(nums, []int{1, 2, 3, 3}) || sts[3] != StatusDeadLetter {
		t.Errorf("attempts = %v %v, want the last one (3) recorded again as a dead letter", nums, sts)
	}
	if len(dl.got) != 1 || dl.got[0].Attempts != 3 || n.Stats().DeadLettered != 1 {
		t.Errorf("dead letters = %+v, stats %+v", dl.got, n.Stats())
	}
}

// A dead letter closes a budget: the alert delivered again later (reported
// again when it closes, or re-read after a crash before the commit) gets
// a new budget, as before, with its numbers going on.
func TestDeadLetterThenNewBudget(t *testing.T) {
	log := NewMemoryLog()
	a := testAlert("r1", "", "e1")
	n1 := mustNew(t, restartConfig(failing("d"), log, 2, nil))
	if err := n1.Deliver(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if st, _ := log.State(context.Background(), a.AlertID, "d"); st != (DeliveryState{Attempts: 2, DeadLettered: 2}) || st.Spent() != 0 {
		t.Fatalf("state after the dead letter = %+v", st)
	}
	second := failing("d")
	n2 := mustNew(t, restartConfig(second, log, 2, nil))
	if err := n2.Deliver(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if got := len(second.sent()); got != 2 {
		t.Errorf("re-read dead letter sent %d times, want a full budget of 2", got)
	}
	nums, sts := numbers(log, a.AlertID)
	if want := []int{1, 2, 3, 4}; !slices.Equal(nums, want) {
		t.Errorf("attempt numbers = %v, want %v", nums, want)
	}
	if want := []Status{StatusFailed, StatusDeadLetter, StatusFailed, StatusDeadLetter}; !slices.Equal(sts, want) {
		t.Errorf("statuses = %v, want %v", sts, want)
	}
}

// A grouped notification numbers its attempts on from the highest
// attempt recorded for any of its alerts.
func TestGroupAttemptsFromMax(t *testing.T) {
	ctx := context.Background()
	log := NewMemoryLog()
	a, b := testAlert("r1", "k", "e1"), testAlert("r1", "k", "e2")
	for _, at := range []Attempt{
		{AlertID: a.AlertID, Destination: "d", Attempt: 1, Status: StatusFailed, AttemptedAt: t0},
		{AlertID: a.AlertID, Destination: "d", Attempt: 2, Status: StatusFailed, AttemptedAt: t0},
		{AlertID: b.AlertID, Destination: "d", Attempt: 1, Status: StatusFailed, AttemptedAt: t0},
	} {
		if err := log.Record(ctx, at); err != nil {
			t.Fatal(err)
		}
	}
	d := &recorder{name: "d"}
	c := restartConfig(d, log, 8, nil)
	c.Routes[0].GroupWindow = time.Minute
	n := mustNew(t, c)
	for _, x := range []*detect.Alert{a, b} {
		if err := n.Deliver(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	if s := d.sent(); len(s) != 1 || len(s[0].AlertIDs) != 2 {
		t.Fatalf("sent %+v, want one notification of both alerts", s)
	}
	for _, id := range []string{a.AlertID, b.AlertID} {
		if st, _ := log.State(ctx, id, "d"); st != (DeliveryState{Delivered: true, Attempts: 3}) {
			t.Errorf("%s: state = %+v, want delivered at attempt 3", id, st)
		}
	}
}
