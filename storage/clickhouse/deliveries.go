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

// selectDeliveryState reads the delivery state of one alert and
// destination from all its rows: how many are delivered, the highest
// attempt number, and the highest dead-lettered one (0 when there is no
// row: aggregates without GROUP BY answer one row of defaults). The table
// is sorted by (alert_id, destination, attempt), so the primary index
// narrows the read to the granule or two that hold the alert, with no
// FINAL: a row is visible as soon as its INSERT returned, merged or not,
// and the aggregates are the same whether the parts holding the rows were
// merged or not, except in the one race below. FINAL would not help and
// could hurt: the rows of one attempt number collapse into the last one
// inserted, so FINAL could hide a delivered row behind a failed one of
// the same number written after it by another instance (two replicas
// sending one alert at the same moment during a rebalance); until the
// merge, reading every row still sees it. countIf and maxIf are as old as
// ClickHouse 1.1, so 18.16 runs this too.
const selectDeliveryState = "SELECT countIf(status = ?), max(attempt), maxIf(attempt, status = ?) FROM " +
	storage.DeliveriesTable + " WHERE alert_id = ? AND destination = ?"

// asyncInsertSince is the first server version with asynchronous inserts
// (the async_insert setting, 21.11): Record turns them off, so that it
// returns only once the row is in a part. Older servers insert
// synchronously and reject the unknown setting.
var asyncInsertSince = [2]uint64{21, 11}

// Record writes one delivery attempt to alert_deliveries and returns once
// the server has accepted the row: one synchronous INSERT per attempt (a
// low volume), never a background batch. State sees the row as soon as
// Record returned. A dropped connection or a restarting server is
// waited out for a while (see stateRetryFor). Writing the same alert,
// destination and attempt number again replaces the row when parts merge
// (the last one written wins); the notifier numbers its attempts on from
// the highest recorded (State), across restarts and replicas, so that is
// the same attempt written again (a dead letter taking the place of the
// last failed attempt, a row written twice after a lost answer) and every
// attempt is kept, for the analysts.
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
		s.delivered.add(deliveryKey{a.AlertID, a.Destination}, notify.DeliveryState{Delivered: true, Attempts: a.Attempt})
	}
	return nil
}

// State reads the delivery state of the alert at the destination from
// alert_deliveries: whether a delivered row exists, and the highest
// attempt numbers, overall and dead-lettered. A key found delivered is
// remembered with its state (a delivery is never undone, and the notifier
// sends it no more), so asking again costs no query; a key not yet
// delivered is asked of the server each time, since another instance may
// attempt or deliver it.
func (s *Store) State(ctx context.Context, alertID, destination string) (notify.DeliveryState, error) {
	k := deliveryKey{alertID, destination}
	if st, ok := s.delivered.get(k); ok {
		return st, nil
	}
	var delivered uint64
	var attempts, dead uint32
	err := s.retrying(ctx, func(ctx context.Context) error {
		ctx, done := guard(ctx)
		defer done()
		return s.conn.QueryRow(ctx, selectDeliveryState, string(notify.StatusDelivered), string(notify.StatusDeadLetter),
			alertID, destination).Scan(&delivered, &attempts, &dead)
	})
	if err != nil {
		return notify.DeliveryState{}, fmt.Errorf("clickhouse: looking up the delivery of %q to %q: %w", alertID, destination, err)
	}
	st := notify.DeliveryState{Delivered: delivered > 0, Attempts: int(attempts), DeadLettered: int(dead)}
	if st.Delivered {
		s.delivered.add(k, st)
	}
	return st, nil
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
// at most this many each, some 12 MB at worst. A key forgotten costs one
// query when it is asked about again.
const deliveredCap = 50_000

// deliveredSet remembers keys known to be delivered, with their state, in
// two generations: when the current one is full it becomes the previous
// one and the old previous one is dropped, so recently used keys stay.
// Its zero value is empty and ready.
type deliveredSet struct {
	mu        sync.Mutex
	cur, prev map[deliveryKey]notify.DeliveryState
}

// get returns the remembered state of k, if any.
func (d *deliveredSet) get(k deliveryKey) (notify.DeliveryState, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if st, ok := d.cur[k]; ok {
		return st, true
	}
	if st, ok := d.prev[k]; ok {
		d.addLocked(k, st)
		return st, true
	}
	return notify.DeliveryState{}, false
}

func (d *deliveredSet) add(k deliveryKey, st notify.DeliveryState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addLocked(k, st)
}

func (d *deliveredSet) addLocked(k deliveryKey, st notify.DeliveryState) {
	if len(d.cur) >= deliveredCap {
		d.prev, d.cur = d.cur, nil
	}
	if d.cur == nil {
		d.cur = make(map[deliveryKey]notify.DeliveryState)
	}
	d.cur[k] = st
}
