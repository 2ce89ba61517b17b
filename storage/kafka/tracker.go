package kafka

import (
	"cmp"
	"slices"
	"sync"

	"github.com/vigilsec/vigil/storage"
)

// Tracker tells a consumer that processes messages concurrently what it
// may commit: per partition, the last message of the contiguous prefix of
// fetched messages that are all done. Committing it commits everything
// before it, so a message still in flight is never committed by a later
// one finishing first.
//
// Call Fetched for every message in the order Fetch returned them, then
// Done when the message's work is durable; commit what Done returns. A
// Fetched offset at or below the partition's last one means the partition
// was read again from an earlier offset (after a rebalance): the partition's
// state starts over. A Done for an offset the tracker no longer holds is
// ignored. The zero Tracker is ready to use and safe for concurrent use.
type Tracker[T any] struct {
	mu    sync.Mutex
	parts map[topicPartition]*pending[T]
}

type topicPartition struct {
	topic     string
	partition int
}

// pending holds the fetched messages of a partition not yet committable,
// in offset order.
type pending[T any] struct {
	msgs []storage.Message[T]
	done []bool
}

// Fetched records that m was handed out for work.
func (t *Tracker[T]) Fetched(m storage.Message[T]) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.parts == nil {
		t.parts = map[topicPartition]*pending[T]{}
	}
	k := topicPartition{m.Topic, m.Partition}
	p := t.parts[k]
	if p == nil {
		p = &pending[T]{}
		t.parts[k] = p
	}
	if n := len(p.msgs); n > 0 && m.Offset <= p.msgs[n-1].Offset {
		p.msgs, p.done = p.msgs[:0], p.done[:0]
	}
	p.msgs = append(p.msgs, m)
	p.done = append(p.done, false)
}

// Done records that m's work is durable. It returns the message to commit
// and true when the committable prefix of m's partition grew.
func (t *Tracker[T]) Done(m storage.Message[T]) (storage.Message[T], bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var zero storage.Message[T]
	p := t.parts[topicPartition{m.Topic, m.Partition}]
	if p == nil {
		return zero, false
	}
	i, ok := slices.BinarySearchFunc(p.msgs, m.Offset, func(e storage.Message[T], off int64) int {
		return cmp.Compare(e.Offset, off)
	})
	if !ok {
		return zero, false
	}
	p.done[i] = true
	n := 0
	for n < len(p.done) && p.done[n] {
		n++
	}
	if n == 0 {
		return zero, false
	}
	last := p.msgs[n-1]
	// Shift in place, keeping the capacity for the next messages.
	p.msgs, p.done = slices.Delete(p.msgs, 0, n), slices.Delete(p.done, 0, n)
	return last, true
}

// Pending returns how many fetched messages are not yet committable, over
// all partitions: a bound on it bounds the work in flight.
func (t *Tracker[T]) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, p := range t.parts {
		n += len(p.msgs)
	}
	return n
}
