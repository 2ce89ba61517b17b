package kafka

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	kafka "github.com/segmentio/kafka-go"

	"github.com/vigilsec/vigil/ingest/checkpoint"
)

func openCheckpoints(t *testing.T, cfg Config, topic string) *Checkpoints {
	t.Helper()
	s, err := OpenCheckpoints(testContext(t), cfg, topic)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func load(t *testing.T, s checkpoint.Store, key string) string {
	t.Helper()
	b, err := s.Load(testContext(t), key)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func save(t *testing.T, s checkpoint.Store, key, value string) {
	t.Helper()
	if err := s.Save(testContext(t), key, []byte(value)); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointsRoundTrip: a saved value loads back, and a new instance
// (a restarted ingester) reads the latest value of every key from the
// topic, also after Kafka compacted it; an empty value deletes the key.
func TestCheckpointsRoundTrip(t *testing.T) {
	cl, cfg := clusterConfig(t)
	s := openCheckpoints(t, cfg, "")
	if s.Topic() != DefaultCheckpointTopic {
		t.Errorf("topic %q, want %q", s.Topic(), DefaultCheckpointTopic)
	}
	if got := load(t, s, "s3://b/p?type=cloudtrail"); got != "" {
		t.Fatalf("fresh store loads %q", got)
	}
	save(t, s, "s3://b/p?type=cloudtrail", `{"through":"2026-03-14T00:00:00Z"}`)
	if got := load(t, s, "s3://b/p?type=cloudtrail"); got != `{"through":"2026-03-14T00:00:00Z"}` {
		t.Fatalf("loaded %q", got)
	}
	// Many keys, each saved several times, from several goroutines.
	var wg sync.WaitGroup
	for k := range 20 {
		wg.Go(func() {
			for v := range 5 {
				if err := s.Save(testContext(t), fmt.Sprintf("cloudwatch://g%d", k), []byte(fmt.Sprintf(`{"millis":%d}`, v))); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	save(t, s, "s3://b/p?type=cloudtrail", `{"through":"2026-03-15T00:00:00Z"}`)
	save(t, s, "gone", "x")
	save(t, s, "gone", "")
	if got := load(t, s, "gone"); got != "" {
		t.Errorf("deleted key loads %q", got)
	}

	check := func(name string, r *Checkpoints) {
		t.Helper()
		if got := load(t, r, "s3://b/p?type=cloudtrail"); got != `{"through":"2026-03-15T00:00:00Z"}` {
			t.Errorf("%s: loaded %q, want the latest value", name, got)
		}
		for k := range 20 {
			if got := load(t, r, fmt.Sprintf("cloudwatch://g%d", k)); got != `{"millis":4}` {
				t.Errorf("%s: key %d loaded %q, want its last value", name, k, got)
			}
		}
		if got := load(t, r, "gone"); got != "" {
			t.Errorf("%s: deleted key loads %q", name, got)
		}
	}
	check("restarted", openCheckpoints(t, cfg, ""))
	cl.Compact()
	check("after compaction", openCheckpoints(t, cfg, ""))
}

// TestCheckpointsTopicConfig: the topic is created with one partition and
// cleanup.policy=compact; an existing topic that is not compacted is
// refused, one that is is used.
func TestCheckpointsTopicConfig(t *testing.T) {
	cl, cfg := clusterConfig(t)
	openCheckpoints(t, cfg, "ckpt.custom")
	kc, err := cfg.resolve()
	if err != nil {
		t.Fatal(err)
	}
	client, err := kc.client()
	if err != nil {
		t.Fatal(err)
	}
	if policy, err := cleanupPolicy(testContext(t), client, "ckpt.custom"); err != nil || policy != "compact" {
		t.Errorf("cleanup.policy %q, %v; want compact", policy, err)
	}
	md, err := client.Metadata(testContext(t), &kafka.MetadataRequest{Topics: []string{"ckpt.custom"}})
	if err != nil || len(md.Topics) != 1 || len(md.Topics[0].Partitions) != 1 {
		t.Errorf("metadata %+v, %v; want one partition", md, err)
	}

	if err := cl.CreateTopic("ckpt.deleting", 1, map[string]string{"cleanup.policy": "delete"}); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCheckpoints(testContext(t), cfg, "ckpt.deleting"); err == nil || !strings.Contains(err.Error(), "cleanup.policy=delete") {
		t.Errorf("a delete-policy topic: %v, want it refused", err)
	}
	if err := cl.CreateTopic("ckpt.both", 3, map[string]string{"cleanup.policy": "compact,delete"}); err != nil {
		t.Fatal(err)
	}
	s := openCheckpoints(t, cfg, "ckpt.both")
	save(t, s, "k", "v")
	if got := load(t, openCheckpoints(t, cfg, "ckpt.both"), "k"); got != "v" {
		t.Errorf("three partitions, compact,delete: loaded %q", got)
	}
}
