package s3

import (
	"context"
	"sync"
)

// Ledger applies checkpoint changes in acknowledgement order: a change
// recorded after n batches were handed out takes effect once the first n
// batches are acknowledged, and the checkpoint is then saved. Both the S3
// listing and the SQS notification sources use it, the latter to delete
// messages.
type Ledger struct {
	mu      sync.Mutex
	emitted int
	acked   int
	pending []change
	// Commit runs after changes were applied, under the ledger's lock, with
	// the context of the acknowledgement (or of Do).
	commit func(ctx context.Context) error
}

type change struct {
	after int
	apply func(ctx context.Context) error
}

// NewLedger returns a ledger that calls commit after it applied changes;
// commit may be nil.
func NewLedger(commit func(ctx context.Context) error) *Ledger {
	return &Ledger{commit: commit}
}

// Emit records that one more batch was handed out and returns its ack.
func (l *Ledger) Emit() func(context.Context) error {
	l.mu.Lock()
	l.emitted++
	n := l.emitted
	l.mu.Unlock()
	return func(ctx context.Context) error { return l.ack(ctx, n) }
}

// Do records a change to apply once every batch handed out so far is
// acknowledged; when all are, it applies the change now.
func (l *Ledger) Do(ctx context.Context, apply func(ctx context.Context) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.acked == l.emitted && len(l.pending) == 0 {
		if err := apply(ctx); err != nil {
			return err
		}
		return l.commitLocked(ctx)
	}
	l.pending = append(l.pending, change{after: l.emitted, apply: apply})
	return nil
}

// Lock runs f under the ledger's lock, for reading the state its changes
// modify.
func (l *Ledger) Lock(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
}

func (l *Ledger) ack(ctx context.Context, n int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n > l.acked {
		l.acked = n
	}
	applied := 0
	for _, c := range l.pending {
		if c.after > l.acked {
			break
		}
		if err := c.apply(ctx); err != nil {
			l.pending = l.pending[applied:]
			return err
		}
		applied++
	}
	l.pending = l.pending[applied:]
	if applied == 0 {
		return nil
	}
	return l.commitLocked(ctx)
}

func (l *Ledger) commitLocked(ctx context.Context) error {
	if l.commit == nil {
		return nil
	}
	return l.commit(ctx)
}
