package kafka

import (
	"fmt"
	"slices"
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

// held returns the bytes of the values held in memory.
func (s *Checkpoints) held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.vals {
		n += len(v.data)
	}
	return n
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

// TestCheckpointsLargeValues: values above the threshold are held by
// location and read from the topic, by the instance that saved them and by
// a new one; a location made stale by a newer value or a tombstone and
// then compaction loads the newer value or nothing, never the content now
// at that offset or the old value.
func TestCheckpointsLargeValues(t *testing.T) {
	cl, cfg := clusterConfig(t)
	open := func() *Checkpoints {
		t.Helper()
		s, err := openCheckpointStore(testContext(t), cfg, "ckpt.large", 64)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	big := func(c string) string { return strings.Repeat(c, 100) }
	w := open()
	save(t, w, "a", big("a"))
	save(t, w, "keep", "k")
	save(t, w, "b", big("b"))
	save(t, w, "c", big("c"))
	save(t, w, "small", "s")
	save(t, w, "edge", strings.Repeat("e", 64)) // not above the threshold: held
	const small = 1 + 1 + 64                    // keep, small and edge
	if got := w.held(); got != small {
		t.Errorf("%d bytes held after the saves, want the %d of the small values", got, small)
	}
	if got := load(t, w, "a"); got != big("a") {
		t.Errorf("own save loads %q", got)
	}
	// A second value of a key saved by this instance replaces the first.
	save(t, w, "a", big("A"))
	if got := load(t, w, "a"); got != big("A") {
		t.Errorf("own second save loads %q, want the second value", got)
	}
	if keys := w.Keys(""); !slices.Equal(keys, []string{"a", "b", "c", "edge", "keep", "small"}) {
		t.Errorf("keys %q", keys)
	}

	r := open()
	if got := r.held(); got != small {
		t.Errorf("a new instance holds %d bytes, want the %d of the small values", got, small)
	}
	for k, want := range map[string]string{"a": big("A"), "b": big("b"), "c": big("c"), "edge": strings.Repeat("e", 64)} {
		if got := load(t, r, k); got != want {
			t.Errorf("new instance: %s loads %q, want %q", k, got, want)
		}
	}

	// Another instance overwrites a and deletes b; compaction then removes
	// the values r knows the offsets of: a's was the partition's first
	// message, which now starts after it; b's offset is now followed by c.
	save(t, w, "a", big("x"))
	save(t, w, "b", "")
	save(t, w, "small", "t")
	cl.Compact()
	if first, _, err := partitionOffsets(testContext(t), r.cl, r.topic, 0); err != nil || first != 1 {
		t.Fatalf("first offset %d (%v) after compaction, want 1", first, err)
	}
	for k, want := range map[string]string{"a": big("x"), "b": "", "c": big("c")} {
		if got := load(t, r, k); got != want {
			t.Errorf("after compaction: %s loads %q, want %q", k, got, want)
		}
	}
	if got := r.held(); got != small {
		t.Errorf("after the loads: %d bytes held, want %d", got, small)
	}
}
