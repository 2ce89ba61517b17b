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
// Config for it with the bus topics created, timings shortened so that
// rebalances take well under a second.
func newCluster(t testing.TB, opts ...kfake.Opt) (*kfake.Cluster, Config) {
	t.Helper()
	cl, cfg := clusterConfig(t, opts...)
	if err := EnsureTopics(testContext(t), cfg); err != nil {
		t.Fatal(err)
	}
	return cl, cfg
}

// clusterConfig is newCluster without creating topics.
func clusterConfig(t testing.TB, opts ...kfake.Opt) (*kfake.Cluster, Config) {
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

// member runs a consumer's fetch loop in the background, recording what it
// fetched and the partitions of its latest assignment.
type member struct {
	c *Consumer[rec]

	mu    sync.Mutex
	parts []int
	got   []storage.Message[rec]
}

func startMember(t *testing.T, ctx context.Context, cfg Config, group string) *member {
	t.Helper()
	m := &member{}
	m.c = newConsumer(t, cfg, group, func(_ context.Context, as []Assignment) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.parts = m.parts[:0]
		for _, a := range as {
			m.parts = append(m.parts, a.Partition)
		}
		return nil
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			msg, err := m.c.Fetch(ctx)
			if err != nil {
				return
			}
			m.mu.Lock()
			m.got = append(m.got, msg)
			m.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		m.c.Close()
		<-done
	})
	return m
}

func (m *member) snapshot() (parts []int, got []storage.Message[rec]) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.parts), slices.Clone(m.got)
}

// waitFor polls cond until it holds or the test times out.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func ids(msgs []storage.Message[rec]) map[string]int {
	set := map[string]int{}
	for _, m := range msgs {
		set[m.Value.id()]++
	}
	return set
}

func TestGroupMembersSharePartitions(t *testing.T) {
	_, cfg := newCluster(t)
	ctx := testContext(t)
	p := newProducer(t, cfg)
	sent := records(400, 16)
	if err := p.Write(ctx, sent[:40]...); err != nil {
		t.Fatal(err)
	}
	// The first member alone holds every partition and fetches the first
	// 40 messages without committing them.
	a := startMember(t, ctx, cfg, "share")
	waitFor(t, ctx, "the first member to fetch 40 messages", func() bool {
		_, got := a.snapshot()
		return len(got) == 40
	})
	_, early := a.snapshot()
	b := startMember(t, ctx, cfg, "share")
	waitFor(t, ctx, "two members holding two partitions each", func() bool {
		pa, _ := a.snapshot()
		pb, _ := b.snapshot()
		return len(pa) == 2 && len(pb) == 2 && !slices.ContainsFunc(pa, func(x int) bool { return slices.Contains(pb, x) })
	})
	if err := p.Write(ctx, sent[40:]...); err != nil {
		t.Fatal(err)
	}
	// b reads its partitions from the committed offsets (none): it gets
	// again the early messages of its partitions.
	waitFor(t, ctx, "every message consumed", func() bool {
		_, ga := a.snapshot()
		_, gb := b.snapshot()
		return len(ids(append(ga, gb...))) == len(sent)
	})
	pa, ga := a.snapshot()
	pb, gb := b.snapshot()
	for _, m := range gb {
		if !slices.Contains(pb, m.Partition) {
			t.Fatalf("second member fetched from partition %d, holds %v", m.Partition, pb)
		}
	}
	for _, m := range ga[len(early):] {
		if !slices.Contains(pa, m.Partition) {
			t.Fatalf("first member fetched from partition %d after the rebalance, holds %v", m.Partition, pa)
		}
	}
	if len(gb) < len(sent)/4 {
		t.Errorf("second member fetched %d of %d messages", len(gb), len(sent))
	}
	// Committing an early message of a partition the first member lost is
	// refused: b reads it again.
	i := slices.IndexFunc(early, func(m storage.Message[rec]) bool { return slices.Contains(pb, m.Partition) })
	if i < 0 {
		t.Fatal("no early message in the second member's partitions")
	}
	if err := a.c.Commit(ctx, early[i]); !errors.Is(err, ErrRevoked) {
		t.Fatalf("commit of a revoked partition: got %v, want ErrRevoked", err)
	}
	if ids(gb)[early[i].Value.id()] == 0 {
		t.Errorf("message %s of a revoked partition not fetched again by its new holder", early[i].Value.id())
	}
}

func TestRebalanceDropsRevokedMessages(t *testing.T) {
	_, cfg := newCluster(t)
	ctx := testContext(t)
	sent := records(400, 16)
	if err := newProducer(t, cfg).Write(ctx, sent...); err != nil {
		t.Fatal(err)
	}
	// The first member fetches one message: its readers buffer more of
	// every partition.
	var parts []int
	a := newConsumer(t, cfg, "drop", func(_ context.Context, as []Assignment) error {
		parts = parts[:0]
		for _, x := range as {
			parts = append(parts, x.Partition)
		}
		return nil
	})
	first := fetchN(t, ctx, a, 1)
	b := startMember(t, ctx, cfg, "drop")
	waitFor(t, ctx, "the second member to hold two partitions", func() bool {
		pb, _ := b.snapshot()
		return len(pb) == 2
	})
	// What the first member fetches now comes from its new assignment
	// only: the messages buffered from the partitions it lost are gone.
	got := append(first, fetchN(t, ctx, a, 100)...)
	if len(parts) != 2 {
		t.Fatalf("first member holds %v after the rebalance, want two partitions", parts)
	}
	for _, m := range got[1:] {
		if !slices.Contains(parts, m.Partition) {
			t.Fatalf("first member fetched partition %d after losing it (holds %v)", m.Partition, parts)
		}
	}
	if st := a.Stats(); st.Generations != 2 {
		t.Errorf("stats %+v, want 2 generations", st)
	}
}
