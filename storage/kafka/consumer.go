package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	kafka "github.com/segmentio/kafka-go"

	"github.com/vigilsec/vigil/storage"
)

// NoOffset is Assignment.Committed for a partition the group never
// committed: reading starts at the partition's first offset.
const NoOffset = -1

// Errors of consumers.
var (
	// ErrClosed is returned by the methods of a closed consumer.
	ErrClosed = errors.New("kafka: consumer closed")
	// ErrRevoked is returned (wrapped) by Commit for messages of
	// partitions no longer assigned to this member. It is not a failure of
	// the work: the member now holding the partition reads the messages
	// again from the group's committed offset (at least once). Callers log
	// it and go on.
	ErrRevoked = errors.New("kafka: partition revoked from this member")
)

// Assignment is a partition assigned to a consumer in one generation of
// its group.
type Assignment struct {
	Topic     string
	Partition int
	// Committed is the group's committed offset of the partition, the
	// offset of the next message this member will fetch from it; NoOffset
	// when the group has none.
	Committed int64
}

// Subscription says what a consumer reads and how.
type Subscription[T any] struct {
	// Topic is the topic to read. Required.
	Topic string
	// Group is the consumer group ID. Required.
	Group string
	// Codec decodes message values. Required.
	Codec Codec[T]
	// OnAssign, when set, is called at the start of every generation of
	// the group (after every rebalance) with all the partitions this member
	// holds in it, sorted; a partition it held before and is not listed
	// was revoked. It runs inside Fetch, on the caller's goroutine, before
	// Fetch returns any message of the generation, so state it rebuilds
	// (for example by Replay from Committed minus a window) is not touched
	// concurrently by a single processing loop. An error is returned by
	// Fetch and ends the generation; the next Fetch rejoins the group and
	// calls OnAssign again.
	OnAssign func(ctx context.Context, parts []Assignment) error
}

// Stats counts what a consumer did.
type Stats struct {
	// Generations is the number of group generations (assignments) seen.
	Generations int64
	// Dropped counts messages fetched from a partition whose generation
	// ended before Fetch returned them: they are read again by the
	// partition's next holder.
	Dropped int64
	// CommitRetries counts commits tried again in a new generation.
	CommitRetries int64
}

// Consumer reads one topic as a member of a consumer group (see the
// package documentation for the delivery guarantee and rebalances). Fetch,
// Commit and Close may be called from different goroutines.
type Consumer[T any] struct {
	cfg    Config
	sub    Subscription[T]
	log    *slog.Logger
	dialer *kafka.Dialer
	client *kafka.Client
	group  *kafka.ConsumerGroup

	items     chan item[T]
	closing   chan struct{}
	cancel    context.CancelFunc
	loopDone  chan struct{}
	closeOnce sync.Once
	commitMu  sync.Mutex // commits one at a time, so offsets never go back

	mu      sync.Mutex
	gen     *generation   // current generation, nil before the first
	changed chan struct{} // closed and replaced when gen changes

	generations, dropped, commitRetries atomic.Int64
}

var _ storage.Consumer[int] = (*Consumer[int])(nil)

// generation is one generation of the group as this member sees it.
type generation struct {
	g *kafka.Generation
	// assigned maps each assigned partition to its committed offset as
	// this member knows it (kafka.FirstOffset when none). Guarded by
	// Consumer.mu.
	assigned map[int]int64
	started  chan struct{} // closed once OnAssign returned nil
	stop     chan struct{} // closed to end the generation
	stopOnce sync.Once
}

// end ends the generation: the member rejoins the group.
func (g *generation) end() { g.stopOnce.Do(func() { close(g.stop) }) }

// item is what the generation's goroutines hand to Fetch: the start of a
// generation (assign) or a message.
type item[T any] struct {
	gen    *generation
	ctx    context.Context // the generation's; ended when Err() != nil
	assign bool
	msg    storage.Message[T]
	err    error
}

// NewConsumer joins the group s.Group on s.Topic. Joining happens in the
// background; Fetch returns messages once partitions are assigned. A new
// group starts at the first offset of every partition.
func NewConsumer[T any](c Config, s Subscription[T]) (*Consumer[T], error) {
	c, err := c.resolve()
	if err != nil {
		return nil, err
	}
	if s.Topic == "" || s.Group == "" || s.Codec == nil {
		return nil, errors.New("kafka: consumer needs a topic, a group and a codec")
	}
	dialer, err := c.dialer()
	if err != nil {
		return nil, err
	}
	client, err := c.client()
	if err != nil {
		return nil, err
	}
	log := c.Logger.With("topic", s.Topic, "group", s.Group)
	q := c.Consumer
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                s.Group,
		Brokers:           c.Brokers,
		Dialer:            dialer,
		Topics:            []string{s.Topic},
		HeartbeatInterval: q.HeartbeatInterval,
		SessionTimeout:    q.SessionTimeout,
		RebalanceTimeout:  q.RebalanceTimeout,
		JoinGroupBackoff:  q.JoinGroupBackoff,
		Timeout:           q.CoordinatorTimeout,
		StartOffset:       kafka.FirstOffset,
		Logger:            kafkaLogger(log, slog.LevelDebug, "kafka-go group"),
		ErrorLogger:       kafkaLogger(log, slog.LevelWarn, "kafka-go group error"),
	})
	if err != nil {
		return nil, fmt.Errorf("kafka: consumer group: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cons := &Consumer[T]{
		cfg:      c,
		sub:      s,
		log:      log,
		dialer:   dialer,
		client:   client,
		group:    group,
		items:    make(chan item[T]),
		closing:  make(chan struct{}),
		cancel:   cancel,
		loopDone: make(chan struct{}),
		changed:  make(chan struct{}),
	}
	go cons.loop(ctx)
	return cons, nil
}

