package duckdb

import (
	"context"
	"testing"

	"github.com/vigilsec/vigil/detect/notify"
)

func TestDeliveryLog(t *testing.T) {
	ctx := context.Background()
	s := open(t, Config{})
	type state = notify.DeliveryState
	steps := []struct {
		attempt notify.Attempt
		want    state // State("x", "oncall") afterwards
	}{
		{notify.Attempt{AlertID: "x", Destination: "oncall", Attempt: 1, Status: notify.StatusFailed, Error: "503", AttemptedAt: t0}, state{Attempts: 1}},
		{notify.Attempt{AlertID: "x", Destination: "slack", Attempt: 4, Status: notify.StatusDelivered, AttemptedAt: t0}, state{Attempts: 1}},
		{notify.Attempt{AlertID: "x", Destination: "oncall", Attempt: 2, Status: notify.StatusFailed, Error: "503", AttemptedAt: t0}, state{Attempts: 2}},
		{notify.Attempt{AlertID: "x", Destination: "oncall", Attempt: 2, Status: notify.StatusDeadLetter, Error: "gave up", AttemptedAt: t0}, state{Attempts: 2, DeadLettered: 2}},
		{notify.Attempt{AlertID: "x", Destination: "oncall", Attempt: 3, Status: notify.StatusDelivered, AttemptedAt: t0}, state{Delivered: true, Attempts: 3, DeadLettered: 2}},
		{notify.Attempt{AlertID: "x", Destination: "oncall", Attempt: 3, Status: notify.StatusDelivered, AttemptedAt: t0}, state{Delivered: true, Attempts: 3, DeadLettered: 2}},
	}
	if st, err := s.State(ctx, "x", "oncall"); err != nil || st != (state{}) {
		t.Fatalf("State before any row = %+v, %v; want the zero state", st, err)
	}
	for i, step := range steps {
		if err := s.Record(ctx, step.attempt); err != nil {
			t.Fatal(err)
		}
		st, err := s.State(ctx, "x", "oncall")
		if err != nil || st != step.want {
			t.Errorf("after step %d: State = %+v, %v; want %+v", i, st, err, step.want)
		}
	}
	if got := scalar(t, s, "SELECT count(*) FROM alert_deliveries"); got != int64(4) {
		t.Errorf("alert_deliveries holds %v rows, want 4 (a recorded attempt replaces its row)", got)
	}
}
