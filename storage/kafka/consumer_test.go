package kafka

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/vigilsec/vigil/storage"
)

func TestUncommittedRedeliveredAfterClose(t *testing.T) {
	_, cfg := newCluster(t)
	ctx := testContext(t)
	sent := records(100, 9)
	if err := newProducer(t, cfg).Write(ctx, sent...); err != nil {
		t.Fatal(err)
	}
	a := newConsumer(t, cfg, "redeliver", nil)
	got := fetchN(t, ctx, a, len(sent))
	// Commit the first 40 fetched: per partition they are a prefix, so
	// the other 60 stay uncommitted.
	if err := a.Commit(ctx, got[:40]...); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := newConsumer(t, cfg, "redeliver", nil)
	again := fetchN(t, ctx, b, 60)
	want := ids(got[40:])
	for id, n := range ids(again) {
		if want[id] != n {
			t.Fatalf("redelivered %s %d times; want the 60 uncommitted messages once each", id, n)
		}
	}
	if err := b.Commit(ctx, again...); err != nil {
		t.Fatal(err)
	}
}

// committedOffsets joins group with a new member and returns the committed
// offsets its first assignment reports.
func committedOffsets(t *testing.T, ctx context.Context, cfg Config, group string) map[int]int64 {
	t.Helper()
	offs := make(chan map[int]int64, 1)
	c := newConsumer(t, cfg, group, func(_ context.Context, as []Assignment) error {
		m := map[int]int64{}
		for _, a := range as {
			m[a.Partition] = a.Committed
		}
		offs <- m
		return errors.New("enough")
	})
	if _, err := c.Fetch(ctx); err == nil {
		t.Fatal("fetch after a failing OnAssign succeeded")
	}
	c.Close()
	return <-offs
}

// endOffsets returns the end offset of every partition of topic.
func endOffsets(t *testing.T, ctx context.Context, cfg Config, topic string) map[int]int64 {
	t.Helper()
	rc, err := cfg.resolve()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := rc.client()
	if err != nil {
		t.Fatal(err)
	}
	ends := map[int]int64{}
	for p := range cfg.Partitions {
		_, end, err := partitionOffsets(ctx, cl, topic, p)
		if err != nil {
			t.Fatal(err)
		}
		ends[p] = end
	}
	return ends
}

