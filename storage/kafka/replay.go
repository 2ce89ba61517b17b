package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/vigilsec/vigil/storage"
)

// Replay reads partition p of the consumer's topic from offset from up to,
// not including, offset to, and calls fn with each message, in order,
// outside the group: nothing is committed and Fetch is not affected. It is
// how a stage rebuilds state in OnAssign (the correlator reads from the
// committed offset minus its longest window, see OffsetAt). from is raised
// to the partition's first offset and to lowered to its end offset.
// Undecodable messages are skipped (they went to the dead-letter topic when
// first fetched). An error from fn stops the replay and is returned.
func (c *Consumer[T]) Replay(ctx context.Context, p int, from, to int64, fn func(storage.Message[T]) error) error {
	first, end, err := partitionOffsets(ctx, c.client, c.sub.Topic, p)
	if err != nil {
		return err
	}
	from, to = max(from, first), min(to, end)
	if from >= to {
		return nil
	}
	r := c.reader(p)
	defer r.Close()
	if err := r.SetOffset(from); err != nil {
		return fmt.Errorf("kafka: replay %s/%d: %w", c.sub.Topic, p, err)
	}
	for {
		km, err := r.FetchMessage(ctx)
		if err != nil {
			return fmt.Errorf("kafka: replay %s/%d: %w", c.sub.Topic, p, err)
		}
		if km.Offset >= to {
			return nil
		}
		if v, err := c.sub.Codec.Decode(km.Value, km.Headers); err == nil {
			if err := fn(storage.Message[T]{Topic: km.Topic, Partition: km.Partition, Offset: km.Offset, Key: km.Key, Value: v}); err != nil {
				return err
			}
		}
		if km.Offset+1 >= to {
			return nil
		}
	}
}

// OffsetAt returns the offset of the first message of partition p with a
// timestamp (the time its producer wrote it) at or after t, or the
// partition's end offset when there is none.
func (c *Consumer[T]) OffsetAt(ctx context.Context, p int, t time.Time) (int64, error) {
	return offsetAt(ctx, c.client, c.sub.Topic, p, t)
}
