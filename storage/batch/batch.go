// Package batch buffers rows and writes them to a store in batches.
//
// A Writer flushes when it holds Config.Size rows or when its oldest row has
// waited Config.Interval. A batch that fails is tried again with the same
// rows, with exponential backoff. A batch that fails with a permanent error
// (see Permanent) is split in halves until the rows the store rejects are
// found; those go to Config.DeadLetter and the rest is written, so one bad
// row never poisons a batch.
//
// Add blocks while a full buffer is written (backpressure): a Writer holds
// at most Size buffered rows plus the batch being written.
//
// Delivery is at least once. A row is durably written once a later Flush or
// Close returns nil; only then may its source be acknowledged. A batch that
// fails for good (retries exhausted, or its context ended) is lost to the
// Writer, so the Writer fails from then on: every call returns that error,
// and the caller re-reads its input from the last acknowledged position
// into a new Writer.
package batch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Config configures a Writer. The zero value is valid; each field documents
// its default.
type Config[T any] struct {
	// Size is the number of buffered rows that triggers a flush, and so the
	// largest batch. Default 10000.
	Size int
	// Interval is the longest a row waits in the buffer before it is
	// flushed. Default 1s (alerts want less, e.g. 200ms).
	Interval time.Duration
	// Attempts is how many times a batch is tried, the first try included,
	// while it fails with an error that is not permanent. Default 5.
	Attempts int
	// MinBackoff is the pause after the first failed try; it doubles after
	// each further failure, up to MaxBackoff. Default 100ms.
	MinBackoff time.Duration
	// MaxBackoff caps the pause between tries. Default 5s.
	MaxBackoff time.Duration
	// DeadLetter receives each row the store rejects with a permanent error,
	// with that error; the other rows of its batch are written. It is called
	// from the goroutine that flushes and must not block for long. When nil,
	// a permanent error fails the whole batch.
	DeadLetter func(row T, err error)
}