func TestCommitsContiguousWatermark(t *testing.T) {
	_, cfg := newCluster(t)
	ctx := testContext(t)
	msgs := records(10, 1) // one key: one partition, offsets 0…9
	if err := newProducer(t, cfg).Write(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	a := newConsumer(t, cfg, "watermark", nil)
	got := fetchN(t, ctx, a, 10)
	var tr Tracker[rec]
	for _, m := range got {
		tr.Fetched(m)
	}
	// Work finishes out of order; 3 never finishes.
	for _, i := range []int{2, 0, 1, 5, 4, 9} {
		if m, ok := tr.Done(got[i]); ok {
			if err := a.Commit(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	a.Close()
	p := got[0].Partition
	if off := committedOffsets(t, ctx, cfg, "watermark")[p]; off != 3 {
		t.Fatalf("committed offset %d, want 3 (0…2 done, 3 not)", off)
	}
	b := newConsumer(t, cfg, "watermark", nil)
	if m := fetchN(t, ctx, b, 1)[0]; m.Offset != 3 {
		t.Fatalf("next member starts at offset %d, want 3", m.Offset)
	}
}

func TestOnAssignOffsetsAndReplay(t *testing.T) {
	_, cfg := newCluster(t)
	ctx := testContext(t)
	before := time.Now().Add(-time.Minute)
	msgs := records(10, 1)
	if err := newProducer(t, cfg).Write(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	a := newConsumer(t, cfg, "assign", nil)
	got := fetchN(t, ctx, a, 10)
	if err := a.Commit(ctx, got[5]); err != nil {
		t.Fatal(err)
	}
	a.Close()
	p := got[0].Partition

	var assigned []Assignment
	var replayed []int
	var b *Consumer[rec]
	b = newConsumer(t, cfg, "assign", func(ctx context.Context, as []Assignment) error {
		assigned = as
		// Rebuild state from before the committed offset, as the
		// correlator does.
		from, err := b.OffsetAt(ctx, p, before)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(as, func(a Assignment) bool { return a.Partition == p })
		return b.Replay(ctx, p, from-5, as[i].Committed, func(m storage.Message[rec]) error {
			replayed = append(replayed, m.Value.Seq)
			return nil
		})
	})
	if m := fetchN(t, ctx, b, 1)[0]; m.Offset != 6 {
		t.Fatalf("first message after assignment at offset %d, want 6", m.Offset)
	}
	if len(assigned) != cfg.Partitions {
		t.Fatalf("assigned %v, want %d partitions", assigned, cfg.Partitions)
	}
	for _, a := range assigned {
		want := int64(NoOffset)
		if a.Partition == p {
			want = 6
		}
		if a.Topic != storage.TopicEvents || a.Committed != want {
			t.Errorf("assignment %+v, want committed %d", a, want)
		}
	}
	if want := []int{0, 1, 2, 3, 4, 5}; !slices.Equal(replayed, want) {
		t.Errorf("replayed %v, want %v", replayed, want)
	}
	if off, err := b.OffsetAt(ctx, p, time.Now().Add(time.Hour)); err != nil || off != 10 {
		t.Errorf("offset after the last message: %d, %v; want the end offset 10", off, err)
	}
}

// failCommits makes the next OffsetCommit requests fail with codes, one
// each, and returns how many were failed so far.
func failCommits(cl interface {
	ControlKey(int16, func(kmsg.Request) (kmsg.Response, error, bool))
	KeepControl()
	DropControl()
}, codes ...int16) func() int {
	var mu sync.Mutex
	n := 0
	cl.ControlKey(int16(kmsg.OffsetCommit), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		mu.Lock()
		defer mu.Unlock()
		if n == len(codes) {
			cl.DropControl()
			return nil, nil, false
		}
		cl.KeepControl()
		code := codes[n]
		n++
		req := kr.(*kmsg.OffsetCommitRequest)
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

func TestCommitErrorsRecovered(t *testing.T) {
	cl, cfg := newCluster(t)
	ctx := testContext(t)
	sent := records(200, 13)
	if err := newProducer(t, cfg).Write(ctx, sent...); err != nil {
		t.Fatal(err)
	}
	c := newConsumer(t, cfg, "commit-errors", nil)
	got := fetchN(t, ctx, c, len(sent))
	failed := failCommits(cl, kerr.RebalanceInProgress.Code, kerr.IllegalGeneration.Code)
	if err := c.Commit(ctx, got...); err != nil {
		t.Fatalf("commit through a rebalance: %v", err)
	}
	if n := failed(); n != 2 {
		t.Fatalf("%d commits failed by the broker, want 2", n)
	}
	st := c.Stats()
	if st.CommitRetries != 2 || st.Generations < 3 {
		t.Errorf("stats %+v, want 2 commit retries over 3 generations", st)
	}
	c.Close()
	want := endOffsets(t, ctx, cfg, storage.TopicEvents)
	for p, end := range want {
		if end == 0 {
			want[p] = NoOffset // an empty partition has nothing to commit
		}
	}
	if got := committedOffsets(t, ctx, cfg, "commit-errors"); !mapsEqual(got, want) {
		t.Fatalf("committed %v, want the end offsets %v", got, want)
	}
}

func TestCommitErrorNotRetriable(t *testing.T) {
	cl, cfg := newCluster(t)
	ctx := testContext(t)
	if err := newProducer(t, cfg).Write(ctx, records(1, 1)...); err != nil {
		t.Fatal(err)
	}
	c := newConsumer(t, cfg, "commit-denied", nil)
	m := fetchN(t, ctx, c, 1)
	failCommits(cl, kerr.GroupAuthorizationFailed.Code)
	err := c.Commit(ctx, m...)
	var ke kafka.Error
	if !errors.As(err, &ke) || ke != kafka.GroupAuthorizationFailed {
		t.Fatalf("commit: got %v, want GROUP_AUTHORIZATION_FAILED", err)
	}
}

func mapsEqual(a, b map[int]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestPoisonToDeadLetter(t *testing.T) {
	_, cfg := newCluster(t)
	ctx := testContext(t)
	w := &kafka.Writer{Addr: kafka.TCP(cfg.Brokers...), Topic: storage.TopicEvents, BatchTimeout: time.Millisecond, Balancer: &kafka.Murmur2Balancer{}}
	defer w.Close()
	good, _, _ := recCodec.Encode(rec{Key: "k", Seq: 1})
	if err := w.WriteMessages(ctx,
		kafka.Message{Key: []byte("k"), Value: []byte("{not json")},
		kafka.Message{Key: []byte("k"), Value: good},
	); err != nil {
		t.Fatal(err)
	}
	c := newConsumer(t, cfg, "poison", nil)
	m, err := c.Fetch(ctx)
	var poison *PoisonError
	if !errors.As(err, &poison) {
		t.Fatalf("fetch of an undecodable message: %v, want a PoisonError", err)
	}
	if m.Offset != 0 || string(m.Key) != "k" {
		t.Fatalf("poison message %+v, want offset 0 key k", m)
	}
	dl, err := NewDeadLetter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	if err := dl.Send(ctx, poison.Letter("poison")); err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(ctx, m); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Fetch(ctx); err != nil || m.Value.Seq != 1 {
		t.Fatalf("fetch after the poison message: %+v, %v", m, err)
	}

	dc, err := NewConsumer(cfg, Subscription[Letter]{Topic: storage.TopicDeadLetter, Group: "dlq", Codec: LetterCodec{}})
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	lm, err := dc.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l := lm.Value
	if l.Topic != storage.TopicEvents || l.Partition != m.Partition || l.Offset != 0 || l.Group != "poison" ||
		string(l.Value) != "{not json" || string(lm.Key) != "k" || l.Reason == "" {
		t.Fatalf("dead letter %+v (key %q)", l, lm.Key)
	}
}

func TestEnsureTopics(t *testing.T) {
	_, cfg := clusterConfig(t)
	ctx := testContext(t)
	cfg.Partitions = 3
	cfg.Topics = Topics{Events: "t.events", Alerts: "t.alerts"}
	for range 2 { // the second time every topic exists
		if err := EnsureTopics(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	rc, _ := cfg.resolve()
	cl, _ := rc.client()
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: rc.Topics.All()})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, tp := range md.Topics {
		if tp.Error != nil {
			t.Fatalf("topic %s: %v", tp.Name, tp.Error)
		}
		got[tp.Name] = len(tp.Partitions)
	}
	for _, name := range []string{"t.events", storage.TopicSignals, "t.alerts", storage.TopicDeadLetter} {
		if got[name] != 3 {
			t.Errorf("topic %s has %d partitions, want 3", name, got[name])
		}
	}
}

func TestClosedConsumer(t *testing.T) {
	_, cfg := newCluster(t)
	ctx := testContext(t)
	c := newConsumer(t, cfg, "closed", nil)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fetch(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("fetch after close: %v", err)
	}
	if err := c.Commit(ctx, storage.Message[rec]{Topic: storage.TopicEvents}); !errors.Is(err, ErrClosed) {
		t.Errorf("commit after close: %v", err)
	}
	if err := c.Commit(ctx, storage.Message[rec]{Topic: "other"}); err == nil {
		t.Error("commit of another topic's message accepted")
	}
	if err := c.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second close: %v", err)
	}
}

func TestCommitNeverGoesBack(t *testing.T) {
	_, cfg := newCluster(t)
	ctx := testContext(t)
	if err := newProducer(t, cfg).Write(ctx, records(10, 1)...); err != nil {
		t.Fatal(err)
	}
	c := newConsumer(t, cfg, "monotonic", nil)
	got := fetchN(t, ctx, c, 10)
	// Workers finishing out of order commit 9, then 4.
	if err := c.Commit(ctx, got[9]); err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(ctx, got[4]); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if off := committedOffsets(t, ctx, cfg, "monotonic")[got[0].Partition]; off != 10 {
		t.Fatalf("committed %d, want 10", off)
	}
}

func TestOnAssignErrorRetried(t *testing.T) {
	_, cfg := newCluster(t)
	ctx := testContext(t)
	if err := newProducer(t, cfg).Write(ctx, records(5, 1)...); err != nil {
		t.Fatal(err)
	}
	calls := 0
	c := newConsumer(t, cfg, "assign-error", func(context.Context, []Assignment) error {
		calls++
		if calls == 1 {
			return errors.New("state store unavailable")
		}
		return nil
	})
	if _, err := c.Fetch(ctx); err == nil || !strings.Contains(err.Error(), "state store unavailable") {
		t.Fatalf("fetch: got %v, want the OnAssign error", err)
	}
	// The next Fetch rejoins and calls OnAssign again.
	if m := fetchN(t, ctx, c, 5); m[0].Offset != 0 {
		t.Fatalf("first message at offset %d, want 0", m[0].Offset)
	}
	if calls != 2 {
		t.Fatalf("OnAssign called %d times, want 2", calls)
	}
}

func TestReplaySkipsPoison(t *testing.T) {
	_, cfg := newCluster(t)
	ctx := testContext(t)
	w := &kafka.Writer{Addr: kafka.TCP(cfg.Brokers...), Topic: storage.TopicEvents, BatchTimeout: time.Millisecond, Balancer: &kafka.Murmur2Balancer{}}
	defer w.Close()
	var msgs []kafka.Message
	for _, v := range []string{`{"key":"k","seq":0}`, `garbage`, `{"key":"k","seq":2}`} {
		msgs = append(msgs, kafka.Message{Key: []byte("k"), Value: []byte(v)})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	c := newConsumer(t, cfg, "replay", nil)
	m, err := c.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int
	if err := c.Replay(ctx, m.Partition, 0, 1000, func(m storage.Message[rec]) error {
		seqs = append(seqs, m.Value.Seq)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs, []int{0, 2}) {
		t.Fatalf("replayed %v, want [0 2]", seqs)
	}
	stop := errors.New("stop")
	if err := c.Replay(ctx, m.Partition, 0, 1000, func(storage.Message[rec]) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("replay returned %v, want the callback's error", err)
	}
}
