package notify

import (
	"bufio"
	"bytes"
	"io"

	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// Status is the outcome of one delivery attempt.
type Status string

// Attempt outcomes, as stored in alert_deliveries.status.
const (
	// StatusDelivered: the receiver accepted the notification.
	StatusDelivered Status = "delivered"
	// StatusFailed: the attempt failed and will be retried.
	StatusFailed Status = "failed"
	// StatusDeadLetter: the attempt failed and no more will be made; the
	// error holds the reason.
	StatusDeadLetter Status = "dead_letter"
)

// Attempt is one row of alert_deliveries: one try to deliver one alert to
// one destination. A grouped notification records one row per alert it
// carries.
type Attempt struct {
	AlertID     string    `json:"alert_id"`
	Destination string    `json:"destination"`
	Attempt     int       `json:"attempt"`
	Status      Status    `json:"status"`
	Error       string    `json:"error,omitempty"`
	AttemptedAt time.Time `json:"attempted_at"`
}

// DeliveryState is what a DeliveryLog holds for one alert at one
// destination.
type DeliveryState struct {
	// Delivered: a StatusDelivered row exists.
	Delivered bool
	// Attempts is the highest attempt number recorded, 0 when there is
	// none.
	Attempts int
	// DeadLettered is the highest attempt number recorded with
	// StatusDeadLetter, 0 when there is none.
	DeadLettered int
}

// Spent is the number of attempts made since the last dead letter: the
// part of Retry.MaxAttempts already used.
func (s DeliveryState) Spent() int { return s.Attempts - s.DeadLettered }

// add takes a recorded attempt into s.
func (s *DeliveryState) add(a Attempt) {
	s.Attempts = max(s.Attempts, a.Attempt)
	switch a.Status {
	case StatusDelivered:
		s.Delivered = true
	case StatusDeadLetter:
		s.DeadLettered = max(s.DeadLettered, a.Attempt)
	}
}

// DeliveryLog is the durable delivery state.
//
// Record must make a StatusDelivered or StatusDeadLetter row durable before
// it returns (the Notifier then lets the consumer commit the alert);
// StatusFailed rows are informational. State reports, for an alert and a
// destination, whether a StatusDelivered row exists and the highest
// attempt numbers recorded, overall and dead-lettered; once Delivered is
// true the other fields may be those last seen (the Notifier sends a
// delivered pair no more).
//
// The Notifier numbers its attempts on from the highest recorded one, so
// an alert re-read after a restart or a rebalance (another replica takes
// over its partition) does not write attempt numbers again, and the
// attempts recorded since the last dead letter count against
// Retry.MaxAttempts: a retry budget spent before a crash is not granted
// again. Two rows of one alert, destination and attempt number are then
// the same attempt recorded twice (a dead letter replacing the failed row
// of the last attempt, or a row written again after a lost answer), or
// the one race left: two replicas attempting the same alert at the same
// moment during a rebalance, both reading the same state.
//
// Why a table rather than the bus commit: a Kafka commit covers a whole
// partition prefix and all destinations at once, so when one destination
// of an alert succeeded and another was still retrying at a crash, the
// commit could not say which; redelivery after the restart would page the
// successful one again. A row per (alert, destination) says exactly that,
// the commit then only marks alerts every destination is done with, and
// the same rows are what analysts query (alert_deliveries). The remaining
// window — a crash after the receiver accepted but before the row is
// written — cannot be closed from the sender's side; the stable
// webhook-id, PagerDuty dedup_key and Alertmanager alert_id label let the
// receivers absorb that one duplicate.
type DeliveryLog interface {
	Record(ctx context.Context, a Attempt) error
	State(ctx context.Context, alertID, destination string) (DeliveryState, error)
}

type deliveryKey struct{ alert, dest string }

// MemoryLog is a DeliveryLog in memory, for tests and one-off sends. It
// is not durable.
type MemoryLog struct {
	mu       sync.Mutex
	attempts []Attempt
	state    map[deliveryKey]DeliveryState
}

var _ DeliveryLog = (*MemoryLog)(nil)

// NewMemoryLog returns an empty MemoryLog.
func NewMemoryLog() *MemoryLog { return &MemoryLog{state: map[deliveryKey]DeliveryState{}} }

// Record stores a.
func (l *MemoryLog) Record(_ context.Context, a Attempt) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempts = append(l.attempts, a)
	addState(l.state, a)
	return nil
}

// State returns the delivery state of the alert at the destination.
func (l *MemoryLog) State(_ context.Context, alertID, dest string) (DeliveryState, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state[deliveryKey{alertID, dest}], nil
}

// addState takes a into the state of its alert and destination.
func addState(m map[deliveryKey]DeliveryState, a Attempt) {
	k := deliveryKey{a.AlertID, a.Destination}
	st := m[k]
	st.add(a)
	m[k] = st
}

// Attempts returns a copy of every recorded attempt, in order.
func (l *MemoryLog) Attempts() []Attempt {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Attempt(nil), l.attempts...)
}

// FileLog is a DeliveryLog in an append-only file of JSON lines, one
// Attempt each, for `vigil run` without a store. Delivered and dead-letter
// rows are synced to disk before Record returns; a torn last line (a crash
// while writing) is ignored when the file is opened again.
type FileLog struct {
	mu    sync.Mutex
	f     *os.File
	state map[deliveryKey]DeliveryState
}

var _ DeliveryLog = (*FileLog)(nil)

// OpenFileLog opens (creating it when missing) the log at path and loads
// delivery state.
func OpenFileLog(path string) (*FileLog, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	l := &FileLog{f: f, state: map[deliveryKey]DeliveryState{}}
	if err := l.load(path); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// load reads the rows. Only the last line may be torn (rows are appended
// with one write each): it is cut off, or completed when it parses.
func (l *FileLog) load(path string) error {
	r := bufio.NewReader(l.f)
	var off int64
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		complete := err == nil
		var a Attempt
		if jerr := json.Unmarshal(bytes.TrimSuffix(line, []byte{'\n'}), &a); jerr != nil {
			if complete {
				if _, perr := r.Peek(1); perr == nil {
					return fmt.Errorf("%s:%d: corrupt delivery row", path, n)
				}
			}
			// A torn tail: cut it off.
			if err := l.f.Truncate(off); err != nil {
				return err
			}
			break
		}
		off += int64(len(line))
		if !complete {
			if _, err := l.f.WriteAt([]byte{'\n'}, off); err != nil {
				return err
			}
			off++
		}
		addState(l.state, a)
		if !complete {
			break
		}
	}
	_, err := l.f.Seek(off, io.SeekStart)
	return err
}

// Record appends a; delivered and dead-letter rows are synced first.
func (l *FileLog) Record(_ context.Context, a Attempt) error {
	line, err := json.Marshal(a)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(line); err != nil {
		return fmt.Errorf("delivery log: %w", err)
	}
	if a.Status != StatusFailed {
		if err := l.f.Sync(); err != nil {
			return fmt.Errorf("delivery log: %w", err)
		}
	}
	addState(l.state, a)
	return nil
}

// State returns the delivery state of the alert at the destination.
func (l *FileLog) State(_ context.Context, alertID, dest string) (DeliveryState, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state[deliveryKey{alertID, dest}], nil
}

// Close closes the file.
func (l *FileLog) Close() error { return l.f.Close() }
