// Package memory is the in-process bus: the storage.Producer and
// storage.Consumer contract of the Kafka bus, inside one process, for
// `vigil run` and for tests.
//
// A topic is one partition: an ordered log of messages. Every consumer group
// reads the whole log from the offset it committed last; within a group one
// member is assigned the partition and reads it, the others wait in join
// order, like Kafka members left without a partition. When the assigned
// member closes, the next one takes over at the group's committed offset, so
// messages fetched but not committed are delivered again (at least once).
//
// A topic holds at most Config.Capacity messages that some group has not
// committed; Write blocks while it is full (backpressure) and messages every
// group has committed are dropped. A group that joins later starts at the
// oldest message still held, like a new Kafka group at FirstOffset.
//
// Unlike Kafka, a topic ends: once every producer opened on it is closed,
// Fetch returns io.EOF after the last message, so a pipeline over files
// drains and stops. Values are passed by reference, not serialized:
// consumers must not modify what they fetch.
package memory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/vigilsec/vigil/storage"
)

// DefaultCapacity is the default of Config.Capacity.
const DefaultCapacity = 4096

// Errors of the bus.
var (
	// ErrClosed is returned by the methods of a closed producer or consumer.
	ErrClosed = errors.New("memory bus: closed")
	// ErrTopicEnded is returned when writing to, or opening a producer on,
	// a topic whose producers have all been closed.
	ErrTopicEnded = errors.New("memory bus: topic ended")
	// ErrNotAssigned is returned by Commit from a member that does not hold
	// the partition (another member of the group reads it).
	ErrNotAssigned = errors.New("memory bus: partition not assigned to this member")
)

// Config configures a Bus. The zero value is valid.
type Config struct {
	// Capacity is the number of messages a topic holds that some consumer
	// group has not committed; Write blocks beyond it. Default 4096.
	Capacity int
}

func (c Config) capacity() int {
	if c.Capacity > 0 {
		return c.Capacity
	}
	return DefaultCapacity
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.Capacity < 0 {
		return fmt.Errorf("memory bus: negative capacity %d", c.Capacity)
	}
	return nil
}

// Bus is a set of topics, created on first use. Its methods and those of its
// producers and consumers are safe for concurrent use.
type Bus struct {
	cfg    Config
	mu     sync.Mutex
	topics map[string]any // *topic[T]
}

// New returns an empty bus.
func New(c Config) (*Bus, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Bus{cfg: c, topics: map[string]any{}}, nil
}

// topicOf returns the topic called name, creating it; a topic carries
// values of one type only.
func topicOf[T any](b *Bus, name string) (*topic[T], error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t, ok := b.topics[name]; ok {
		tt, ok := t.(*topic[T])
		if !ok {
			var zero T
			return nil, fmt.Errorf("memory bus: topic %s does not carry %T values", name, zero)
		}
		return tt, nil
	}
	t := &topic[T]{name: name, capacity: b.cfg.capacity(), changed: make(chan struct{}), groups: map[string]*group[T]{}}
	b.topics[name] = t
	return t, nil
}

// topic is one partition: log holds the messages from offset base on.
type topic[T any] struct {
	name     string
	capacity int

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every change
	base      int64
	log       []storage.Message[T]
	producers int
	ended     bool
	groups    map[string]*group[T]
}

// group is a consumer group: its committed offset and its members in join
// order; members[0] holds the partition.
type group[T any] struct {
	committed int64
	members   []*Consumer[T]
}

// head returns the offset the next message gets. Callers hold t.mu.
func (t *topic[T]) head() int64 { return t.base + int64(len(t.log)) }

// broadcast wakes every waiter. Callers hold t.mu.
func (t *topic[T]) broadcast() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// trim drops the messages every group has committed. Callers hold t.mu.
func (t *topic[T]) trim() {
	if len(t.groups) == 0 {
		return
	}
	low := t.head()
	for _, g := range t.groups {
		low = min(low, g.committed)
	}
	if n := int(low - t.base); n > 0 {
		clear(t.log[:n])
		t.log = t.log[n:]
		t.base = low
	}
}

