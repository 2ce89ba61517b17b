package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	kafka "github.com/segmentio/kafka-go"

	"github.com/vigilsec/vigil/storage"
)

// Headers a dead letter carries besides the original message's own.
const (
	HeaderDLQReason    = "vigil-dlq-reason"
	HeaderDLQTopic     = "vigil-dlq-topic"
	HeaderDLQPartition = "vigil-dlq-partition"
	HeaderDLQOffset    = "vigil-dlq-offset"
	HeaderDLQGroup     = "vigil-dlq-group"
)

// PoisonError is returned by Consumer.Fetch for a message whose value the
// codec cannot decode. Message is the message as read from Kafka.
type PoisonError struct {
	Message kafka.Message
	Err     error
}

// Error describes where the poison message is and why it is poison.
func (e *PoisonError) Error() string {
	return fmt.Sprintf("kafka: undecodable message at %s/%d offset %d: %v",
		e.Message.Topic, e.Message.Partition, e.Message.Offset, e.Err)
}

// Unwrap returns the codec's error.
func (e *PoisonError) Unwrap() error { return e.Err }

// Letter returns the dead letter of the poison message, given up by group.
func (e *PoisonError) Letter(group string) Letter {
	m := e.Message
	return Letter{
		Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Group: group,
		Key: m.Key, Value: m.Value, Headers: m.Headers, Reason: e.Err.Error(),
	}
}

// Letter is a message a stage could not process, kept on the dead-letter
// topic with the reason: the original key, value and headers verbatim, and
// where it came from in HeaderDLQ* headers.
type Letter struct {
	// Topic, Partition and Offset locate the original message.
	Topic     string
	Partition int
	Offset    int64
	// Group is the consumer group (the stage) that gave up.
	Group   string
	Key     []byte
	Value   []byte
	Headers []kafka.Header
	// Reason says why the message was given up.
	Reason string
}

// LetterOf returns the dead letter of a decoded message that a stage
// cannot process (a delivery that failed for good, say), encoding its
// value again with codec.
func LetterOf[T any](codec Codec[T], group string, m storage.Message[T], reason string) (Letter, error) {
	v, hs, err := codec.Encode(m.Value)
	if err != nil {
		return Letter{}, err
	}
	return Letter{
		Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Group: group,
		Key: m.Key, Value: v, Headers: hs, Reason: reason,
	}, nil
}

// LetterCodec encodes a Letter as its original value, with its original
// headers followed by the HeaderDLQ* headers.
type LetterCodec struct{}

var _ Codec[Letter] = LetterCodec{}

// Encode returns l's value and headers.
func (LetterCodec) Encode(l Letter) ([]byte, []kafka.Header, error) {
	hs := make([]kafka.Header, 0, len(l.Headers)+5)
	hs = append(hs, l.Headers...)
	hs = append(hs,
		kafka.Header{Key: HeaderDLQReason, Value: []byte(l.Reason)},
		kafka.Header{Key: HeaderDLQTopic, Value: []byte(l.Topic)},
		kafka.Header{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(l.Partition))},
		kafka.Header{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(l.Offset, 10))},
		kafka.Header{Key: HeaderDLQGroup, Value: []byte(l.Group)},
	)
	return l.Value, hs, nil
}

// Decode rebuilds a Letter; Key is left to the caller (it is the
// message's key).
func (LetterCodec) Decode(value []byte, headers []kafka.Header) (Letter, error) {
	l := Letter{Value: value}
	var err error
	dlq := false
	for _, h := range headers {
		v := string(h.Value)
		switch h.Key {
		case HeaderDLQReason:
			l.Reason = v
		case HeaderDLQTopic:
			l.Topic, dlq = v, true
		case HeaderDLQPartition:
			l.Partition, err = strconv.Atoi(v)
		case HeaderDLQOffset:
			l.Offset, err = strconv.ParseInt(v, 10, 64)
		case HeaderDLQGroup:
			l.Group = v
		default:
			l.Headers = append(l.Headers, h)
		}
		if err != nil {
			return Letter{}, fmt.Errorf("kafka: dead letter header %s: %w", h.Key, err)
		}
	}
	if !dlq {
		return Letter{}, errors.New("kafka: not a dead letter: no " + HeaderDLQTopic + " header")
	}
	return l, nil
}

// DeadLetter writes dead letters to the dead-letter topic.
type DeadLetter struct {
	p *Producer[Letter]
}

// NewDeadLetter returns a writer of the dead-letter topic of c
// (Topics.DeadLetter).
func NewDeadLetter(c Config) (*DeadLetter, error) {
	c, err := c.resolve()
	if err != nil {
		return nil, err
	}
	p, err := NewProducer[Letter](c, c.Topics.DeadLetter, LetterCodec{})
	if err != nil {
		return nil, err
	}
	return &DeadLetter{p: p}, nil
}

// Send writes l, keyed by its original key, and returns once it is
// durable; then the stage commits the original message and goes on.
func (d *DeadLetter) Send(ctx context.Context, l Letter) error {
	return d.p.Write(ctx, storage.Message[Letter]{Key: l.Key, Value: l})
}

// Close releases the connections.
func (d *DeadLetter) Close() error { return d.p.Close() }
