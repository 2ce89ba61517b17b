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

// DeliveryLog is the durable delivery state.
//
// Record must make a StatusDelivered or StatusDeadLetter row durable before
// it returns (the Notifier then lets the consumer commit the alert);
// StatusFailed rows are informational. Delivered reports whether a
// StatusDelivered row exists for the alert and destination.
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
	Delivered(ctx context.Context, alertID, destination string) (bool, error)
}

type deliveryKey struct{ alert, dest string }

// MemoryLog is a DeliveryLog in memory, for tests and one-off sends. It
// is not durable.
type MemoryLog struct {
	mu        sync.Mutex
	attempts  []Attempt
	delivered map[deliveryKey]bool
}

var _ DeliveryLog = (*MemoryLog)(nil)

// NewMemoryLog returns an empty MemoryLog.
func NewMemoryLog() *MemoryLog { return &MemoryLog{delivered: map[deliveryKey]bool{}} }

// Record stores a.
func (l *MemoryLog) Record(_ context.Context, a Attempt) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempts = append(l.attempts, a)
	if a.Status == StatusDelivered {
		l.delivered[deliveryKey{a.AlertID, a.Destination}] = true
	}
	return nil
}

// Delivered reports whether the alert was delivered to the destination.
func (l *MemoryLog) Delivered(_ context.Context, alertID, dest string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.delivered[deliveryKey{alertID, dest}], nil
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
	mu        sync.Mutex
	f         *os.File
	delivered map[deliveryKey]bool
}

var _ DeliveryLog = (*FileLog)(nil)

// OpenFileLog opens (creating it when missing) the log at path and loads
// the delivered set.
func OpenFileLog(path string) (*FileLog, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	l := &FileLog{f: f, delivered: map[deliveryKey]bool{}}
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
		if a.Status == StatusDelivered {
			l.delivered[deliveryKey{a.AlertID, a.Destination}] = true
		}
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
	if a.Status == StatusDelivered {
		l.delivered[deliveryKey{a.AlertID, a.Destination}] = true
	}
	return nil
}

// Delivered reports whether the alert was delivered to the destination.
func (l *FileLog) Delivered(_ context.Context, alertID, dest string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.delivered[deliveryKey{alertID, dest}], nil
}

// Close closes the file.
func (l *FileLog) Close() error { return l.f.Close() }
