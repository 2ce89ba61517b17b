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
	crit := testAlert("root", "", "e0")
	crit.Severity = "critical"
	ctx := context.Background()
	msgs := []storage.Message[*detect.Alert]{{Value: crit}, {Value: testAlert("scan", "src=1", "e1")}, {Value: testAlert("scan", "src=1", "e2")}}
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
	if len(now.sent()) != 1 || len(grouped.sent()) != 1 || len(grouped.sent()[0].AlertIDs) != 2 {
		t.Fatalf("sent: now %d, grouped %d", len(now.sent()), len(grouped.sent()))
	}
	// Everything was committed: once this member leaves, the next member
	// of the group finds the topic's end at once.
	if err := cons.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := memory.NewConsumer[*detect.Alert](bus, storage.TopicAlerts, "notify")
	if err != nil {
		t.Fatal(err)
	}
	if m, err := again.Fetch(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("after Run: fetched %v, %v; want the end of the topic", m.Value, err)
	}
}
