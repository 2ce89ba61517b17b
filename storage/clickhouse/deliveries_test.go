package clickhouse

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/vigilsec/vigil/detect/notify"
	"github.com/vigilsec/vigil/storage"
)

var attemptTime = time.Date(2026, 3, 14, 9, 13, 28, 0, time.UTC)

// TestDeliveryLog records attempts one by one and asks after each whether
// the alert reached on-call: only a delivered row of that alert and
// destination says yes, and it says so as soon as Record returned.
func TestDeliveryLog(t *testing.T) {
	s := testStore(t, Config{})
	ctx := t.Context()
	steps := []struct {
		attempt notify.Attempt
		want    bool // State("x", "oncall").Delivered afterwards
	}{
		{notify.Attempt{AlertID: "x", Destination: "oncall", Attempt: 1, Status: notify.StatusFailed, Error: "503", AttemptedAt: attemptTime}, false},
		{notify.Attempt{AlertID: "x", Destination: "slack", Attempt: 1, Status: notify.StatusDelivered, AttemptedAt: attemptTime}, false},
		{notify.Attempt{AlertID: "y", Destination: "oncall", Attempt: 1, Status: notify.StatusDelivered, AttemptedAt: attemptTime}, false},
		{notify.Attempt{AlertID: "x", Destination: "oncall", Attempt: 2, Status: notify.StatusDeadLetter, Error: "gave up", AttemptedAt: attemptTime}, false},
		{notify.Attempt{AlertID: "x", Destination: "oncall", Attempt: 1, Status: notify.StatusDelivered, AttemptedAt: attemptTime.Add(time.Minute)}, true},
		{notify.Attempt{AlertID: "x", Destination: "oncall", Attempt: 3, Status: notify.StatusFailed, Error: "late", AttemptedAt: attemptTime.Add(time.Hour)}, true},
	}
	for i, st := range steps {
		if err := s.Record(ctx, st.attempt); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got, err := delivered(s.State(ctx, "x", "oncall"))
		if err != nil || got != st.want {
			t.Errorf("after step %d (%+v): delivered = %v, %v; want %v", i, st.attempt, got, err, st.want)
		}
	}
	if got, err := delivered(s.State(ctx, "x", "pagerduty")); err != nil || got {
		t.Errorf("State(x, pagerduty).Delivered = %v, %v; want false: nothing was sent there", got, err)
	}
	// The row written as attempt 1 of x to on-call twice collapses into
	// the one written last, the delivered one (a background merge may
	// have done so already).
	optimizeFinal(t, s, storage.DeliveriesTable, "concat(alert_id, '/', destination, '/', toString(attempt))")
	if n := count(t, s, "SELECT count() FROM alert_deliveries"); n != uint64(len(steps)-1) {
		t.Errorf("alert_deliveries holds %d rows after merging, want %d", n, len(steps)-1)
	}
	if got, err := delivered(s.State(ctx, "x", "oncall")); err != nil || !got {
		t.Errorf("after merging: delivered = %v, %v; want true", got, err)
	}
	var row struct {
		status, errMsg string
		attempt        uint32
		at             time.Time
	}
	err := s.conn.QueryRow(ctx, "SELECT status, error, attempt, attempted_at FROM alert_deliveries WHERE alert_id = 'x' AND destination = 'oncall' AND attempt = 2").
		Scan(&row.status, &row.errMsg, &row.attempt, &row.at)
	if err != nil || row.status != "dead_letter" || row.errMsg != "gave up" || row.attempt != 2 || !row.at.Equal(attemptTime) {
		t.Errorf("dead-letter row = %+v, %v", row, err)
	}
}

