package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/vigilsec/vigil/storage"
)

// rec is the value type of the tests.
type rec struct {
	Key string `json:"key"`
	Seq int    `json:"seq"`
}

func (r rec) id() string { return fmt.Sprintf("%s/%d", r.Key, r.Seq) }

var recCodec = JSONCodec[rec]{ID: rec.id}

// testTimeout bounds every test; they take seconds.
const testTimeout = 30 * time.Second

// newCluster starts a one-broker kfake cluster on loopback and returns a
// Config for it with the test topics created, timings shortened so that
// rebalances take well under a second.
func newCluster(t testing.TB, opts ...kfake.Opt) (*kfake.Cluster, Config) {
	t.Helper()
	opts = append([]kfake.Opt{
		kfake.NumBrokers(1),
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
	}, opts...)
	cl, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	cfg := Config{
		Brokers:    cl.ListenAddrs(),
		Partitions: 4,
		Producer: ProducerConfig{
			WriteTimeout: time.Second,
			BackoffMin:   5 * time.Millisecond,
			BackoffMax:   20 * time.Millisecond,
		},
		Consumer: ConsumerConfig{
			SessionTimeout:     2 * time.Second,
			HeartbeatInterval:  50 * time.Millisecond,
			RebalanceTimeout:   2 * time.Second,
			JoinGroupBackoff:   50 * time.Millisecond,
			CoordinatorTimeout: 2 * time.Second,
			MaxWait:            50 * time.Millisecond,
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	return cl, cfg
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func newProducer(t testing.TB, cfg Config) *Producer[rec] {
	t.Helper()
	p, err := NewProducer(cfg, storage.TopicEvents, recCodec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func newConsumer(t testing.TB, cfg Config, group string, onAssign func(context.Context, []Assignment) error) *Consumer[rec] {
	t.Helper()
	c, err := NewConsumer(cfg, Subscription[rec]{Topic: storage.TopicEvents, Group: group, Codec: recCodec, OnAssign: onAssign})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// records returns n records spread over keys k0…k(keys-1), numbered in
// order per key.
func records(n, keys int) []storage.Message[rec] {
	seq := make([]int, keys)
	msgs := make([]storage.Message[rec], n)
	for i := range msgs {
		k := i % keys
		r := rec{Key: fmt.Sprintf("k%d", k), Seq: seq[k]}
		seq[k]++
		msgs[i] = storage.Message[rec]{Key: []byte(r.Key), Value: r}
	}
	return msgs
}

// fetchN fetches n messages from c.
func fetchN(t testing.TB, ctx context.Context, c *Consumer[rec], n int) []storage.Message[rec] {
	t.Helper()
	var got []storage.Message[rec]
	for len(got) < n {
		m, err := c.Fetch(ctx)
		if err != nil {
			t.Fatalf("fetch %d of %d: %v", len(got)+1, n, err)
		}
		got = append(got, m)
	}
	return got
}

func TestRoundTripKeepsKeyOrder(t *testing.T) {
	_, cfg := newCluster(t)
	ctx := testContext(t)
	p := newProducer(t, cfg)
	const n, keys = 400, 7
	sent := records(n, keys)
	// Several writes, so that order must hold across them too.
	for chunk := range slices.Chunk(sent, 50) {
		if err := p.Write(ctx, chunk...); err != nil {
			t.Fatal(err)
		}
	}
	c := newConsumer(t, cfg, "roundtrip", nil)
	got := fetchN(t, ctx, c, n)
	next := map[string]int{}
	part := map[string]int{}
	for _, m := range got {
		r := m.Value
		if string(m.Key) != r.Key {
			t.Fatalf("key %q carries value of key %q", m.Key, r.Key)
		}
		if r.Seq != next[r.Key] {
			t.Fatalf("key %s: got seq %d, want %d", r.Key, r.Seq, next[r.Key])
		}
		next[r.Key]++
		if p, ok := part[r.Key]; ok && p != m.Partition {
			t.Fatalf("key %s in partitions %d and %d", r.Key, p, m.Partition)
		}
		part[r.Key] = m.Partition
	}
	for k := range keys {
		if want := n / keys; next[fmt.Sprintf("k%d", k)] < want {
			t.Errorf("key k%d: got %d messages, want at least %d", k, next[fmt.Sprintf("k%d", k)], want)
		}
	}
	if err := c.Commit(ctx, got...); err != nil {
		t.Fatal(err)
	}
}

var _ = errors.New
var _ sync.Mutex
