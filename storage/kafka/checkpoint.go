package kafka

import (
	"bytes"
	"cmp"
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
// its first to its end offsets and keeps in memory the latest value of
// every key up to 4 KiB (a source's checkpoint, a snapshot's manifest) and
// only the partition and offset of every larger one (a snapshot's chunk);
// Load serves the small values from memory, updated by this instance's
// Saves, and reads a large one from the topic at its offset. A Save of a
// large value keeps no copy: the key is listed at once, and the next Load
// of it refreshes first to learn where the value was written. A large
// value no longer at its offset (compacted away after a newer value or a
// tombstone of its key) is looked up again after one Refresh and is
// missing when it is still not there.
//
// Like checkpoint.Dir, several sources of one ingester may share it, and
// ingesters on different machines may share the topic as long as they
// follow different sources (keys): an instance does not see the Saves of
// others after it opened, so two ingesters must not follow the same source
// at once, unless they call Refresh to read what others saved since. An
// empty value is stored as a tombstone: Load then returns nil, as for a key
// never saved.
type Checkpoints struct {
	topic  string
	cfg    Config
	cl     *kafka.Client
	dialer *kafka.Dialer // of the readers of the topic
	prod   *Producer[[]byte]
	large  int // values longer than this are held by location

	// reading is held by Refresh and read-held by the Saves of large
	// values, so that no refresh runs between the write of a large value
	// and its record as unread: the next refresh finds it.
	reading sync.RWMutex
	mu      sync.Mutex
	vals    map[string]entry
	ends    map[int]int64 // the end offset read so far of each partition
}

var _ checkpoint.Store = (*Checkpoints)(nil)

// largeValue is the size above which Checkpoints holds a value by location.
const largeValue = 4 << 10

// unread is the offset of a large value this instance saved and has not
// read back from the topic yet.
const unread = -1

// entry is what Checkpoints holds of the latest value of a key: the value
// itself when it is small, else where it is in the topic.
type entry struct {
	data []byte // a small value; nil for a large one
	part int    // the partition of a large value
	off  int64  // the offset of a large value, or unread
}

// OpenCheckpoints returns the checkpoint store on topic (default
// vigil.checkpoints), creating the topic when it is missing: one
// partition, c.ReplicationFactor replicas, cleanup.policy=compact. An
// existing topic must be compacted: under a delete policy, retention
// would delete checkpoints and sources would restart from their lookback.
func OpenCheckpoints(ctx context.Context, c Config, topic string) (*Checkpoints, error) {
	return openCheckpointStore(ctx, c, topic, largeValue)
}

// openCheckpointStore is OpenCheckpoints holding the values longer than
// large by location.
func openCheckpointStore(ctx context.Context, c Config, topic string, large int) (*Checkpoints, error) {
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
	dialer, err := c.dialer()
	if err != nil {
		return nil, err
	}
	if err := ensureCompacted(ctx, cl, topic, c.ReplicationFactor); err != nil {
		return nil, err
	}
	s := &Checkpoints{topic: topic, cfg: c, cl: cl, dialer: dialer, large: large, vals: map[string]entry{}, ends: map[int]int64{}}
	if err := s.read(ctx); err != nil {
		return nil, err
	}
	if s.prod, err = NewProducer[[]byte](c, topic, bytesCodec{}); err != nil {
		return nil, err
	}
	return s, nil
}

// Refresh reads the messages written to the topic since it was last read
// (by OpenCheckpoints or Refresh), so that Load returns what other
// instances saved since and finds the large values this one saved. It
// waits for the Saves of large values in progress.
func (s *Checkpoints) Refresh(ctx context.Context) error {
	s.reading.Lock()
	defer s.reading.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.read(ctx)
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
	vals, err := s.loadAll(ctx, []string{key})
	if err != nil {
		return nil, err
	}
	return vals[0], nil
}

// loadAll returns the latest values of keys, in their order, nil for the
// keys that have none. It reads the large values of one partition with one
// reader, in the order of their offsets (the chunks of a snapshot are
// usually adjacent). A large value whose location is unread or stale is
// looked up again after one Refresh, and is missing (nil) when it is still
// not there.
func (s *Checkpoints) loadAll(ctx context.Context, keys []string) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	vals := make([][]byte, len(keys))
	todo := make([]int, len(keys)) // the indexes of the keys to look up
	for i := range todo {
		todo[i] = i
	}
	for refreshed := false; ; refreshed = true {
		var locs []location
		var again []int
		s.mu.Lock()
		for _, i := range todo {
			switch v, ok := s.vals[keys[i]]; {
			case !ok:
			case v.data != nil:
				vals[i] = bytes.Clone(v.data)
			case v.off == unread:
				again = append(again, i)
			default:
				locs = append(locs, location{i: i, part: v.part, off: v.off})
			}
		}
		s.mu.Unlock()
		stale, err := s.fetch(ctx, keys, locs, vals)
		if err != nil {
			return nil, err
		}
		again = append(again, stale...)
		if len(again) == 0 || refreshed {
			return vals, nil
		}
		if err := s.Refresh(ctx); err != nil {
			return nil, err
		}
		todo = again
	}
}

// location is where loadAll looks for the value of keys[i].
type location struct {
	i    int
	part int
	off  int64
}

