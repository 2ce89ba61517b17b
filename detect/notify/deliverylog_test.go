package notify

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileLogReopen(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		tail string // appended to the file after two good rows
		ok   bool
		// delivered: whether alert "c" counts as delivered after reopening
		delivered bool
	}{
		{"clean", "", true, false},
		{"torn row cut off", `{"alert_id":"c","destination":"d","attem`, true, false},
		{"complete row without newline kept", `{"alert_id":"c","destination":"d","attempt":1,"status":"delivered","attempted_at":"2026-03-14T12:00:00Z"}`, true, true},
		{"corrupt row in the middle", "garbage\n" + `{"alert_id":"c","destination":"d","attempt":1,"status":"delivered","attempted_at":"2026-03-14T12:00:00Z"}` + "\n", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log.jsonl")
			l, err := OpenFileLog(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range []Attempt{
				{AlertID: "a", Destination: "d", Attempt: 1, Status: StatusFailed, Error: "HTTP 500", AttemptedAt: t0},
				{AlertID: "a", Destination: "d", Attempt: 2, Status: StatusDelivered, AttemptedAt: t0},
			} {
				if err := l.Record(ctx, a); err != nil {
					t.Fatal(err)
				}
			}
			l.Close()
			f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString(tc.tail)
			f.Close()

			l, err = OpenFileLog(path)
			if !tc.ok {
				if err == nil || !strings.Contains(err.Error(), ":3: corrupt") {
					t.Fatalf("OpenFileLog = %v, want a corrupt-row error at line 3", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if st, _ := l.State(ctx, "a", "d"); st != (DeliveryState{Delivered: true, Attempts: 2}) {
				t.Errorf("a after reopening: %+v, want delivered at attempt 2", st)
			}
			if st, _ := l.State(ctx, "a", "other"); st.Delivered {
				t.Error("a delivered to a destination it never reached")
			}
			if st, _ := l.State(ctx, "c", "d"); st.Delivered != tc.delivered {
				t.Errorf("c delivered = %v, want %v", st.Delivered, tc.delivered)
			}
			// New rows start on a line of their own.
			if err := l.Record(ctx, Attempt{AlertID: "b", Destination: "d", Attempt: 1, Status: StatusDelivered, AttemptedAt: t0}); err != nil {
				t.Fatal(err)
			}
			l.Close()
			l, err = OpenFileLog(path)
			if err != nil {
				t.Fatalf("reopening after a new row: %v", err)
			}
			if st, _ := l.State(ctx, "b", "d"); !st.Delivered {
				t.Error("b lost")
			}
			l.Close()
		})
	}
}