// TestDeliveryState records the attempts of one alert and destination,
// each its own INSERT (its own part), and reads the state after each from
// another Store, as a restarted notifier or another replica does: the
// highest attempt number, the highest dead-lettered one and the delivered
// flag, out of unmerged parts, and the same after they are merged.
func TestDeliveryState(t *testing.T) {
	s := testStore(t, Config{})
	other := reopen(t, s)
	ctx := t.Context()
	at := func(id string, n int, st notify.Status) notify.Attempt {
		return notify.Attempt{AlertID: id, Destination: "oncall", Attempt: n, Status: st, Error: "e", AttemptedAt: attemptTime.Add(time.Duration(n) * time.Minute)}
	}
	type state = notify.DeliveryState
	steps := []struct {
		attempt notify.Attempt
		want    state // State("x", "oncall") afterwards
	}{
		{at("x", 1, notify.StatusFailed), state{Attempts: 1}},
		{at("y", 7, notify.StatusDelivered), state{Attempts: 1}}, // another alert
		{at("x", 2, notify.StatusDeadLetter), state{Attempts: 2, DeadLettered: 2}},
		{at("x", 3, notify.StatusFailed), state{Attempts: 3, DeadLettered: 2}},
		{at("x", 5, notify.StatusFailed), state{Attempts: 5, DeadLettered: 2}},
		{at("x", 4, notify.StatusFailed), state{Attempts: 5, DeadLettered: 2}}, // written late
		{at("x", 5, notify.StatusDeadLetter), state{Attempts: 5, DeadLettered: 5}},
		{at("x", 6, notify.StatusDelivered), state{Delivered: true, Attempts: 6, DeadLettered: 5}},
	}
	if st, err := other.State(ctx, "x", "oncall"); err != nil || st != (state{}) {
		t.Fatalf("State before any row = %+v, %v; want the zero state", st, err)
	}
	for i, step := range steps {
		if err := s.Record(ctx, step.attempt); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if st, err := other.State(ctx, "x", "oncall"); err != nil || st != step.want {
			t.Errorf("after step %d (%+v): State = %+v, %v; want %+v", i, step.attempt, st, err, step.want)
		}
	}
	// Attempt 5 of x, failed then dead-lettered, collapses into the dead
	// letter; the state stays.
	optimizeFinal(t, s, storage.DeliveriesTable, "concat(alert_id, '/', destination, '/', toString(attempt))")
	if n := count(t, s, "SELECT count() FROM alert_deliveries"); n != uint64(len(steps)-1) {
		t.Errorf("alert_deliveries holds %d rows after merging, want %d", n, len(steps)-1)
	}
	want := steps[len(steps)-1].want
	if st, err := reopen(t, s).State(ctx, "x", "oncall"); err != nil || st != want {
		t.Errorf("after merging: State = %+v, %v; want %+v", st, err, want)
	}
	if st, err := other.State(ctx, "y", "oncall"); err != nil || st != (state{Delivered: true, Attempts: 7}) {
		t.Errorf("State(y) = %+v, %v; want delivered at attempt 7", st, err)
	}
}

