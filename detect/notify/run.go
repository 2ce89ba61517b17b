package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/storage"
)

// Run consumes alerts and delivers them until ctx ends or the consumer
// fails. A message is committed only when its alert is delivered or
// dead-lettered at every destination it routes to (for grouped routes:
// when its group has been sent), and only as part of the contiguous
// prefix of fetched messages that are done, so a crash never loses an
// alert; the delivery log keeps the redelivered ones from reaching a
// destination twice. When ctx ends, Run stops fetching, sends the held
// groups within Config.ShutdownTimeout, commits what is done and returns
// nil. Run does not close the consumer.
func (n *Notifier) Run(ctx context.Context, c storage.Consumer[*detect.Alert]) error {
	fctx, stop := context.WithCancel(ctx)
	defer stop()
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
	defer func() { <-fetched }()
	defer stop()

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
				err = n.accept(ctx, m.Value, e.t)
			}
		case <-timer.C:
			err = n.Flush(ctx, false)
		case ferr := <-fetchErr:
			if ctx.Err() == nil {
				err = fmt.Errorf("fetching alerts: %w", ferr)
			}
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			return n.shutdown(ctx, c, pending, nil)
		}
		if err != nil {
			return n.shutdown(ctx, c, pending, err)
		}
		if pending, err = commitDone(ctx, c, pending); err != nil {
			return err
		}
	}
}

// entry is a fetched message and the delivery it caused.
type entry struct {
	msg storage.Message[*detect.Alert]
	t   *ticket
}

// shutdown sends the held groups under a deadline, commits what is done
// and returns cause (nil when ctx ended).
func (n *Notifier) shutdown(ctx context.Context, c storage.Consumer[*detect.Alert], pending []*entry, cause error) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.c.ShutdownTimeout)
	defer cancel()
	if err := n.Flush(sctx, true); err != nil && cause == nil && ctx.Err() == nil {
		cause = err
	}
	if _, err := commitDone(sctx, c, pending); err != nil {
		cause = errors.Join(cause, err)
	}
	return cause
}

// commitDone commits the longest prefix of pending whose deliveries are
// done without error, and returns the rest.
func commitDone(ctx context.Context, c storage.Consumer[*detect.Alert], pending []*entry) ([]*entry, error) {
	i := 0
	for ; i < len(pending); i++ {
		done, err := pending[i].t.state()
		if !done || err != nil {
			break
		}
	}
	if i == 0 {
		return pending, nil
	}
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
	return pending[i:], nil
}