func (c Config[T]) withDefaults() Config[T] {
	if c.Size == 0 {
		c.Size = 10000
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.Attempts == 0 {
		c.Attempts = 5
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 5 * time.Second
	}
	return c
}

// Validate reports a configuration that cannot work.
func (c Config[T]) Validate() error {
	switch {
	case c.Size < 0:
		return fmt.Errorf("batch: size %d < 0", c.Size)
	case c.Interval < 0:
		return fmt.Errorf("batch: interval %v < 0", c.Interval)
	case c.Attempts < 0:
		return fmt.Errorf("batch: attempts %d < 0", c.Attempts)
	case c.MinBackoff < 0 || c.MaxBackoff < 0:
		return fmt.Errorf("batch: negative backoff %v..%v", c.MinBackoff, c.MaxBackoff)
	case c.MaxBackoff != 0 && c.MinBackoff > c.MaxBackoff:
		return fmt.Errorf("batch: min backoff %v > max backoff %v", c.MinBackoff, c.MaxBackoff)
	}
	return nil
}

// ErrClosed is returned by Add and Flush after Close.
var ErrClosed = errors.New("batch: writer closed")

// Stats counts what a Writer did.
type Stats struct {
	Rows         int64 // rows written
	Batches      int64 // successful calls of the flush function
	Retries      int64 // tries repeated after an error that is not permanent
	DeadLettered int64 // rows handed to Config.DeadLetter
}

// Writer buffers rows of type T and writes them in batches through a flush
// function. Its methods are safe for concurrent use.
type Writer[T any] struct {
	cfg   Config[T]
	flush func(ctx context.Context, rows []T) error

	sem    chan struct{} // holds a token while a batch is written
	bg     context.Context
	cancel context.CancelFunc // ends background flushes once Close gives up

	mu     sync.Mutex
	buf    []T
	spare  []T
	timer  *time.Timer
	err    error // first failed batch; the Writer fails from then on
	closed bool
	stats  Stats
}

// New returns a Writer that writes batches with flush. flush must write all
// rows or fail; it must not keep rows after it returns, and it should wrap
// errors that retrying the same rows cannot fix with Permanent.
func New[T any](cfg Config[T], flush func(ctx context.Context, rows []T) error) (*Writer[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if flush == nil {
		return nil, errors.New("batch: nil flush function")
	}
	cfg = cfg.withDefaults()
	bg, cancel := context.WithCancel(context.Background())
	return &Writer[T]{
		cfg:    cfg,
		flush:  flush,
		sem:    make(chan struct{}, 1),
		bg:     bg,
		cancel: cancel,
		buf:    make([]T, 0, cfg.Size),
	}, nil
}

// Add buffers rows, writing a batch each time the buffer fills; it blocks
// while that batch is written. It returns the error of a failed batch.
func (w *Writer[T]) Add(ctx context.Context, rows ...T) error {
	for len(rows) > 0 {
		w.mu.Lock()
		if err := w.failedLocked(); err != nil {
			w.mu.Unlock()
			return err
		}
		n := min(len(rows), w.cfg.Size-len(w.buf))
		w.buf = append(w.buf, rows[:n]...)
		rows = rows[n:]
		if w.timer == nil && len(w.buf) > 0 {
			w.timer = time.AfterFunc(w.cfg.Interval, w.tick)
		}
		full := len(w.buf) >= w.cfg.Size
		w.mu.Unlock()
		if full {
			if err := w.flushBuffer(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// Flush writes the buffered rows and returns once they are written. A nil
// result means every row added before the call is written or dead-lettered.
func (w *Writer[T]) Flush(ctx context.Context) error {
	w.mu.Lock()
	err := w.failedLocked()
	w.mu.Unlock()
	if err != nil {
		return err
	}
	return w.flushBuffer(ctx)
}

// Close writes the buffered rows and stops the Writer; later calls of Add
// and Flush return ErrClosed. If ctx ends first, a background flush in
// progress is cancelled too. Close returns the error of any failed batch.
func (w *Writer[T]) Close(ctx context.Context) error {
	defer w.cancel()
	stop := context.AfterFunc(ctx, w.cancel)
	defer stop()
	w.mu.Lock()
	if w.closed {
		err := w.err
		w.mu.Unlock()
		return err
	}
	w.closed = true
	err := w.err
	w.mu.Unlock()
	if err != nil {
		return err
	}
	return w.flushBuffer(ctx)
}

// Stats returns what the Writer did so far.
func (w *Writer[T]) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

func (w *Writer[T]) failedLocked() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return ErrClosed
	}
	return nil
}

// tick flushes when the oldest buffered row has waited Config.Interval; a
// failure is kept and returned by the next call.
func (w *Writer[T]) tick() {
	_ = w.flushBuffer(w.bg) // recorded in w.err by flushBuffer
}

// flushBuffer takes the buffered rows and writes them, one batch at a time.
func (w *Writer[T]) flushBuffer(ctx context.Context) error {
	select {
	case w.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-w.sem }()

	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return err
	}
	rows := w.buf
	if w.spare != nil {
		w.buf, w.spare = w.spare, nil
	} else {
		w.buf = make([]T, 0, w.cfg.Size)
	}
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	w.mu.Unlock()
	if len(rows) == 0 {
		return nil
	}

	err := w.write(ctx, rows)
	clear(rows)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.spare = rows[:0]
	if err != nil {
		w.err = fmt.Errorf("batch: writing %d rows: %w", len(rows), err)
		return w.err
	}
	return nil
}

// write writes rows, isolating the rows rejected with a permanent error.
func (w *Writer[T]) write(ctx context.Context, rows []T) error {
	err := w.try(ctx, rows)
	if err == nil || w.cfg.DeadLetter == nil || !IsPermanent(err) {
		return err
	}
	return w.isolate(ctx, rows, err)
}

// isolate writes rows, which failed together with the permanent error err,
// in halves, recursing into each half that fails permanently again, down to
// single rows, which are dead-lettered. k bad rows among n cost
// O(k·log n) extra flushes.
func (w *Writer[T]) isolate(ctx context.Context, rows []T, err error) error {
	if len(rows) == 1 {
		w.cfg.DeadLetter(rows[0], err)
		w.mu.Lock()
		w.stats.DeadLettered++
		w.mu.Unlock()
		return nil
	}
	mid := len(rows) / 2
	for _, half := range [][]T{rows[:mid], rows[mid:]} {
		err := w.try(ctx, half)
		if err == nil {
			continue
		}
		if !IsPermanent(err) {
			return err
		}
		if err := w.isolate(ctx, half, err); err != nil {
			return err
		}
	}
	return nil
}

// try calls flush with rows until it succeeds, fails permanently, ctx ends
// or Config.Attempts tries failed, pausing with exponential backoff.
func (w *Writer[T]) try(ctx context.Context, rows []T) error {
	backoff := w.cfg.MinBackoff
	for attempt := 1; ; attempt++ {
		err := w.flush(ctx, rows)
		if err == nil {
			w.mu.Lock()
			w.stats.Rows += int64(len(rows))
			w.stats.Batches++
			w.mu.Unlock()
			return nil
		}
		if IsPermanent(err) || attempt >= w.cfg.Attempts || ctx.Err() != nil {
			return err
		}
		w.mu.Lock()
		w.stats.Retries++
		w.mu.Unlock()
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (after: %w)", ctx.Err(), err)
		}
		backoff = min(2*backoff, w.cfg.MaxBackoff)
	}
}

// permanentError marks an error that retrying the same rows cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that trying the same rows again cannot fix,
// such as a row the store rejects; the Writer then isolates the bad rows
// instead of retrying. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