// TestDeliveryLogDurable opens a second Store on the same database, as a
// restarted (or another) notify instance does: it knows nothing in memory
// and finds the first one's deliveries in the table.
func TestDeliveryLogDurable(t *testing.T) {
	first := testStore(t, Config{})
	ctx := t.Context()
	for _, a := range []notify.Attempt{
		{AlertID: "a1", Destination: "oncall", Attempt: 1, Status: notify.StatusDelivered, AttemptedAt: attemptTime},
		{AlertID: "a2", Destination: "oncall", Attempt: 1, Status: notify.StatusFailed, Error: "503", AttemptedAt: attemptTime},
		{AlertID: "a3", Destination: "oncall", Attempt: 4, Status: notify.StatusDeadLetter, Error: "gave up", AttemptedAt: attemptTime},
	} {
		if err := first.Record(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	second := reopen(t, first)
	for id, want := range map[string]bool{"a1": true, "a2": false, "a3": false, "a4": false} {
		if got, err := delivered(second.State(ctx, id, "oncall")); err != nil || got != want {
			t.Errorf("new store: State(%s).Delivered = %v, %v; want %v", id, got, err, want)
		}
	}
	// The second instance delivers a2; the first sees it too: "not
	// delivered" is never remembered.
	if err := second.Record(ctx, notify.Attempt{AlertID: "a2", Destination: "oncall", Attempt: 1, Status: notify.StatusDelivered, AttemptedAt: attemptTime}); err != nil {
		t.Fatal(err)
	}
	if got, err := delivered(first.State(ctx, "a2", "oncall")); err != nil || !got {
		t.Errorf("first store after the second delivered a2: delivered = %v, %v; want true", got, err)
	}
}

// delivered returns the Delivered flag of a State answer.
func delivered(st notify.DeliveryState, err error) (bool, error) { return st.Delivered, err }

// reopen opens another Store on s's database.
func reopen(t *testing.T, s *Store) *Store {
	t.Helper()
	u, err := url.Parse(os.Getenv(serverEnv))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + s.database
	other, err := Open(t.Context(), Config{URL: u.String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	return other
}

// TestDeliveryLogConcurrent records from many goroutines at once, as a
// notifier does for its destinations: every row lands, and every
// delivered key is seen.
func TestDeliveryLogConcurrent(t *testing.T) {
	s := testStore(t, Config{})
	ctx := t.Context()
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				a := notify.Attempt{AlertID: fmt.Sprintf("alert-%d-%d", w, i), Destination: "oncall", Attempt: 1,
					Status: notify.StatusDelivered, AttemptedAt: attemptTime}
				if i%5 == 0 {
					a.Status, a.Error = notify.StatusFailed, "timeout"
				}
				errs <- s.Record(ctx, a)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, s, "SELECT count() FROM alert_deliveries"); n != workers*each {
		t.Errorf("alert_deliveries holds %d rows, want %d", n, workers*each)
	}
	fresh := reopen(t, s)
	for w := range workers {
		for i := range each {
			id := fmt.Sprintf("alert-%d-%d", w, i)
			got, err := delivered(fresh.State(ctx, id, "oncall"))
			if err != nil || got != (i%5 != 0) {
				t.Errorf("State(%s) = %v, %v; want %v", id, got, err, i%5 != 0)
			}
		}
	}
}

// TestDeliveryLogRejects checks that an attempt the table cannot hold is
// refused with the reason, and writes nothing.
func TestDeliveryLogRejects(t *testing.T) {
	s := testStore(t, Config{})
	ok := notify.Attempt{AlertID: "x", Destination: "oncall", Attempt: 1, Status: notify.StatusDelivered, AttemptedAt: attemptTime}
	for _, tc := range []struct {
		name string
		edit func(*notify.Attempt)
		want string
	}{
		{"no alert ID", func(a *notify.Attempt) { a.AlertID = "" }, "no alert ID"},
		{"no destination", func(a *notify.Attempt) { a.Destination = "" }, "no destination"},
		{"negative attempt", func(a *notify.Attempt) { a.Attempt = -1 }, "attempt -1"},
		{"unknown status", func(a *notify.Attempt) { a.Status = "sent" }, `unknown status "sent"`},
		{"zero time", func(a *notify.Attempt) { a.AttemptedAt = time.Time{} }, "outside ClickHouse's DateTime range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := ok
			tc.edit(&a)
			err := s.Record(t.Context(), a)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Record(%+v) = %v; want an error with %q", a, err, tc.want)
			}
		})
	}
	if n := count(t, s, "SELECT count() FROM alert_deliveries"); n != 0 {
		t.Errorf("alert_deliveries holds %d rows, want none", n)
	}
}

// TestDeliveredSet fills the remembered keys past two generations: the
// oldest are forgotten, recently asked ones are kept.
func TestDeliveredSet(t *testing.T) {
	var d deliveredSet
	key := func(i int) deliveryKey { return deliveryKey{fmt.Sprint(i), "oncall"} }
	state := func(i int) notify.DeliveryState { return notify.DeliveryState{Delivered: true, Attempts: i%7 + 1} }
	add := func(i int) { d.add(key(i), state(i)) }
	has := func(i int) bool {
		st, ok := d.get(key(i))
		if ok && st != state(i) {
			t.Errorf("key %d remembered as %+v, want %+v", i, st, state(i))
		}
		return ok
	}
	if has(0) {
		t.Fatal("empty set has a key")
	}
	for i := range deliveredCap {
		add(i)
	}
	add(deliveredCap) // the first generation is now the previous one
	if !has(0) {      // and asking moves key 0 to the current one
		t.Fatal("key 0 forgotten after one generation")
	}
	for i := deliveredCap + 1; i < 2*deliveredCap; i++ {
		add(i)
	}
	add(2 * deliveredCap) // the first generation is dropped
	if has(1) {
		t.Error("key 1 remembered after two generations; the set must stay bounded")
	}
	if !has(0) || !has(2*deliveredCap) || !has(2*deliveredCap-1) {
		t.Error("a recent key was forgotten")
	}
	if n := len(d.cur) + len(d.prev); n > 2*deliveredCap {
		t.Errorf("set holds %d keys, want at most %d", n, 2*deliveredCap)
	}
}

// fillDeliveries writes n attempts in one INSERT: alerts alert-00000000…
// to destinations dest-0 and dest-1, a quarter of them failed. It returns
// the rows' alert IDs, destinations and statuses.
func fillDeliveries(tb testing.TB, s *Store, n int) (ids, dests, statuses []string) {
	tb.Helper()
	var errs []string
	var attempts []uint32
	var times []time.Time
	for i := range n {
		st := "delivered"
		if i%4 == 0 {
			st = "failed"
		}
		ids, dests, statuses = append(ids, fmt.Sprintf("alert-%08d", i/2)), append(dests, fmt.Sprintf("dest-%d", i%2)), append(statuses, st)
		errs, attempts, times = append(errs, ""), append(attempts, 1), append(times, attemptTime.Add(time.Duration(i)*time.Second))
	}
	if err := s.send(context.Background(), insertDeliveries, ids, dests, attempts, statuses, errs, times); err != nil {
		tb.Fatal(err)
	}
	return ids, dests, statuses
}

// TestStateReadsFewRows checks that the lookup uses the table's
// sorting key: on 100k attempts it reads at most two index granules
// (8192 rows each), while a query that cannot use the key is stopped by
// the same limit.
func TestStateReadsFewRows(t *testing.T) {
	s := testStore(t, Config{})
	ids, dests, statuses := fillDeliveries(t, s, 100_000)
	ctx := ch.Context(t.Context(), ch.WithSettings(ch.Settings{"max_rows_to_read": 2 * 8192}))
	for _, k := range []int{0, 1, 3, 50_001, 99_998, 99_999} {
		got, err := delivered(s.State(ctx, ids[k], dests[k]))
		if err != nil || got != (statuses[k] == "delivered") {
			t.Errorf("State(%s, %s) = %v, %v; status %s", ids[k], dests[k], got, err, statuses[k])
		}
	}
	var n uint64
	err := s.conn.QueryRow(ctx, "SELECT count() FROM alert_deliveries WHERE destination = 'dest-1' AND error = 'x'").Scan(&n)
	if err == nil {
		t.Error("a query off the sorting key read all 100k rows under the limit; the limit proves nothing")
	}
}

// BenchmarkState measures the lookup a notifier makes for every alert
// and destination, on a table of 100k attempts, with no remembered keys:
// one query through the primary index.
func BenchmarkState(b *testing.B) {
	const rows = 100_000
	s := testStore(b, Config{})
	ctx := context.Background()
	ids, dests, statuses := fillDeliveries(b, s, rows)
	i := 0
	for b.Loop() {
		s.delivered.cur, s.delivered.prev = nil, nil
		k := (i * 7919) % rows
		i++
		got, err := delivered(s.State(ctx, ids[k], dests[k]))
		if err != nil || got != (statuses[k] == "delivered") {
			b.Fatalf("State(%s, %s) = %v, %v; status %s", ids[k], dests[k], got, err, statuses[k])
		}
	}
}

// BenchmarkRecord measures one synchronous Record: an INSERT of one row
// the server has accepted when it returns.
func BenchmarkRecord(b *testing.B) {
	s := testStore(b, Config{})
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		a := notify.Attempt{AlertID: fmt.Sprintf("alert-%d", i), Destination: "oncall", Attempt: 1,
			Status: notify.StatusDelivered, AttemptedAt: attemptTime}
		if err := s.Record(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
}

// flakyProxy forwards TCP connections to a server; while down it drops
// every connection, open or new, as a ClickHouse that restarts.
type flakyProxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func newFlakyProxy(t *testing.T, target string) *flakyProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyProxy{l: l, target: target}
	t.Cleanup(func() { l.Close(); p.setDown(true) })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			p.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

// setDown takes the server away (dropping every connection) or back.
func (p *flakyProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// TestDeliveryLogRidesOutOutage cuts the connections to ClickHouse and
// refuses new ones for a moment: Record and State wait for the server
// to come back instead of failing (which would stop the notifier), and a
// caller's deadline still ends the wait.
func TestDeliveryLogRidesOutOutage(t *testing.T) {
	s := testStore(t, Config{})
	u, err := url.Parse(os.Getenv(serverEnv))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newFlakyProxy(t, u.Host)
	u.Host, u.Path = proxy.l.Addr().String(), "/"+s.database
	via, err := Open(t.Context(), Config{URL: u.String()})
	if err != nil {
		t.Fatal(err)
	}
	defer via.Close()
	ctx := t.Context()
	a := notify.Attempt{AlertID: "x", Destination: "oncall", Attempt: 1, Status: notify.StatusFailed, Error: "503", AttemptedAt: attemptTime}
	if err := via.Record(ctx, a); err != nil {
		t.Fatal(err)
	}

	proxy.setDown(true)
	time.AfterFunc(700*time.Millisecond, func() { proxy.setDown(false) })
	a.Attempt, a.Status, a.Error = 2, notify.StatusDelivered, ""
	if err := via.Record(ctx, a); err != nil {
		t.Fatalf("Record across a short outage: %v", err)
	}
	proxy.setDown(true)
	time.AfterFunc(700*time.Millisecond, func() { proxy.setDown(false) })
	if got, err := delivered(via.State(ctx, "x", "oncall")); err != nil || !got {
		t.Fatalf("State across a short outage = %v, %v; want true", got, err)
	}
	if got, err := delivered(s.State(ctx, "x", "oncall")); err != nil || !got {
		t.Errorf("the direct store: delivered = %v, %v; want true", got, err)
	}

	proxy.setDown(true)
	defer proxy.setDown(false)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if got, err := delivered(via.State(short, "y", "oncall")); err == nil {
		t.Errorf("State with ClickHouse away = %v, nil; want an error", got)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("State waited %v past its caller's 300ms deadline", waited)
	}
}
