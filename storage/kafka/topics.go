package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

// EnsureTopics creates the topics of c.Topics that do not exist, with
// c.Partitions partitions and c.ReplicationFactor replicas; existing topics
// are left as they are. Every role calls it at start.
func EnsureTopics(ctx context.Context, c Config) error {
	c, err := c.resolve()
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	rf := c.ReplicationFactor
	if rf == 0 {
		rf = -1 // the broker's default.replication.factor
	}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range c.Topics.All() {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: t, NumPartitions: c.Partitions, ReplicationFactor: rf})
	}
	resp, err := cl.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("kafka: create topics: %w", err)
	}
	var errs []error
	for _, t := range c.Topics.All() {
		if err := resp.Errors[t]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("kafka: create topic %s: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

// client returns a kafka-go client of the brokers of c (resolved).
func (c Config) client() (*kafka.Client, error) {
	tr, err := c.transport()
	if err != nil {
		return nil, err
	}
	return &kafka.Client{Addr: kafka.TCP(c.Brokers...), Transport: tr, Timeout: c.Consumer.CoordinatorTimeout}, nil
}

// Clients returns a kafka-go client and dialer of c's brokers, with c's
// client ID, dial timeout, TLS and SASL (unset fields at their defaults),
// for the requests the Producer and Consumer do not make: the offsets of
// consumer groups, readiness probes. timeout bounds each request of the
// client.
func (c Config) Clients(timeout time.Duration) (*kafka.Client, *kafka.Dialer, error) {
	c, err := c.resolve()
	if err != nil {
		return nil, nil, err
	}
	tr, err := c.transport()
	if err != nil {
		return nil, nil, err
	}
	d, err := c.dialer()
	if err != nil {
		return nil, nil, err
	}
	return &kafka.Client{Addr: kafka.TCP(c.Brokers...), Transport: tr, Timeout: timeout}, d, nil
}

// partitionOffsets returns the first and end offsets of a partition.
func partitionOffsets(ctx context.Context, cl *kafka.Client, topic string, p int) (first, end int64, err error) {
	resp, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: {kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p)}},
	})
	if err != nil {
		return 0, 0, fmt.Errorf("kafka: offsets of %s/%d: %w", topic, p, err)
	}
	for _, po := range resp.Topics[topic] {
		if po.Partition == p {
			if po.Error != nil {
				return 0, 0, fmt.Errorf("kafka: offsets of %s/%d: %w", topic, p, po.Error)
			}
			return po.FirstOffset, po.LastOffset, nil
		}
	}
	return 0, 0, fmt.Errorf("kafka: offsets of %s/%d: partition not in the response", topic, p)
}

// offsetAt returns the offset of the first message of a partition with a
// timestamp at or after t, or the partition's end offset when there is
// none.
func offsetAt(ctx context.Context, cl *kafka.Client, topic string, p int, t time.Time) (int64, error) {
	resp, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: {kafka.TimeOffsetOf(p, t), kafka.LastOffsetOf(p)}},
	})
	if err != nil {
		return 0, fmt.Errorf("kafka: offset of %s/%d at %s: %w", topic, p, t, err)
	}
	for _, po := range resp.Topics[topic] {
		if po.Partition != p {
			continue
		}
		if po.Error != nil {
			return 0, fmt.Errorf("kafka: offset of %s/%d at %s: %w", topic, p, t, po.Error)
		}
		off := po.LastOffset
		for o := range po.Offsets {
			if o >= 0 && o < off {
				off = o
			}
		}
		return off, nil
	}
	return 0, fmt.Errorf("kafka: offset of %s/%d at %s: partition not in the response", topic, p, t)
}
