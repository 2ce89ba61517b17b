package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/storage/kafka"
)

// rootEvent is a state-changing call of the root user of the test account:
// rootRule (built in, suppress: {key: [recipientAccountId,
// sourceIPAddress], for: 1h}) folds all of them within an hour into one
// alert.
func rootEvent(id string, at time.Time) *ingest.Event {
	rec := map[string]any{
		"eventVersion": "1.08", "eventTime": at.UTC().Format(time.RFC3339), "eventID": id,
		"eventSource": "s3.amazonaws.com", "eventName": "PutBucketTagging", "awsRegion": "eu-west-1",
		"recipientAccountId": "111122223333", "eventType": "AwsApiCall", "readOnly": false,
		"sourceIPAddress": "203.0.113.45",
		"userIdentity":    map[string]any{"type": "Root", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"},
	}
	return &ingest.Event{ID: id, Type: "cloudtrail", Time: at.UTC(), Source: "e2e://root", Fields: rec, Raw: rawOf(rec)}
}

// rootGroup is rootRule's suppress key of rootEvent.
const rootGroup = "recipientAccountId=111122223333,sourceIPAddress=203.0.113.45"

// signalsOwner returns the member whose last "signals partitions assigned"
// log line holds signals partition part.
func signalsOwner(t *testing.T, procs []*proc, part int) *proc {
	t.Helper()
	for _, p := range procs {
		data, err := os.ReadFile(p.log.Name())
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.LastIndex(data, []byte(`msg="signals partitions assigned"`))
		if i < 0 {
			continue
		}
		line, _, _ := bytes.Cut(data[i:], []byte("\n"))
		_, list, _ := bytes.Cut(line, []byte(`partitions="`))
		list, _, _ = bytes.Cut(list, []byte(`"`))
		for _, f := range strings.Fields(string(list)) {
			if n, _, _ := strings.Cut(f, "@"); n == strconv.Itoa(part) {
				return p
			}
		}
	}
	t.Fatalf("no member holds signals partition %d", part)
	return nil
}

// alertLog keeps every alert message of one rule read from vigil.alerts.
type alertLog struct {
	mu     sync.Mutex
	alerts []detect.Alert
}

func (l *alertLog) snapshot() []detect.Alert {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.alerts)
}

// readRuleAlerts reads vigil.alerts in its own group and keeps rule's
// alerts until the test ends.
func readRuleAlerts(ctx context.Context, t *testing.T, cfg kafka.Config, group, rule string) *alertLog {
	t.Helper()
	c, err := kafka.NewConsumer(cfg, kafka.Subscription[*detect.Alert]{Topic: cfg.Topics.Alerts, Group: group,
		Codec: kafka.JSONCodec[*detect.Alert]{}})
	if err != nil {
		t.Fatal(err)
	}
	l := &alertLog{}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := c.Fetch(ctx)
			if err != nil {
				return
			}
			if m.Value.RuleID == rule {
				l.mu.Lock()
				l.alerts = append(l.alerts, *m.Value)
				l.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done; c.Close() })
	return l
}

// TestSuppressionSurvivesRestart fires a rule with a suppress block, kills
// the detect process with SIGKILL in the middle of the suppression period
// and starts it again while further matches of the period arrive. The
// correlator rebuilds the period from vigil.signals without emitting it
// again, so the whole period has one alert ID (one page), and its final
// version counts every match once, re-read events included.
func TestSuppressionSurvivesRestart(t *testing.T) {
	for _, tt := range []struct {
		name    string
		members int // detect processes; the first is killed
		restart bool
	}{
		{name: "restart", members: 1, restart: true},
		{name: "rebalance", members: 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, bus := broker(t)
			cfg := busConfig(t, bus)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			args := append([]string{"detect", "--bus", bus, "--lateness", "10m"}, busArgs...)
			var procs []*proc
			for i := range tt.members {
				p := newProc(t, fmt.Sprintf("detect-%d", i+1), args...)
				p.start(t)
				procs = append(procs, p)
			}
			log := readRuleAlerts(ctx, t, cfg, "e2e-root-reader", rootRule)
			// Keyed by source: one matcher sees the events in order, so
			// the first event opens the period and names the alert.
			write := eventWriter(ctx, t, cfg)
			time.Sleep(3 * time.Second) // every member holds partitions
			base := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
			n := 0
			root := func(k int) {
				for range k {
					write(rootEvent(fmt.Sprintf("r%03d-0000-0000-4000-8000-000000000000", n), base.Add(time.Duration(n)*time.Minute)))
					n++
				}
			}
			root(4)
			waitFor(t, 30*time.Second, "the root alert to open", func() (bool, string) {
				as := log.snapshot()
				return len(as) > 0, fmt.Sprintf("%d alerts", len(as))
			})
			opened := log.snapshot()[0]
			time.Sleep(time.Second) // the correlator commits what opened the alert
			victim := procs[0]
			if len(procs) > 1 {
				// Kill the member whose correlator holds the period.
				victim = signalsOwner(t, procs, signalsPartition(rootRule, rootGroup))
			}
			victim.kill()
			t.Logf("%s killed mid-period", victim.name)
			root(3) // while it is down
			if tt.restart {
				victim.start(t)
			}
			time.Sleep(2 * time.Second)
			root(3) // after the restart or the rebalance
			// An event of another principal two hours on moves event time
			// past the period's end: it closes.
			z := rootEvent("z000-0000-0000-4000-8000-000000000000", base.Add(2*time.Hour))
			z.Fields["userIdentity"] = map[string]any{"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/bystander"}
			z.Raw = rawOf(z.Fields)
			write(z)
			var last detect.Alert
			waitFor(t, 45*time.Second, "the root alert's final version", func() (bool, string) {
				as := log.snapshot()
				for _, a := range as {
					if a.Count > last.Count {
						last = a
					}
				}
				return last.Count >= n, fmt.Sprintf("%d messages, largest count %d of %d", len(as), last.Count, n)
			})
			time.Sleep(2 * time.Second) // late duplicates, if any, arrive now
			ids := map[string]int{}
			for _, a := range log.snapshot() {
				ids[a.AlertID]++
			}
			if len(ids) != 1 || ids[opened.AlertID] == 0 {
				t.Fatalf("root alert IDs %v, want only %s (a second ID is a second page)", ids, opened.AlertID)
			}
			want := ingest.StableID(rootRule, rootGroup, "r000-0000-0000-4000-8000-000000000000")
			if opened.AlertID != want || opened.Count != 1 {
				t.Errorf("opened %s with count %d, want %s with 1", opened.AlertID, opened.Count, want)
			}
			if last.Count != n || !last.FirstTime.Equal(base) || !last.LastTime.Equal(base.Add(time.Duration(n-1)*time.Minute)) {
				t.Errorf("final version: count %d, %s..%s; want %d, %s..%s", last.Count, last.FirstTime, last.LastTime,
					n, base, base.Add(time.Duration(n-1)*time.Minute))
			}
			t.Logf("%d messages of one alert ID, final count %d", ids[opened.AlertID], last.Count)
			for _, p := range procs {
				if ok, code := p.running(); p != victim && !ok {
					t.Fatalf("%s exited %d", p.name, code)
				}
			}
		})
	}
}
