package duckdb

import (
	"context"
	"testing"

	"github.com/vigilsec/vigil/detect/notify"
)

func TestDeliveryLog(t *testing.T) {
	ctx := context.Background()
	s := open(t, Config{})
	steps := []struct {
		attempt notify.Attempt
		want    bool // Delivered("x", "oncall") afterwards
	}{
		{notify.Attempt{AlertID: "x", Destination: "oncall", Attempt: 1, Status: notify.StatusFailed, Error: "503", AttemptedAt: t0}, false},
		{notify.Attempt{AlertID: "x", Destination: "slack", Attempt: 1, Status: notify.StatusDelivered, AttemptedAt: t0}, false},
		{notify.Attempt{AlertID: "x", Destination: "oncall", Attempt: 2, Status: notify.StatusDelivered, AttemptedAt: t0}, true},
		{notify.Attempt{AlertID: "x", Destination: "oncall", Attempt: 2, Status: notify.StatusDelivered, AttemptedAt: t0}, true},
	}
	for i, st := range steps {
		if err := s.Record(ctx, st.attempt); err != nil {
			t.Fatal(err)
		}
		got, err := s.Delivered(ctx, "x", "oncall")
		if err != nil || got != st.want {
			t.Errorf("after step %d: Delivered = %v, %v; want %v", i, got, err, st.want)
		}
	}
	if got := scalar(t, s, "SELECT count(*) FROM alert_deliveries"); got != int64(3) {
		t.Errorf("alert_deliveries holds %v rows, want 3 (a recorded attempt replaces its row)", got)
	}
}
