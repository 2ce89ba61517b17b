package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	kafka "github.com/segmentio/kafka-go"

	"github.com/vigilsec/vigil/ingest/checkpoint"
	"github.com/vigilsec/vigil/storage"
)

// DefaultCheckpointTopic is the default topic of Checkpoints.
const DefaultCheckpointTopic = "vigil.checkpoints"

// Checkpoints is a checkpoint.Store on a compacted Kafka topic, for
// ingesters that run on Kafka: a restarted ingester, on this machine or
// another, resumes from the topic.
//
// Each Save writes one message, the checkpoint key as its key and the
// value as its value, and returns once all in-sync replicas acknowledged
// it. The topic is compacted (cleanup.policy=compact), so Kafka keeps at
// least the latest value of every key. OpenCheckpoints reads the topic from
// its first to its end offsets into memory (one value per source: it is
// small); Load serves from there, updated by this instance's Saves.
//
// Like checkpoint.Dir, several sources of one ingester may share it, and
// ingesters on different machines may share the topic as long as they
// follow different sources (keys): an instance does not see the Saves of
// others after it opened, so two ingesters must not follow the same source
// at once, unless they call Refresh to read what others saved since. An
// empty value is stored as a tombstone: Load then returns nil, as for a key
// never saved.
type Checkpoints struct {
	topic string
	cfg   Config
	cl    *kafka.Client
	prod  *Producer[[]byte]

	mu   sync.Mutex
	vals map[string][]byte
	ends map[int]int64 // the end offset read so far of each partition
}

var _ checkpoint.Store = (*Checkpoints)(nil)

// OpenCheckpoints returns the checkpoint store on topic (default
// vigil.checkpoints), creating the topic when it is missing: one
// partition, c.ReplicationFactor replicas, cleanup.policy=compact. An
// existing topic must be compacted: under a delete policy, retention
// would delete checkpoints and sources would restart from their lookback.
func OpenCheckpoints(ctx context.Context, c Config, topic string) (*Checkpoints, error) {
	if topic == "" {
		topic = DefaultCheckpointTopic
	}
	c, err := c.resolve()
	if err != nil {
		return nil, err
	}
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	if err := ensureCompacted(ctx, cl, topic, c.ReplicationFactor); err != nil {
		return nil, err
	}
	vals, ends := map[string][]byte{}, map[int]int64{}
	if err := readCheckpoints(ctx, c, cl, topic, vals, ends); err != nil {
		return nil, err
	}
	prod, err := NewProducer[[]byte](c, topic, bytesCodec{})
	if err != nil {
		return nil, err
	}
	return &Checkpoints{topic: topic, cfg: c, cl: cl, prod: prod, vals: vals, ends: ends}, nil
}

// Refresh reads the messages written to the topic since it was last read
// (by OpenCheckpoints or Refresh), so that Load returns what other
// instances saved since.
func (s *Checkpoints) Refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return readCheckpoints(ctx, s.cfg, s.cl, s.topic, s.vals, s.ends)
}

