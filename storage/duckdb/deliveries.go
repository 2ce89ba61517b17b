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

// Delivered reports whether a delivery of the alert to the destination
// was accepted.
func (s *Store) Delivered(ctx context.Context, alertID, destination string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM alert_deliveries
WHERE alert_id = ? AND destination = ? AND status = ?`, alertID, destination, string(notify.StatusDelivered)).Scan(&n)
	return n > 0, err
}
