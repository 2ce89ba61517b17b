package notify

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/memory"
)

// TestRunEndsWithItsTopic: over a topic that ends (the in-process bus of
// vigil run over files), Run delivers everything read, held groups
// included, commits it and returns nil.
func TestRunEndsWithItsTopic(t *testing.T) {
	now, grouped := &recorder{name: "now"}, &recorder{name: "grouped"}
	n := mustNew(t, Config{Extra: []Destination{now, grouped}, Routes: []Route{
		{Name: "crit", Match: Match{Severity: []string{"critical"}}, Destinations: []string{"now"}},
		{Name: "rest", Default: true, Destinations: []string{"grouped"}, GroupWindow: time.Hour},
	}})
	crit := testAlert("root", "", "e0")
	crit.Severity = "critical"
	runOverTopic(t, n, crit, testAlert("scan", "src=1", "e1"), testAlert("scan", "src=1", "e2"))
	if len(now.sent()) != 1 || len(grouped.sent()) != 1 || len(grouped.sent()[0].AlertIDs) != 2 {
		t.Fatalf("sent: now %d, grouped %d", len(now.sent()), len(grouped.sent()))
	}
}

// runOverTopic writes alerts to a new in-process alerts topic, ends it and
// runs n over it: Run must return nil at the topic's end, having committed
// everything, so that the next member of the group finds the topic's end
// at once.
func runOverTopic(t *testing.T, n *Notifier, alerts ...*detect.Alert) {
	t.Helper()
	bus, err := memory.New(memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	prod, err := memory.NewProducer[*detect.Alert](bus, storage.TopicAlerts)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := memory.NewConsumer[*detect.Alert](bus, storage.TopicAlerts, "notify")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	msgs := make([]storage.Message[*detect.Alert], len(alerts))
	for i, a := range alerts {
		msgs[i].Value = a
	}
	if err := prod.Write(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	if err := prod.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, cons) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run at the end of its topic: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return at the end of its topic")
	}
	if err := cons.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := memory.NewConsumer[*detect.Alert](bus, storage.TopicAlerts, "notify")
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if m, err := again.Fetch(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("after Run: fetched %v, %v; want the end of the topic (all committed)", m.Value, err)
	}
}