// Keys returns the keys that hold a value and start with prefix, sorted.
func (s *Checkpoints) Keys(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k := range s.vals {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// Load returns the latest value saved under key, or nil when there is
// none.
func (s *Checkpoints) Load(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.vals[key]), nil
}

// Save writes value under key and returns once Kafka acknowledged it (all
// in-sync replicas).
func (s *Checkpoints) Save(ctx context.Context, key string, value []byte) error {
	if err := s.prod.Write(ctx, storage.Message[[]byte]{Key: []byte(key), Value: value}); err != nil {
		return fmt.Errorf("checkpoint %s: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(value) == 0 {
		delete(s.vals, key)
	} else {
		s.vals[key] = bytes.Clone(value)
	}
	return nil
}

// Topic returns the topic's name.
func (s *Checkpoints) Topic() string { return s.topic }

// Close releases the producer's connections.
func (s *Checkpoints) Close() error { return s.prod.Close() }

// bytesCodec passes values through; an empty value is a tombstone.
type bytesCodec struct{}

func (bytesCodec) Encode(v []byte) ([]byte, []kafka.Header, error) {
	if len(v) == 0 {
		return nil, nil, nil
	}
	return v, nil, nil
}

func (bytesCodec) Decode(v []byte, _ []kafka.Header) ([]byte, error) { return v, nil }

// ensureCompacted creates topic compacted, or checks that the existing one
// is.
func ensureCompacted(ctx context.Context, cl *kafka.Client, topic string, rf int) error {
	if rf == 0 {
		rf = -1 // the broker's default.replication.factor
	}
	resp, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: 1, ReplicationFactor: rf,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}},
	}}})
	if err != nil {
		return fmt.Errorf("kafka: create topic %s: %w", topic, err)
	}
	switch err := resp.Errors[topic]; {
	case err == nil:
		return nil
	case !errors.Is(err, kafka.TopicAlreadyExists):
		return fmt.Errorf("kafka: create topic %s: %w", topic, err)
	}
	policy, err := cleanupPolicy(ctx, cl, topic)
	if err != nil {
		return err
	}
	if !slices.Contains(strings.Split(policy, ","), "compact") {
		return fmt.Errorf("kafka: checkpoint topic %s has cleanup.policy=%s: retention would delete checkpoints; "+
			"set cleanup.policy=compact (kafka-configs --alter --entity-type topics --entity-name %s --add-config cleanup.policy=compact)",
			topic, policy, topic)
	}
	return nil
}

// cleanupPolicy returns the cleanup.policy of topic.
func cleanupPolicy(ctx context.Context, cl *kafka.Client, topic string) (string, error) {
	resp, err := cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"cleanup.policy"},
	}}})
	if err != nil {
		return "", fmt.Errorf("kafka: describe topic %s: %w", topic, err)
	}
	for _, r := range resp.Resources {
		if r.ResourceName != topic {
			continue
		}
		if r.Error != nil {
			return "", fmt.Errorf("kafka: describe topic %s: %w", topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "cleanup.policy" {
				return e.ConfigValue, nil
			}
		}
	}
	return "", fmt.Errorf("kafka: describe topic %s: no cleanup.policy in the response", topic)
}

// readCheckpoints reads every partition of topic from ends (its first
// offset when missing) to its end offset, applies the latest value of each
// key to vals and records the end offsets read in ends.
func readCheckpoints(ctx context.Context, c Config, cl *kafka.Client, topic string, vals map[string][]byte, ends map[int]int64) error {
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return fmt.Errorf("kafka: metadata of %s: %w", topic, err)
	}
	var parts []int
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return fmt.Errorf("kafka: metadata of %s: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.ID)
		}
	}
	if len(parts) == 0 {
		return fmt.Errorf("kafka: checkpoint topic %s has no partitions", topic)
	}
	dialer, err := c.dialer()
	if err != nil {
		return err
	}
	for _, p := range parts {
		first, end, err := partitionOffsets(ctx, cl, topic, p)
		if err != nil {
			return err
		}
		if read, ok := ends[p]; ok && read > first {
			first = read
		}
		if first >= end {
			continue
		}
		if err := readPartition(ctx, c, dialer, topic, p, first, end, vals); err != nil {
			return err
		}
		ends[p] = end
	}
	return nil
}

// readPartition applies the messages of partition p from offset first up
// to end to vals.
func readPartition(ctx context.Context, c Config, dialer *kafka.Dialer, topic string, p int, first, end int64, vals map[string][]byte) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: c.Brokers, Topic: topic, Partition: p, Dialer: dialer,
		MaxBytes: c.Consumer.MaxBytes, MaxWait: c.Consumer.MaxWait,
		Logger:      kafkaLogger(c.Logger, slog.LevelDebug, "kafka-go reader"),
		ErrorLogger: kafkaLogger(c.Logger, slog.LevelWarn, "kafka-go reader error"),
	})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		return fmt.Errorf("kafka: read %s/%d: %w", topic, p, err)
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return fmt.Errorf("kafka: read %s/%d: %w", topic, p, err)
		}
		if m.Offset >= end {
			return nil
		}
		if len(m.Value) == 0 {
			delete(vals, string(m.Key))
		} else {
			vals[string(m.Key)] = m.Value
		}
		if m.Offset+1 >= end {
			return nil
		}
	}
}
