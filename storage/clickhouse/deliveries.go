package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/vigilsec/vigil/detect/notify"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/batch"
)

var _ notify.DeliveryLog = (*Store)(nil)

// insertDeliveries names its columns, as ClickHouse 18.16 wants.
const insertDeliveries = "INSERT INTO " + storage.DeliveriesTable +
	" (alert_id, destination, attempt, status, error, attempted_at)"

// selectDelivered counts the delivered rows of one alert and destination.
// The table is sorted by (alert_id, destination, attempt), so the primary
// index narrows the read to the granule or two that hold the alert, with
// no FINAL: a row is visible as soon as its INSERT returned, merged or
// not. FINAL would not help and could hurt: the rows of one attempt
// number collapse into the last one inserted, so FINAL could hide a
// delivered row behind a failed one of the same number written after it
// by another instance (two replicas sending one alert during a
// rebalance); until the merge, counting every row still sees it.
const selectDelivered = "SELECT count() FROM " + storage.DeliveriesTable +
	" WHERE alert_id = ? AND destination = ? AND status = ?"

// asyncInsertSince is the first server version with asynchronous inserts
// (the async_insert setting, 21.11): Record turns them off, so that it
// returns only once the row is in a part. Older servers insert
// synchronously and reject the unknown setting.
var asyncInsertSince = [2]uint64{21, 11}

// Record writes one delivery attempt to alert_deliveries and returns once
// the server has accepted the row: one synchronous INSERT per attempt (a
// low volume), never a background batch. Delivered sees the row as soon
// as Record returned. A dropped connection or a restarting server is
// waited out for a while (see stateRetryFor). Writing the same alert,
// destination and attempt number again replaces the row when parts merge
// (the last one written wins); every attempt of another number is kept,
// for the analysts.
func (s *Store) Record(ctx context.Context, a notify.Attempt) error {
	if err := checkAttempt(a); err != nil {
		return fmt.Errorf("clickhouse: delivery of %q to %q: %w", a.AlertID, a.Destination, err)
	}
	if atLeast(s.version, asyncInsertSince[0], asyncInsertSince[1]) {
		ctx = ch.Context(ctx, ch.WithSettings(ch.Settings{"async_insert": 0}))
	}
	err := s.retrying(ctx, func(ctx context.Context) error {
		return s.send(ctx, insertDeliveries, []string{a.AlertID}, []string{a.Destination}, []uint32{uint32(a.Attempt)},
			[]string{string(a.Status)}, []string{a.Error}, []time.Time{a.AttemptedAt.UTC()})
	})
	if err != nil {
		return err
	}
	if a.Status == notify.StatusDelivered {
		s.delivered.add(deliveryKey{a.AlertID, a.Destination})
	}
	return nil
}

// Delivered reports whether alert_deliveries holds a delivered row for
// the alert and destination. A key found delivered is remembered (a
// delivery is never undone), so asking again costs no query; a key not
// yet delivered is asked of the server each time, since another instance
// may deliver it.
func (s *Store) Delivered(ctx context.Context, alertID, destination string) (bool, error) {
	k := deliveryKey{alertID, destination}
	if s.delivered.has(k) {
		return true, nil
	}
	var n uint64
	err := s.retrying(ctx, func(ctx context.Context) error {
		ctx, done := guard(ctx)
		defer done()
		return s.conn.QueryRow(ctx, selectDelivered, alertID, destination, string(notify.StatusDelivered)).Scan(&n)
	})
	if err != nil {
		return false, fmt.Errorf("clickhouse: looking up the delivery of %q to %q: %w", alertID, destination, err)
	}
	if n == 0 {
		return false, nil
	}
	s.delivered.add(k)
	return true, nil
}

// Retries of the delivery state ride out a dropped connection or a
// ClickHouse restart: a call that failed without an answer from the server
// is tried again after stateRetryMin, doubling up to stateRetryMax, for at
// most stateRetryFor; the notifier stops on an error it gets. The server's
// own errors and an ended context are returned at once. Writing a row
// again is harmless: it collapses with the first.
const (
	stateRetryFor = 15 * time.Second
	stateRetryMin = 100 * time.Millisecond
	stateRetryMax = 2 * time.Second
)

// retrying runs op until it succeeds, fails for good, or the retries are
// spent.
func (s *Store) retrying(ctx context.Context, op func(context.Context) error) error {
	giveUp := time.Now().Add(stateRetryFor)
	for wait := stateRetryMin; ; wait = min(2*wait, stateRetryMax) {
		err := op(ctx)
		if err == nil || !transient(err) || ctx.Err() != nil || time.Now().Add(wait).After(giveUp) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// transient reports whether err may go away by itself: not an answer of
// the server, not rows it cannot take, not an ended context.
func transient(err error) bool {
	var exc *ch.Exception
	return !errors.As(err, &exc) && !batch.IsPermanent(err) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// checkAttempt rejects an attempt the table cannot hold.
func checkAttempt(a notify.Attempt) error {
	var errs []error
	if a.AlertID == "" {
		errs = append(errs, errors.New("no alert ID"))
	}
	if a.Destination == "" {
		errs = append(errs, errors.New("no destination"))
	}
	if a.Attempt < 0 || int64(a.Attempt) > math.MaxUint32 {
		errs = append(errs, fmt.Errorf("attempt %d outside 0..%d", a.Attempt, uint32(math.MaxUint32)))
	}
	switch a.Status {
	case notify.StatusDelivered, notify.StatusFailed, notify.StatusDeadLetter:
	default:
		errs = append(errs, fmt.Errorf("unknown status %q", a.Status))
	}
	errs = append(errs, checkTime("attempt time", a.AttemptedAt))
	return errors.Join(errs...)
}

// deliveryKey is one alert at one destination.
type deliveryKey struct{ alert, dest string }

// deliveredCap bounds the keys deliveredSet remembers: two generations of
// at most this many each, some 10 MB at worst. A key forgotten costs one
// query when it is asked about again.
const deliveredCap = 50_000

// deliveredSet remembers keys known to be delivered, in two generations:
// when the current one is full it becomes the previous one and the old
// previous one is dropped, so recently used keys stay. Its zero value is
// empty and ready.
type deliveredSet struct {
	mu        sync.Mutex
	cur, prev map[deliveryKey]struct{}
}

func (d *deliveredSet) has(k deliveryKey) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.cur[k]; ok {
		return true
	}
	if _, ok := d.prev[k]; ok {
		d.addLocked(k)
		return true
	}
	return false
}

func (d *deliveredSet) add(k deliveryKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addLocked(k)
}

func (d *deliveredSet) addLocked(k deliveryKey) {
	if len(d.cur) >= deliveredCap {
		d.prev, d.cur = d.cur, nil
	}
	if d.cur == nil {
		d.cur = make(map[deliveryKey]struct{})
	}
	d.cur[k] = struct{}{}
}
