package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"github.com/vigilsec/vigil/storage"
)

// Producer writes values of T to one topic. It is safe for concurrent use.
type Producer[T any] struct {
	w     *kafka.Writer
	codec Codec[T]
	cfg   ProducerConfig
	log   *slog.Logger
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

var _ storage.Producer[int] = (*Producer[int])(nil)

// NewProducer returns a producer writing to topic. It does not connect
// until the first Write. Messages are spread over the partitions by a hash
// of their key (murmur2, as the Java client does), so messages with equal
// keys keep their order; messages without a key are spread at random.
func NewProducer[T any](c Config, topic string, codec Codec[T]) (*Producer[T], error) {
	c, err := c.resolve()
	if err != nil {
		return nil, err
	}
	if topic == "" {
		return nil, errors.New("kafka: producer without a topic")
	}
	tr, err := c.transport()
	if err != nil {
		return nil, err
	}
	p := c.Producer
	log := c.Logger.With("topic", topic)
	return &Producer[T]{
		w: &kafka.Writer{
			Addr:         kafka.TCP(c.Brokers...),
			Topic:        topic,
			Balancer:     &kafka.Murmur2Balancer{},
			MaxAttempts:  1, // retries are Write's, over the failed messages only
			BatchSize:    p.BatchSize,
			BatchBytes:   p.BatchBytes,
			BatchTimeout: p.BatchTimeout,
			WriteTimeout: p.WriteTimeout,
			ReadTimeout:  p.WriteTimeout,
			RequiredAcks: kafka.RequireAll,
			Transport:    tr,
			Logger:       kafkaLogger(log, slog.LevelDebug, "kafka-go writer"),
			ErrorLogger:  kafkaLogger(log, slog.LevelWarn, "kafka-go writer error"),
		},
		codec: codec,
		cfg:   p,
		log:   log,
		now:   time.Now,
		sleep: sleepCtx,
	}, nil
}

// Write encodes msgs and writes them, returning once every message is
// acknowledged by all in-sync replicas. Messages that fail with a retriable
// error are written again, only they, after a backoff doubling from
// BackoffMin to BackoffMax, at most Attempts times in all. Write gives up
// when ctx ends; messages in flight at that moment may still be written.
func (p *Producer[T]) Write(ctx context.Context, msgs ...storage.Message[T]) error {
	if len(msgs) == 0 {
		return nil
	}
	now := p.now()
	pending := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		v, hs, err := p.codec.Encode(m.Value)
		if err != nil {
			return err
		}
		pending[i] = kafka.Message{Key: m.Key, Value: v, Headers: hs, Time: now}
	}
	backoff := p.cfg.BackoffMin
	for attempt := 1; ; attempt++ {
		err := p.w.WriteMessages(ctx, pending...)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("kafka: write to %s: %w", p.w.Topic, err)
		}
		var werrs kafka.WriteErrors
		if errors.As(err, &werrs) && len(werrs) == len(pending) {
			failed := pending[:0:0]
			var errs []error
			for i, e := range werrs {
				if e == nil {
					continue
				}
				failed = append(failed, pending[i])
				// One failed batch fails all its messages alike: keep
				// each distinct error once.
				if !slices.ContainsFunc(errs, func(x error) bool { return x.Error() == e.Error() }) {
					errs = append(errs, e)
				}
			}
			pending, err = failed, errors.Join(errs...)
		}
		if !retriable(err) {
			return fmt.Errorf("kafka: write %d messages to %s: %w", len(pending), p.w.Topic, err)
		}
		if attempt >= p.cfg.Attempts {
			return fmt.Errorf("kafka: write %d messages to %s: gave up after %d attempts: %w", len(pending), p.w.Topic, attempt, err)
		}
		p.log.Warn("kafka write failed, retrying the failed messages", "failed", len(pending), "attempt", attempt, "backoff", backoff, "err", err)
		if err := p.sleep(ctx, backoff); err != nil {
			return fmt.Errorf("kafka: write to %s: %w", p.w.Topic, err)
		}
		backoff = min(2*backoff, p.cfg.BackoffMax)
	}
}

// Close flushes nothing (writes are synchronous) and releases the
// connections.
func (p *Producer[T]) Close() error { return p.w.Close() }

// retriable reports whether writing again may succeed: every error but
// kafka errors that Kafka documents as not retriable and messages too
// large for a batch. For a joined error, all must be retriable.
func retriable(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !retriable(e) {
				return false
			}
		}
		return true
	}
	var ke kafka.Error
	if errors.As(err, &ke) {
		return ke.Temporary()
	}
	var tooLarge kafka.MessageTooLargeError
	return !errors.As(err, &tooLarge)
}

// sleepCtx pauses for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
