package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-json"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/detect/notify"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/kafka"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"kafka://k1:9092", "kafka://k1:9092"},
		{"kafka://bob:s3cret@k1:9092?sasl=PLAIN", "kafka://bob:xxxxx@k1:9092?sasl=PLAIN"},
		{"kafka://bob@k1:9092", "kafka://bob@k1:9092"},
		{"k1:9092", "k1:9092"},
	} {
		if got := redactURL(tc.in); got != tc.want {
			t.Errorf("redactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRoleUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"detect without a bus", []string{"detect"}, "want kafka://host:9092 (--bus or bus.url in --config), not memory://"},
		{"detect with another bus", []string{"detect", "--bus", "memory://"}, "want kafka://host:9092"},
		{"detect with no lateness", []string{"detect", "--bus", "kafka://127.0.0.1:1", "--lateness", "0s"}, "--lateness must be positive"},
		{"store without a store", []string{"store", "--bus", "kafka://127.0.0.1:1"}, "--store clickhouse://"},
		{"migrate without a store", []string{"migrate"}, "usage: vigil migrate"},
		{"ingest to a bus without sources", []string{"ingest", "--bus", "kafka://127.0.0.1:1"}, "usage: vigil ingest (--config FILE | --bus"},
		{"bus URL with a password is not echoed", []string{"detect", "--bus", "nats://bob:s3cret@h:1"}, `bus.url: scheme "nats"`},
		{"Kafka credentials in the bus URL", []string{"store", "--bus", "kafka://bob:s3cret@h:1"}, "bus.url: credentials in the URL are inline secrets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := vigil(t, "", tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
			if strings.Contains(stderr, "s3cret") {
				t.Errorf("password in stderr: %q", stderr)
			}
		})
	}
}

// lockedBuffer is a bytes.Buffer safe for a role's logs and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// rawCodec writes message values as given, to put poison on a topic.
type rawCodec struct{}

func (rawCodec) Encode(v []byte) ([]byte, []kafkago.Header, error)   { return v, nil, nil }
func (rawCodec) Decode(v []byte, _ []kafkago.Header) ([]byte, error) { return v, nil }