// wait releases t.mu until the topic changes or ctx ends; it returns with
// t.mu held.
func (t *topic[T]) wait(ctx context.Context) error {
	ch := t.changed
	t.mu.Unlock()
	defer t.mu.Lock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Producer writes to one topic of a Bus.
type Producer[T any] struct {
	t      *topic[T]
	closed bool // guarded by t.mu
}

var _ storage.Producer[int] = (*Producer[int])(nil)

// NewProducer opens a producer on the topic called name.
func NewProducer[T any](b *Bus, name string) (*Producer[T], error) {
	t, err := topicOf[T](b, name)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return nil, fmt.Errorf("%s: %w", name, ErrTopicEnded)
	}
	t.producers++
	return &Producer[T]{t: t}, nil
}

// Write appends msgs to the topic in order, blocking while it is full. When
// ctx ends, the messages before the one it waited for are written.
func (p *Producer[T]) Write(ctx context.Context, msgs ...storage.Message[T]) error {
	t := p.t
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range msgs {
		for {
			if p.closed {
				return ErrClosed
			}
			if len(t.log) < t.capacity {
				break
			}
			if err := t.wait(ctx); err != nil {
				return err
			}
		}
		m.Topic, m.Partition, m.Offset = t.name, 0, t.head()
		t.log = append(t.log, m)
		t.broadcast()
	}
	return nil
}

// Close closes the producer. When it was the topic's last open producer,
// the topic ends: consumers get io.EOF after its last message.
func (p *Producer[T]) Close() error {
	t := p.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	p.closed = true
	t.producers--
	if t.producers == 0 {
		t.ended = true
	}
	t.broadcast() // wakes a Write of p waiting for room
	return nil
}

// Consumer reads one topic as a member of a consumer group.
type Consumer[T any] struct {
	t      *topic[T]
	g      *group[T]
	pos    int64 // next offset to fetch, while assigned
	closed bool  // guarded by t.mu
}

var _ storage.Consumer[int] = (*Consumer[int])(nil)

// NewConsumer joins the consumer group called groupID on the topic called
// name. A new group starts at the oldest message the topic holds. A group
// keeps its committed offset when its members leave, and the topic keeps
// what it has not committed: an abandoned group eventually blocks writers.
func NewConsumer[T any](b *Bus, name, groupID string) (*Consumer[T], error) {
	t, err := topicOf[T](b, name)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	g, ok := t.groups[groupID]
	if !ok {
		g = &group[T]{committed: t.base}
		t.groups[groupID] = g
	}
	c := &Consumer[T]{t: t, g: g, pos: g.committed}
	g.members = append(g.members, c)
	return c, nil
}

// assigned reports whether c holds the partition. Callers hold t.mu.
func (c *Consumer[T]) assigned() bool { return c.g.members[0] == c }

// Fetch returns the next message, blocking until there is one, the topic
// ends (io.EOF) or ctx ends. A member that does not hold the partition
// waits until it is handed over.
func (c *Consumer[T]) Fetch(ctx context.Context) (storage.Message[T], error) {
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		switch {
		case c.closed:
			return storage.Message[T]{}, ErrClosed
		case !c.assigned():
		case c.pos < t.head():
			m := t.log[c.pos-t.base]
			c.pos++
			return m, nil
		case t.ended:
			return storage.Message[T]{}, io.EOF
		}
		if err := t.wait(ctx); err != nil {
			return storage.Message[T]{}, err
		}
	}
}

// Commit marks msgs, and every message before them, as done for the group.
// Only the member that holds the partition may commit, and only what it
// fetched.
func (c *Consumer[T]) Commit(_ context.Context, msgs ...storage.Message[T]) error {
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if !c.assigned() {
		return ErrNotAssigned
	}
	off := c.g.committed
	for _, m := range msgs {
		if m.Topic != t.name {
			return fmt.Errorf("memory bus: commit of a %s message on %s", m.Topic, t.name)
		}
		if m.Offset >= c.pos {
			return fmt.Errorf("memory bus: commit of offset %d, not fetched yet", m.Offset)
		}
		off = max(off, m.Offset+1)
	}
	if off > c.g.committed {
		c.g.committed = off
		t.trim()
		t.broadcast()
	}
	return nil
}

// Close leaves the group. If c held the partition, the next member takes
// it over at the group's committed offset.
func (c *Consumer[T]) Close() error {
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.closed = true
	i := slices.Index(c.g.members, c)
	c.g.members = slices.Delete(c.g.members, i, i+1)
	if i == 0 && len(c.g.members) > 0 {
		c.g.members[0].pos = c.g.committed
	}
	t.broadcast()
	return nil
}
