package main

import (
	"context"
	"sync/atomic"

	"github.com/vigilsec/vigil/storage"
)

// topicCounter counts the messages written to a topic of the in-process
// bus, whose offsets start at 0, so that a group's lag is the count minus
// its committed offset.
type topicCounter struct{ written atomic.Int64 }

// countingProducer counts what it writes in c.
type countingProducer[T any] struct {
	storage.Producer[T]
	c *topicCounter
}

func (p countingProducer[T]) Write(ctx context.Context, msgs ...storage.Message[T]) error {
	err := p.Producer.Write(ctx, msgs...)
	if err == nil {
		p.c.written.Add(int64(len(msgs)))
	}
	return err
}

// lagConsumer records the offset it committed, for lag.
type lagConsumer[T any] struct {
	storage.Consumer[T]
	committed *atomic.Int64 // the next offset to commit
}

func (c lagConsumer[T]) Commit(ctx context.Context, msgs ...storage.Message[T]) error {
	err := c.Consumer.Commit(ctx, msgs...)
	if err == nil && len(msgs) > 0 {
		c.committed.Store(msgs[len(msgs)-1].Offset + 1)
	}
	return err
}

// withLag wraps a consumer of topic so that p.metrics reports its group's
// lag behind the messages counted by tc.
func withLag[T any](p *pipeline, c storage.Consumer[T], tc *topicCounter, topic, group string) storage.Consumer[T] {
	lc := lagConsumer[T]{Consumer: c, committed: new(atomic.Int64)}
	p.metrics.WatchLag(topic, group, func() int64 { return tc.written.Load() - lc.committed.Load() })
	return lc
}