// fetch reads the large values at locs from the topic into vals, and
// returns the indexes of the keys whose location is stale: outside the
// partition's offsets, compacted away or holding another key.
func (s *Checkpoints) fetch(ctx context.Context, keys []string, locs []location, vals [][]byte) ([]int, error) {
	slices.SortFunc(locs, func(a, b location) int {
		return cmp.Or(cmp.Compare(a.part, b.part), cmp.Compare(a.off, b.off))
	})
	var stale []int
	for len(locs) > 0 {
		n := 1
		for n < len(locs) && locs[n].part == locs[0].part {
			n++
		}
		st, err := s.fetchPartition(ctx, keys, locs[0].part, locs[:n], vals)
		if err != nil {
			return nil, err
		}
		stale = append(stale, st...)
		locs = locs[n:]
	}
	return stale, nil
}

// fetchPartition is fetch for the locations in partition p, sorted by
// offset.
func (s *Checkpoints) fetchPartition(ctx context.Context, keys []string, p int, locs []location, vals [][]byte) ([]int, error) {
	first, end, err := partitionOffsets(ctx, s.cl, s.topic, p)
	if err != nil {
		return nil, err
	}
	r := s.reader(p)
	defer r.Close()
	var stale []int
	var m kafka.Message // the first message at or after the offsets looked up so far
	read := false
	for n, l := range locs {
		if l.off < first || l.off >= end {
			stale = append(stale, l.i)
			continue
		}
		if !read || m.Offset < l.off {
			if !read || m.Offset+1 != l.off { // else the reader is at l.off
				if err := r.SetOffset(l.off); err != nil {
					return nil, fmt.Errorf("kafka: read %s/%d: %w", s.topic, p, err)
				}
			}
			if m, err = r.FetchMessage(ctx); errors.Is(err, kafka.OffsetOutOfRange) {
				// The partition's first offset moved past the rest.
				for _, l := range locs[n:] {
					stale = append(stale, l.i)
				}
				return stale, nil
			} else if err != nil {
				return nil, fmt.Errorf("kafka: read %s/%d at %d: %w", s.topic, p, l.off, err)
			}
			read = true
		}
		if m.Offset == l.off && string(m.Key) == keys[l.i] && len(m.Value) > 0 {
			vals[l.i] = m.Value
		} else {
			stale = append(stale, l.i)
		}
	}
	return stale, nil
}

// Save writes value under key and returns once Kafka acknowledged it (all
// in-sync replicas).
func (s *Checkpoints) Save(ctx context.Context, key string, value []byte) error {
	if len(value) > s.large {
		s.reading.RLock()
		defer s.reading.RUnlock()
	}
	if err := s.prod.Write(ctx, storage.Message[[]byte]{Key: []byte(key), Value: value}); err != nil {
		return fmt.Errorf("checkpoint %s: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case len(value) == 0:
		delete(s.vals, key)
	case len(value) > s.large:
		s.vals[key] = entry{off: unread}
	default:
		s.vals[key] = entry{data: bytes.Clone(value)}
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

// read reads every partition of the topic from s.ends (its first offset
// when missing) to its end offset, applies the latest value of each key to
// s.vals and records the end offsets read in s.ends. It is called with
// s.mu held, or before s is shared.
func (s *Checkpoints) read(ctx context.Context) error {
	md, err := s.cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{s.topic}})
	if err != nil {
		return fmt.Errorf("kafka: metadata of %s: %w", s.topic, err)
	}
	var parts []int
	for _, t := range md.Topics {
		if t.Name != s.topic {
			continue
		}
		if t.Error != nil {
			return fmt.Errorf("kafka: metadata of %s: %w", s.topic, t.Error)
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.ID)
		}
	}
	if len(parts) == 0 {
		return fmt.Errorf("kafka: checkpoint topic %s has no partitions", s.topic)
	}
	for _, p := range parts {
		first, end, err := partitionOffsets(ctx, s.cl, s.topic, p)
		if err != nil {
			return err
		}
		if read, ok := s.ends[p]; ok && read > first {
			first = read
		}
		if first >= end {
			continue
		}
		if err := s.readPartition(ctx, p, first, end); err != nil {
			return err
		}
		s.ends[p] = end
	}
	return nil
}

// readPartition applies the messages of partition p from offset first up
// to end to s.vals: a small value itself, a large one's location.
func (s *Checkpoints) readPartition(ctx context.Context, p int, first, end int64) error {
	r := s.reader(p)
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		return fmt.Errorf("kafka: read %s/%d: %w", s.topic, p, err)
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return fmt.Errorf("kafka: read %s/%d: %w", s.topic, p, err)
		}
		if m.Offset >= end {
			return nil
		}
		switch k := string(m.Key); {
		case len(m.Value) == 0:
			delete(s.vals, k)
		case len(m.Value) > s.large:
			s.vals[k] = entry{part: p, off: m.Offset}
		default:
			s.vals[k] = entry{data: m.Value}
		}
		if m.Offset+1 >= end {
			return nil
		}
	}
}

// reader returns a reader of partition p of the topic that fails on an
// offset out of range rather than waiting, and queues few messages: they
// may be snapshot chunks of half a megabyte.
func (s *Checkpoints) reader(p int) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers: s.cfg.Brokers, Topic: s.topic, Partition: p, Dialer: s.dialer,
		MaxBytes: s.cfg.Consumer.MaxBytes, MaxWait: s.cfg.Consumer.MaxWait,
		QueueCapacity: 4, OffsetOutOfRangeError: true,
		Logger:      kafkaLogger(s.cfg.Logger, slog.LevelDebug, "kafka-go reader"),
		ErrorLogger: kafkaLogger(s.cfg.Logger, slog.LevelWarn, "kafka-go reader error"),
	})
}
