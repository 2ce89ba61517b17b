package duckdb

import (
	"context"
	"fmt"

	"github.com/vigilsec/vigil/detect/notify"
)

var _ notify.DeliveryLog = (*Store)(nil)

// Record writes one delivery attempt to alert_deliveries; recording the
// same alert, destination and attempt number again replaces the row. It
// returns once the row is committed.
func (s *Store) Record(ctx context.Context, a notify.Attempt) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return fmt.Errorf("duckdb: store closed")
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO alert_deliveries VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (alert_id, destination, attempt) DO UPDATE SET
	status = excluded.status, error = excluded.error, attempted_at = excluded.attempted_at`,
		text(a.AlertID), text(a.Destination), a.Attempt, string(a.Status), text(a.Error), a.AttemptedAt.UTC())
	if err != nil {
		return fmt.Errorf("duckdb: recording a delivery: %w", classify(err))
	}
	return nil
}

// State reads the delivery state of the alert at the destination:
// whether a delivery was accepted, and the highest attempt numbers,
// overall and dead-lettered (0 when there is none).
func (s *Store) State(ctx context.Context, alertID, destination string) (notify.DeliveryState, error) {
	var st notify.DeliveryState
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE status = ?) > 0,
	coalesce(max(attempt), 0), coalesce(max(attempt) FILTER (WHERE status = ?), 0)
FROM alert_deliveries WHERE alert_id = ? AND destination = ?`,
		string(notify.StatusDelivered), string(notify.StatusDeadLetter), alertID, destination).
		Scan(&st.Delivered, &st.Attempts, &st.DeadLettered)
	if err != nil {
		return notify.DeliveryState{}, fmt.Errorf("duckdb: looking up a delivery: %w", err)
	}
	return st, nil
}