// TestNotifyRole runs the notify role over an in-process broker: each
// alert of vigil.alerts reaches the webhook once, a message that is not an
// alert goes to vigil.deadletter, and the role goes on.
func TestNotifyRole(t *testing.T) {
	t.Setenv("VIGIL_WEBHOOK_SECRET", "whsec_dmlnaWwtdGVzdC1zZWNyZXQtMDAwMDAx")
	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	bus := "kafka://" + cl.ListenAddrs()[0] + "?partitions=2"
	cfg, err := kafka.ParseURL(bus)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Topics = kafka.Topics{Events: storage.TopicEvents, Signals: storage.TopicSignals, Alerts: storage.TopicAlerts, DeadLetter: storage.TopicDeadLetter}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	got := map[string]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var b notify.WebhookBody
		if err := json.Unmarshal(body, &b); err != nil || b.Alert == nil {
			t.Errorf("webhook body %q: %v", body, err)
			return
		}
		mu.Lock()
		got[b.AlertID]++
		mu.Unlock()
	}))
	defer hook.Close()

	alerts, err := kafka.NewProducer(cfg, cfg.Topics.Alerts, alertCodec)
	if err != nil {
		t.Fatal(err)
	}
	defer alerts.Close()
	want := []string{"alert-a", "alert-b", "alert-c"}
	for _, id := range want {
		a := &detect.Alert{AlertID: id, RuleID: "r", Title: "t", Severity: "high", Count: 1, FirstTime: time.Now(), LastTime: time.Now()}
		if err := alerts.Write(ctx, storage.Message[*detect.Alert]{Key: []byte(id), Value: a}); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := kafka.NewProducer(cfg, cfg.Topics.Alerts, kafka.Codec[[]byte](rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := raw.Write(ctx, storage.Message[[]byte]{Key: []byte("x"), Value: []byte("not json")}); err != nil {
		t.Fatal(err)
	}

	roleCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	stderr := &lockedBuffer{}
	go func() {
		done <- runNotifyBus(roleCtx, []string{"--bus", bus, "--webhook", hook.URL, "--webhook-allow-insecure",
			"--delivery-log", filepath.Join(t.TempDir(), "deliveries.log"), "--session-timeout", "1s", "--heartbeat", "100ms"},
			stdio{out: io.Discard, err: stderr})
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == len(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook got %v, want %v; stderr:\n%s", got, want, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	letters, err := kafka.NewConsumer(cfg, kafka.Subscription[kafka.Letter]{Topic: cfg.Topics.DeadLetter, Group: "test", Codec: kafka.LetterCodec{}})
	if err != nil {
		t.Fatal(err)
	}
	defer letters.Close()
	m, err := letters.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Value.Group != groupNotify || string(m.Value.Value) != "not json" || m.Value.Reason == "" {
		t.Errorf("dead letter %+v, want the poison message from %s with a reason", m.Value, groupNotify)
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("notify: %v\n%s", err, stderr.String())
	}
	for _, id := range want {
		if got[id] != 1 {
			t.Errorf("alert %s delivered %d times, want 1", id, got[id])
		}
	}
}

// TestDetectTicks runs the detect role over an in-process broker on a
// burst of access-denied errors followed only by an event that matches
// nothing: no later signal reaches the burst's signals partition, and the
// alert closes because the matcher's ticks carry event time there.
func TestDetectTicks(t *testing.T) {
	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	bus := "kafka://" + cl.ListenAddrs()[0] + "?partitions=3"
	cfg, err := kafka.ParseURL(bus)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Topics = kafka.Topics{Events: storage.TopicEvents, Signals: storage.TopicSignals, Alerts: storage.TopicAlerts, DeadLetter: storage.TopicDeadLetter}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	// The only rule: no event but the refused ones yields a signal.
	rule := writeRule(t, `id: refused-burst
title: Refused calls
severity: medium
log_types: [cloudtrail]
when: errorCode == "AccessDenied"
group_by: [userIdentity.arn]
correlate: {type: count, threshold: 10, window: 5m}
summary: '{{ userIdentity.arn }} refused'
`)
	events, err := kafka.NewProducer(cfg, cfg.Topics.Events, kafka.EventCodec{})
	if err != nil {
		t.Fatal(err)
	}
	defer events.Close()
	base := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	event := func(i int, at time.Time, errorCode string) storage.Message[*ingest.Event] {
		f := map[string]any{"eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances",
			"userIdentity": map[string]any{"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/build-bot"}}
		if errorCode != "" {
			f["errorCode"] = errorCode
		}
		ev := &ingest.Event{ID: fmt.Sprintf("ev-%02d", i), Type: "cloudtrail", Time: at, Source: "test", Fields: f}
		return storage.Message[*ingest.Event]{Key: []byte(ev.Source), Value: ev}
	}
	var msgs []storage.Message[*ingest.Event]
	for i := range 12 {
		msgs = append(msgs, event(i, base.Add(time.Duration(i)*10*time.Second), "AccessDenied"))
	}
	msgs = append(msgs, event(99, base.Add(time.Hour), ""))
	if err := events.Write(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	alerts, err := kafka.NewConsumer(cfg, kafka.Subscription[*detect.Alert]{Topic: cfg.Topics.Alerts, Group: "test", Codec: alertCodec})
	if err != nil {
		t.Fatal(err)
	}
	defer alerts.Close()
	roleCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	stderr := &lockedBuffer{}
	go func() {
		done <- runDetect(roleCtx, []string{"--bus", bus, "--rules", rule, "--lateness", "1m", "--session-timeout", "1s", "--heartbeat", "100ms"},
			stdio{out: io.Discard, err: stderr})
	}()
	// The alert opens at the threshold and closes, with all twelve
	// errors, once event time passes its window: only a tick can say so.
	fctx, fcancel := context.WithTimeout(ctx, 15*time.Second)
	defer fcancel()
	for {
		m, err := alerts.Fetch(fctx)
		if err != nil {
			t.Fatalf("no closed alert: %v\n%s", err, stderr.String())
		}
		if m.Value.RuleID == "refused-burst" && m.Value.Count == 12 {
			break
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("detect: %v\n%s", err, stderr.String())
	}
}
