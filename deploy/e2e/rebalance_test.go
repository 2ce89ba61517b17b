package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/kafka"
)

// burstRule is the built-in correlation rule the attack scenarios fire:
// ten access-denied errors of one principal within five minutes.
const burstRule = "aws-access-denied-burst"

// ctEvent is a decoded CloudTrail event as ingest puts it on the bus.
func ctEvent(id string, at time.Time, user, errorCode string) *ingest.Event {
	rec := ctRecord(id, at, user, errorCode)
	return &ingest.Event{ID: id, Type: "cloudtrail", Time: at.UTC(), Source: "e2e://" + user, Fields: rec, Raw: rawOf(rec)}
}

// rawOf is the record whose decoding rec is, as the decoders make Raw (the
// Kafka codec sends a CloudTrail event as its Raw record only).
func rawOf(rec map[string]any) []byte {
	b, err := json.Marshal(rec)
	if err != nil {
		panic(err)
	}
	return b
}

// busConfig is a kafka.Config for the test process itself.
func busConfig(t testing.TB, bus string) kafka.Config {
	t.Helper()
	cfg, err := kafka.ParseURL(bus)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Topics = kafka.Topics{Events: storage.TopicEvents, Signals: storage.TopicSignals,
		Alerts: storage.TopicAlerts, DeadLetter: storage.TopicDeadLetter}
	cfg.Consumer.SessionTimeout = time.Second
	cfg.Consumer.HeartbeatInterval = 100 * time.Millisecond
	cfg.Consumer.MaxWait = 50 * time.Millisecond
	if err := kafka.EnsureTopics(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// alertReader collects the alerts on vigil.alerts: rule → group key →
// alert IDs.
type alertReader struct {
	byKey map[string]map[string]map[string]bool
	msgs  int
}

func readAlerts(ctx context.Context, t *testing.T, cfg kafka.Config, group string) (*alertReader, func()) {
	t.Helper()
	c, err := kafka.NewConsumer(cfg, kafka.Subscription[*detect.Alert]{Topic: cfg.Topics.Alerts, Group: group,
		Codec: kafka.JSONCodec[*detect.Alert]{}})
	if err != nil {
		t.Fatal(err)
	}
	r := &alertReader{byKey: map[string]map[string]map[string]bool{}}
	ch := make(chan *detect.Alert)
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(ch)
		for {
			m, err := c.Fetch(ctx)
			if err != nil {
				return
			}
			select {
			case ch <- m.Value:
			case <-ctx.Done():
				return
			}
		}
	}()
	// drain folds the alerts received so far into r.
	drain := func() {
		for {
			select {
			case a, ok := <-ch:
				if !ok {
					return
				}
				r.msgs++
				if r.byKey[a.RuleID] == nil {
					r.byKey[a.RuleID] = map[string]map[string]bool{}
				}
				if r.byKey[a.RuleID][a.GroupKey] == nil {
					r.byKey[a.RuleID][a.GroupKey] = map[string]bool{}
				}
				r.byKey[a.RuleID][a.GroupKey][a.AlertID] = true
			default:
				return
			}
		}
	}
	t.Cleanup(func() { cancel(); c.Close() })
	return r, drain
}

// TestRebalanceMidAttack runs two detect processes in one group while
// attack scenarios (bursts of access-denied errors, one principal each)
// arrive, and kills one of them with SIGKILL in the middle. The other takes
// its partitions of vigil.events and vigil.signals, rebuilds the
// correlation state of the signals partitions from the topic, and every
// scenario yields exactly one alert ID: none missed, none doubled.
func TestRebalanceMidAttack(t *testing.T) {
	const scenarios, steps, closers = 20, 12, 100
	cl, bus := broker(t)
	_ = cl
	cfg := busConfig(t, bus)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// The lateness covers the event time the attack advances while the
	// group rebalances (a step is 10s of event time, 300ms of wall time):
	// the signals of the dead member's events come late, not too late.
	args := append([]string{"detect", "--bus", bus, "--lateness", "10m"}, busArgs...)
	d1 := newProc(t, "detect-1", args...)
	d2 := newProc(t, "detect-2", args...)
	d1.start(t)
	d2.start(t)
	reader, drain := readAlerts(ctx, t, cfg, "e2e-alert-reader")

	write := eventWriter(ctx, t, cfg)
	// Both members must hold partitions before the attack starts.
	time.Sleep(3 * time.Second)
	base := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	for step := range steps {
		var evs []*ingest.Event
		for s := range scenarios {
			id := fmt.Sprintf("a%03d-%02d-0000-4000-8000-000000000000", s, step)
			evs = append(evs, ctEvent(id, base.Add(time.Duration(step)*10*time.Second), fmt.Sprintf("attacker-%d", s), "AccessDenied"))
		}
		write(evs...)
		if step == steps/2 {
			d1.kill()
			t.Log("detect-1 killed mid-attack")
		}
		time.Sleep(300 * time.Millisecond)
	}
	// Later signals of many principals move every partition's watermark
	// past the attack, so its windows close; one each fires nothing.
	var evs []*ingest.Event
	for i := range closers {
		evs = append(evs, ctEvent(fmt.Sprintf("c%03d-0000-0000-4000-8000-000000000000", i), base.Add(time.Hour),
			fmt.Sprintf("bystander-%d", i), "AccessDenied"))
	}
	write(evs...)

	waitFor(t, 45*time.Second, fmt.Sprintf("alerts of %d scenarios", scenarios), func() (bool, string) {
		drain()
		n := len(reader.byKey[burstRule])
		var missing []string
		for s := range scenarios {
			key := "principal=arn:aws:iam::111122223333:user/" + fmt.Sprintf("attacker-%d", s)
			if reader.byKey[burstRule][key] == nil {
				p := signalsPartition(burstRule, key)
				missing = append(missing, fmt.Sprintf("attacker-%d (signals partition %d)", s, p))
			}
		}
		return n == scenarios, fmt.Sprintf("%d scenarios alerted; missing %s", n, strings.Join(missing, ", "))
	})
	time.Sleep(2 * time.Second) // late duplicates, if any, arrive now
	drain()
	var problems []string
	for key, ids := range reader.byKey[burstRule] {
		if !strings.Contains(key, "attacker-") || len(ids) != 1 {
			problems = append(problems, fmt.Sprintf("%s: %d alert IDs", key, len(ids)))
		}
	}
	for rule := range reader.byKey {
		if rule != burstRule {
			problems = append(problems, "unexpected alert of rule "+rule)
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		t.Fatalf("alerts wrong:\n%s", strings.Join(problems, "\n"))
	}
	t.Logf("%d alert messages, %d scenarios with one alert ID each", reader.msgs, scenarios)
	if ok, code := d2.running(); !ok {
		t.Fatal(errors.New("detect-2 exited"), code)
	}
}