// loop takes every generation of the group in turn.
func (c *Consumer[T]) loop(ctx context.Context) {
	defer close(c.loopDone)
	for {
		g, err := c.group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				return
			}
			// The group retries by itself, after JoinGroupBackoff.
			c.log.Warn("kafka consumer group: join failed", "err", err)
			continue
		}
		gen := &generation{g: g, assigned: map[int]int64{}, started: make(chan struct{}), stop: make(chan struct{})}
		for _, a := range g.Assignments[c.sub.Topic] {
			gen.assigned[a.ID] = a.Offset
		}
		c.generations.Add(1)
		c.log.Debug("kafka consumer group: new generation", "generation", g.ID, "partitions", len(gen.assigned))
		c.mu.Lock()
		c.gen = gen
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
		// A function started on the generation ends it by returning.
		g.Start(func(ctx context.Context) {
			select {
			case <-ctx.Done():
			case <-gen.stop:
			}
		})
		g.Start(func(ctx context.Context) { c.run(ctx, gen) })
	}
}

// run hands the generation's start to Fetch, then reads every assigned
// partition until the generation ends.
func (c *Consumer[T]) run(ctx context.Context, gen *generation) {
	select {
	case c.items <- item[T]{gen: gen, ctx: ctx, assign: true}:
	case <-ctx.Done():
		return
	}
	select {
	case <-gen.started:
	case <-ctx.Done():
		return
	}
	c.mu.Lock()
	for p, off := range gen.assigned {
		gen.g.Start(func(ctx context.Context) { c.read(ctx, gen, p, off) })
	}
	c.mu.Unlock()
	<-ctx.Done()
}

// read fetches partition p from offset off and hands its messages to
// Fetch until the generation ends. Messages it buffered are dropped then.
func (c *Consumer[T]) read(ctx context.Context, gen *generation, p int, off int64) {
	r := c.reader(p)
	defer r.Close()
	if err := r.SetOffset(off); err != nil {
		c.log.Warn("kafka consumer: cannot start reading", "partition", p, "offset", off, "err", err)
		return
	}
	for {
		km, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("kafka consumer: fetch failed", "partition", p, "err", err)
			}
			return
		}
		it := item[T]{gen: gen, ctx: ctx, msg: storage.Message[T]{Topic: km.Topic, Partition: km.Partition, Offset: km.Offset, Key: km.Key}}
		it.msg.Value, err = c.sub.Codec.Decode(km.Value, km.Headers)
		if err != nil {
			it.err = &PoisonError{Message: km, Err: err}
		}
		select {
		case c.items <- it:
		case <-ctx.Done():
			return
		}
	}
}

// reader returns a reader of one partition of the topic.
func (c *Consumer[T]) reader(p int) *kafka.Reader {
	q := c.cfg.Consumer
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:       c.cfg.Brokers,
		Topic:         c.sub.Topic,
		Partition:     p,
		Dialer:        c.dialer,
		MaxBytes:      q.MaxBytes,
		MaxWait:       q.MaxWait,
		QueueCapacity: q.QueueCapacity,
		Logger:        kafkaLogger(c.log, slog.LevelDebug, "kafka-go reader"),
		ErrorLogger:   kafkaLogger(c.log, slog.LevelWarn, "kafka-go reader error"),
	})
}

// Fetch returns the next message of the partitions assigned to this
// member, blocking until there is one or ctx ends. Messages of one
// partition come in offset order; partitions interleave.
//
// A message whose value the codec cannot decode is returned with its
// Topic, Partition, Offset and Key, a zero Value and a *PoisonError: send
// it to the dead-letter topic (DeadLetter.Send), then treat it as done.
//
// At the start of every generation Fetch first calls
// Subscription.OnAssign.
func (c *Consumer[T]) Fetch(ctx context.Context) (storage.Message[T], error) {
	var zero storage.Message[T]
	for {
		select {
		case <-c.closing:
			return zero, ErrClosed
		case <-ctx.Done():
			return zero, ctx.Err()
		case it := <-c.items:
			if it.ctx.Err() != nil {
				if !it.assign {
					c.dropped.Add(1)
				}
				continue
			}
			if !it.assign {
				return it.msg, it.err
			}
			if c.sub.OnAssign != nil {
				if err := c.sub.OnAssign(ctx, c.assignments(it.gen)); err != nil {
					it.gen.end()
					return zero, fmt.Errorf("kafka: on assign of %s: %w", c.sub.Topic, err)
				}
			}
			close(it.gen.started)
		}
	}
}

