package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/storage"
)

// Run consumes alerts and delivers them until ctx ends or the consumer
// fails.
//
// Each destination has its own worker and a queue of Config.Queue
// notifications, so a destination that is down and retrying delays no
// other destination; when its queue is full, Run stops reading
// (backpressure). A message is committed only when its alert is delivered
// or dead-lettered at every destination it routes to (for grouped routes:
// once its group has been sent), and only as part of the contiguous prefix
// of fetched messages that are done, so a crash never loses an alert; the
// delivery log keeps the redelivered ones from reaching a destination
// twice.
//
// When ctx ends, Run stops fetching, sends the held groups, lets the
// workers finish within Config.ShutdownTimeout, commits what is done and
// returns nil. When the consumer reports io.EOF (a topic that ends, as the
// in-process bus does once its producers closed), Run does the same once
// everything read is delivered or dead-lettered. It returns an error when
// fetching, committing or recording
// delivery state fails. Run does not close the consumer.
func (n *Notifier) Run(ctx context.Context, c storage.Consumer[*detect.Alert]) error {
	fctx, stopFetch := context.WithCancel(ctx)
	msgs := make(chan storage.Message[*detect.Alert])
	fetchErr := make(chan error, 1)
	fetched := make(chan struct{})
	go func() {
		defer close(fetched)
		for {
			m, err := c.Fetch(fctx)
			if err != nil {
				fetchErr <- err
				return
			}
			select {
			case msgs <- m:
			case <-fctx.Done():
				return
			}
		}
	}()
	defer func() { stopFetch(); <-fetched }()

	w := n.startWorkers(ctx)
	var pending []*entry
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if next, ok := n.nextDeadline(); ok {
			timer.Reset(max(next.Sub(n.c.Now()), 0))
		} else {
			timer.Reset(time.Hour)
		}
		var err error
		select {
		case m := <-msgs:
			e := &entry{msg: m, t: &ticket{}}
			pending = append(pending, e)
			if m.Value != nil {
				err = w.enqueue(ctx, n.route(m.Value, e.t))
			}
		case <-timer.C:
			err = w.enqueue(ctx, n.takeDue(false))
		case <-w.progress:
		case ferr := <-fetchErr:
			if errors.Is(ferr, io.EOF) {
				// A finite topic ended (the in-process bus of vigil
				// run over files): send what was read, then stop.
				return n.shutdown(ctx, c, w, pending, nil)
			}
			if ctx.Err() == nil {
				err = fmt.Errorf("fetching alerts: %w", ferr)
			}
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			return n.shutdown(ctx, c, w, pending, nil)
		}
		if err == nil {
			pending, err = commitDone(ctx, c, pending)
		}
		if err != nil {
			return n.shutdown(ctx, c, w, pending, err)
		}
	}
}

// workers are Run's per-destination senders.
type workers struct {
	queues   map[*dest]chan job
	wg       sync.WaitGroup
	cancel   context.CancelFunc
	progress chan struct{} // a job finished; size 1, never blocks a worker
}

// startWorkers starts one worker per destination. Workers outlive ctx
// until shutdown lets them go, so what was read can still be sent.
func (n *Notifier) startWorkers(ctx context.Context) *workers {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w := &workers{queues: map[*dest]chan job{}, cancel: cancel, progress: make(chan struct{}, 1)}
	for _, d := range n.dests {
		q := make(chan job, n.c.Queue)
		w.queues[d] = q
		w.wg.Go(func() {
			for j := range q {
				j.finish(n.send(wctx, j.d, j.route, j.alerts))
				select {
				case w.progress <- struct{}{}:
				default:
				}
			}
		})
	}
	return w
}

// enqueue hands jobs to their destinations' workers, blocking while a
// queue is full.
func (w *workers) enqueue(ctx context.Context, jobs []job) error {
	for _, j := range jobs {
		select {
		case w.queues[j.d] <- j:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// stop closes the queues and waits for the workers until ctx ends, then
// cancels what they are still sending.
func (w *workers) stop(ctx context.Context) {
	for _, q := range w.queues {
		close(q)
	}
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		w.cancel()
		<-done
	}
	w.cancel()
}

// entry is a fetched message and the delivery it caused.
type entry struct {
	msg storage.Message[*detect.Alert]
	t   *ticket
}

// shutdown sends the held groups and lets the workers finish under the
// shutdown deadline, commits what is done and returns cause.
func (n *Notifier) shutdown(ctx context.Context, c storage.Consumer[*detect.Alert], w *workers, pending []*entry, cause error) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.c.ShutdownTimeout)
	defer cancel()
	if cause == nil {
		_ = w.enqueue(sctx, n.takeDue(true)) // what misses the deadline stays uncommitted
	}
	w.stop(sctx)
	if cause != nil {
		return cause
	}
	_, err := commitDone(sctx, c, pending)
	var te ticketError
	if errors.As(err, &te) && (errors.Is(te, context.Canceled) || errors.Is(te, context.DeadlineExceeded)) {
		// A delivery cut short because we are stopping is not an error of
		// the run: the alert stays uncommitted and comes again.
		return nil
	}
	return err
}

// ticketError is a delivery failure found while committing.
type ticketError struct{ error }

func (e ticketError) Unwrap() error { return e.error }

// commitDone commits the longest prefix of pending whose deliveries are
// done without error and returns the rest; the first delivery that failed
// (the state could not be recorded) is returned as a ticketError.
func commitDone(ctx context.Context, c storage.Consumer[*detect.Alert], pending []*entry) ([]*entry, error) {
	i := 0
	var failed error
	for ; i < len(pending); i++ {
		done, err := pending[i].t.state()
		if !done {
			break
		}
		if err != nil {
			failed = ticketError{err}
			break
		}
	}
	if i > 0 {
		// The last message of each partition commits the ones before it.
		last := map[int]storage.Message[*detect.Alert]{}
		var order []int
		for _, e := range pending[:i] {
			if _, ok := last[e.msg.Partition]; !ok {
				order = append(order, e.msg.Partition)
			}
			last[e.msg.Partition] = e.msg
		}
		msgs := make([]storage.Message[*detect.Alert], 0, len(order))
		for _, p := range order {
			msgs = append(msgs, last[p])
		}
		if err := c.Commit(ctx, msgs...); err != nil {
			return pending, fmt.Errorf("committing alerts: %w", err)
		}
	}
	return pending[i:], failed
}
