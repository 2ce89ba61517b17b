package memory

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/vigilsec/vigil/storage"
)

func newBus(t testing.TB, capacity int) *Bus {
	t.Helper()
	b, err := New(Config{Capacity: capacity})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func msgs(vals ...int) []storage.Message[int] {
	out := make([]storage.Message[int], len(vals))
	for i, v := range vals {
		out[i] = storage.Message[int]{Value: v}
	}
	return out
}

// fetchAll fetches until io.EOF and returns the values.
func fetchAll(t *testing.T, c *Consumer[int]) []int {
	t.Helper()
	var got []int
	for {
		m, err := c.Fetch(context.Background())
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.Value)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEveryGroupSeesEveryMessageInOrder(t *testing.T) {
	ctx := context.Background()
	b := newBus(t, 0)
	p, err := NewProducer[int](b, storage.TopicEvents)
	if err != nil {
		t.Fatal(err)
	}
	var cs []*Consumer[int]
	for _, g := range []string{"detect", "store"} {
		c, err := NewConsumer[int](b, storage.TopicEvents, g)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	if err := p.Write(ctx, msgs(1, 2, 3)...); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if got := fetchAll(t, c); !equal(got, []int{1, 2, 3}) {
			t.Errorf("got %v, want [1 2 3]", got)
		}
	}
	if _, err := NewProducer[int](b, storage.TopicEvents); !errors.Is(err, ErrTopicEnded) {
		t.Errorf("producer on an ended topic: err = %v, want ErrTopicEnded", err)
	}
}

func TestUncommittedMessagesAreRedelivered(t *testing.T) {
	tests := []struct {
		name      string
		fetch     int // messages the first member fetches
		commitIdx int // index of the fetched message it commits; -1 = none
		want      []int
	}{
		{"nothing committed", 3, -1, []int{1, 2, 3, 4}},
		{"first committed", 3, 0, []int{2, 3, 4}},
		{"all fetched committed", 3, 2, []int{4}},
		{"committed everything", 4, 3, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			b := newBus(t, 0)
			p, _ := NewProducer[int](b, "t")
			first, _ := NewConsumer[int](b, "t", "g")
			second, _ := NewConsumer[int](b, "t", "g") // stands by
			if err := p.Write(ctx, msgs(1, 2, 3, 4)...); err != nil {
				t.Fatal(err)
			}
			p.Close()
			var fetched []storage.Message[int]
			for range tt.fetch {
				m, err := first.Fetch(ctx)
				if err != nil {
					t.Fatal(err)
				}
				fetched = append(fetched, m)
			}
			if tt.commitIdx >= 0 {
				if err := first.Commit(ctx, fetched[tt.commitIdx]); err != nil {
					t.Fatal(err)
				}
			}
			if err := first.Close(); err != nil {
				t.Fatal(err)
			}
			if got := fetchAll(t, second); !equal(got, tt.want) {
				t.Errorf("second member got %v, want %v", got, tt.want)
			}
			second.Close() // without committing
			third, _ := NewConsumer[int](b, "t", "g")
			if got := fetchAll(t, third); !equal(got, tt.want) {
				t.Errorf("a new member after an uncommitted close got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStandbyMemberWaitsForHandover(t *testing.T) {
	ctx := context.Background()
	b := newBus(t, 0)
	p, _ := NewProducer[int](b, "t")
	first, _ := NewConsumer[int](b, "t", "g")
	second, _ := NewConsumer[int](b, "t", "g")
	if err := p.Write(ctx, msgs(7)...); err != nil {
		t.Fatal(err)
	}
	got := make(chan int)
	go func() {
		m, err := second.Fetch(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- m.Value
	}()
	m, err := first.Fetch(ctx)
	if err != nil || m.Value != 7 {
		t.Fatalf("first member: %v, %v", m.Value, err)
	}
	if err := second.Commit(ctx, m); !errors.Is(err, ErrNotAssigned) {
		t.Errorf("commit by a standby member: err = %v, want ErrNotAssigned", err)
	}
	first.Close()
	if v := <-got; v != 7 {
		t.Errorf("standby member got %d after handover, want 7", v)
	}
}

func TestWriteBlocksWhileFull(t *testing.T) {
	ctx := context.Background()
	b := newBus(t, 2)
	p, _ := NewProducer[int](b, "t")
	c, _ := NewConsumer[int](b, "t", "g")
	if err := p.Write(ctx, msgs(1, 2)...); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := p.Write(cancelled, msgs(3)...); !errors.Is(err, context.Canceled) {
		t.Fatalf("write to a full topic: err = %v, want context.Canceled", err)
	}
	m, _ := c.Fetch(ctx)
	if err := p.Write(cancelled, msgs(3)...); !errors.Is(err, context.Canceled) {
		t.Fatalf("fetched but uncommitted messages must keep the topic full: err = %v", err)
	}
	done := make(chan error)
	go func() { done <- p.Write(ctx, msgs(3)...) }()
	if err := c.Commit(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("write after a commit made room: %v", err)
	}
	p.Close()
	if got := fetchAll(t, c); !equal(got, []int{2, 3}) {
		t.Errorf("got %v, want [2 3]", got)
	}
	late, _ := NewConsumer[int](b, "t", "late")
	if got := fetchAll(t, late); !equal(got, []int{2, 3}) {
		t.Errorf("a later group starts at the oldest held message: got %v, want [2 3]", got)
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	b := newBus(t, 0)
	p, _ := NewProducer[int](b, "t")
	c, _ := NewConsumer[int](b, "t", "g")
	p.Write(ctx, msgs(1, 2)...)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	c2, _ := NewConsumer[int](b, "t", "other")
	c2.Fetch(ctx)
	c2.Fetch(ctx)
	if _, err := c2.Fetch(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("fetch on a drained topic with a cancelled context: %v", err)
	}
	m, _ := c.Fetch(ctx)
	m.Offset = 1
	if err := c.Commit(ctx, m); err == nil {
		t.Error("commit of an offset not fetched yet succeeded")
	}
	m.Topic = "u"
	if err := c.Commit(ctx, m); err == nil {
		t.Error("commit of another topic's message succeeded")
	}
	if _, err := NewConsumer[string](b, "t", "g"); err == nil {
		t.Error("a topic of ints opened for strings")
	}
	if _, err := New(Config{Capacity: -1}); err == nil {
		t.Error("negative capacity accepted")
	}
	c.Close()
	p.Close()
	for name, err := range map[string]error{
		"fetch after close":     func() error { _, err := c.Fetch(ctx); return err }(),
		"commit after close":    c.Commit(ctx),
		"consumer closed twice": c.Close(),
		"write after close":     p.Write(ctx, msgs(3)...),
		"producer closed twice": p.Close(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s: err = %v, want ErrClosed", name, err)
		}
	}
}

// TestConcurrentPipeline runs a producer and two groups concurrently through
// a small buffer; every group gets every message once, in order.
func TestConcurrentPipeline(t *testing.T) {
	const n = 5000
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := newBus(t, 16)
	p, _ := NewProducer[int](b, "t")
	results := make(chan []int)
	for _, g := range []string{"a", "b"} {
		c, _ := NewConsumer[int](b, "t", g)
		go func() {
			var got []int
			for {
				m, err := c.Fetch(ctx)
				if err != nil {
					results <- got
					return
				}
				got = append(got, m.Value)
				if m.Offset%3 == 0 {
					c.Commit(ctx, m)
				}
			}
		}()
	}
	for i := range n {
		if err := p.Write(ctx, msgs(i)...); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	for range 2 {
		got := <-results
		if len(got) != n {
			t.Fatalf("got %d messages, want %d", len(got), n)
		}
		for i, v := range got {
			if v != i {
				t.Fatalf("message %d is %d", i, v)
			}
		}
	}
}

func BenchmarkWriteFetchCommit(b *testing.B) {
	ctx := context.Background()
	bus := newBus(b, 0)
	p, _ := NewProducer[int](bus, "t")
	c, _ := NewConsumer[int](bus, "t", "g")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := c.Fetch(ctx)
			if err != nil {
				return
			}
			if m.Offset%64 == 63 {
				c.Commit(ctx, m)
			}
		}
	}()
	batch := msgs(make([]int, 64)...)
	b.ResetTimer()
	for range b.N {
		p.Write(ctx, batch...)
	}
	p.Close()
	<-done
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "msgs/s")
}

func TestCloseWakesBlockedWrite(t *testing.T) {
	ctx := context.Background()
	b := newBus(t, 1)
	p, _ := NewProducer[int](b, "t")
	other, _ := NewProducer[int](b, "t") // keeps the topic open
	NewConsumer[int](b, "t", "g")
	if err := p.Write(ctx, msgs(1)...); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- p.Write(ctx, msgs(2)...) }()
	p.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("blocked write after Close: err = %v, want ErrClosed", err)
	}
	other.Close()
}