// assignments lists gen's partitions for OnAssign.
func (c *Consumer[T]) assignments(gen *generation) []Assignment {
	c.mu.Lock()
	defer c.mu.Unlock()
	as := make([]Assignment, 0, len(gen.assigned))
	for p, off := range gen.assigned {
		as = append(as, Assignment{Topic: c.sub.Topic, Partition: p, Committed: max(off, NoOffset)})
	}
	slices.SortFunc(as, func(a, b Assignment) int { return a.Partition - b.Partition })
	return as
}

// Commit commits, for each partition of msgs, the offset after the last of
// them: that message and every earlier one of the partition are done for
// the group. Commits are synchronous, and never move a partition's offset
// back.
//
// When the group is rebalancing (REBALANCE_IN_PROGRESS,
// ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, a lost coordinator), Commit ends
// this member's generation, waits for the next one and commits again, up
// to CommitAttempts generations, for the partitions still assigned to it.
// For partitions no longer assigned it returns an error wrapping
// ErrRevoked (the messages will be read again by their new holder).
func (c *Consumer[T]) Commit(ctx context.Context, msgs ...storage.Message[T]) error {
	select {
	case <-c.closing:
		return ErrClosed
	default:
	}
	offs := map[int]int64{}
	for _, m := range msgs {
		if m.Topic != c.sub.Topic {
			return fmt.Errorf("kafka: commit of a %s message on a %s consumer", m.Topic, c.sub.Topic)
		}
		offs[m.Partition] = max(offs[m.Partition], m.Offset+1)
	}
	if len(offs) == 0 {
		return nil
	}
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	var revoked []int
	for attempt := 1; ; attempt++ {
		gen, err := c.current(ctx, nil)
		if err != nil {
			return err
		}
		todo := map[int]int64{}
		c.mu.Lock()
		for p, off := range offs {
			cur, ok := gen.assigned[p]
			switch {
			case !ok:
				revoked = append(revoked, p)
				delete(offs, p)
			case off > cur:
				todo[p] = off
			}
		}
		c.mu.Unlock()
		if len(todo) == 0 {
			break
		}
		err = gen.g.CommitOffsets(map[string]map[int]int64{c.sub.Topic: todo})
		if err == nil {
			c.mu.Lock()
			for p, off := range todo {
				gen.assigned[p] = max(gen.assigned[p], off)
			}
			c.mu.Unlock()
			break
		}
		if !rebalancing(err) || attempt >= c.cfg.Consumer.CommitAttempts {
			return fmt.Errorf("kafka: commit on %s in generation %d: %w", c.sub.Topic, gen.g.ID, err)
		}
		c.commitRetries.Add(1)
		c.log.Info("kafka commit failed while the group rebalances; committing again in the next generation",
			"generation", gen.g.ID, "err", err)
		gen.end()
		if _, err := c.current(ctx, gen); err != nil {
			return err
		}
	}
	if len(revoked) > 0 {
		slices.Sort(revoked)
		return fmt.Errorf("kafka: commit on %s partitions %v: %w", c.sub.Topic, revoked, ErrRevoked)
	}
	return nil
}

// current waits for a generation other than old (or any, old nil).
func (c *Consumer[T]) current(ctx context.Context, old *generation) (*generation, error) {
	for {
		c.mu.Lock()
		gen, ch := c.gen, c.changed
		c.mu.Unlock()
		if gen != nil && gen != old {
			return gen, nil
		}
		select {
		case <-ch:
		case <-c.closing:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// rebalancing reports whether a commit failed because the generation is
// over or its coordinator connection lost, so that it may succeed in the
// next generation.
func rebalancing(err error) bool {
	var ke kafka.Error
	if errors.As(err, &ke) {
		switch ke {
		case kafka.RebalanceInProgress, kafka.IllegalGeneration, kafka.UnknownMemberId,
			kafka.NotCoordinatorForGroup, kafka.GroupCoordinatorNotAvailable, kafka.GroupLoadInProgress,
			kafka.RequestTimedOut, kafka.NetworkException:
			return true
		}
		return false
	}
	return true
}

// Stats returns the consumer's counters.
func (c *Consumer[T]) Stats() Stats {
	return Stats{Generations: c.generations.Load(), Dropped: c.dropped.Load(), CommitRetries: c.commitRetries.Load()}
}

// Close leaves the group; its partitions go to the other members, which
// read them from the group's committed offsets. Messages fetched and not
// committed are read again.
func (c *Consumer[T]) Close() error {
	err := ErrClosed
	c.closeOnce.Do(func() {
		close(c.closing)
		c.cancel()
		err = c.group.Close()
		<-c.loopDone
	})
	return err
}
