package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/vigilsec/vigil/cmd/vigil/ops"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/storage"
)

// Defaults of the Kafka probes.
const (
	// busProbeTTL is how long an answer of the bus probe is reused, so
	// that frequent /readyz requests cost one metadata request.
	busProbeTTL = time.Second
	// lagEvery is how often the lag of a role's consumer groups is read.
	lagEvery = 10 * time.Second
	// kafkaRequestTimeout bounds one request of the probes.
	kafkaRequestTimeout = 5 * time.Second
)

// busProbe is the readiness check of a Kafka bus: a connection to a
// broker (TLS and SASL included) that answers an ApiVersions request, its
// result reused for busProbeTTL. It opens its own connection each time:
// kafka-go's client answers metadata requests from a cache, which would
// hide a broker that is gone.
type busProbe struct {
	dialer  *kafkago.Dialer
	brokers []string
	ttl     time.Duration
	now     func() time.Time

	mu  sync.Mutex
	at  time.Time // of the last answer; zero before the first
	err error
}

func newBusProbe(d *kafkago.Dialer, brokers []string) *busProbe {
	return &busProbe{dialer: d, brokers: brokers, ttl: busProbeTTL, now: time.Now}
}

// check returns nil when a broker answered within the last ttl.
func (b *busProbe) check(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.at.IsZero() && b.now().Sub(b.at) < b.ttl {
		return b.err
	}
	b.err = b.ask(ctx)
	b.at = b.now()
	return b.err
}

// ask tries the brokers in turn until one answers.
func (b *busProbe) ask(ctx context.Context) error {
	var errs []error
	for _, addr := range b.brokers {
		err := func() error {
			conn, err := b.dialer.DialContext(ctx, "tcp", addr)
			if err != nil {
				return err
			}
			defer conn.Close()
			if dl, ok := ctx.Deadline(); ok {
				if err := conn.SetDeadline(dl); err != nil {
					return err
				}
			}
			_, err = conn.ApiVersions()
			return err
		}()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("no Kafka broker answers: %w", errors.Join(errs...))
}

// lagWatcher reads, every lagEvery, the lag of the consumer groups of a
// role on their topics into the metrics: per partition in
// vigil_bus_partition_lag_messages, summed in vigil_bus_lag_messages.
type lagWatcher struct {
	client  *kafkago.Client
	metrics *ops.Metrics
	log     *slog.Logger
	every   time.Duration

	mu   sync.Mutex
	subs []*lagSub
}

// lagSub is one consumer group on one topic.
type lagSub struct {
	topic, group string
	total        atomic.Int64
}

func newLagWatcher(cl *kafkago.Client, m *ops.Metrics, log *slog.Logger) *lagWatcher {
	return &lagWatcher{client: cl, metrics: m, log: log, every: lagEvery}
}

// watch adds the lag of group on topic to the metrics.
func (w *lagWatcher) watch(topic, group string) {
	s := &lagSub{topic: topic, group: group}
	w.mu.Lock()
	w.subs = append(w.subs, s)
	w.mu.Unlock()
	w.metrics.WatchLag(topic, group, s.total.Load)
}

// run reads the lags until ctx ends.
func (w *lagWatcher) run(ctx context.Context) {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		w.mu.Lock()
		subs := append([]*lagSub(nil), w.subs...)
		w.mu.Unlock()
		for _, s := range subs {
			rctx, cancel := context.WithTimeout(ctx, kafkaRequestTimeout)
			err := w.update(rctx, s)
			cancel()
			if err != nil && ctx.Err() == nil {
				w.log.Warn("bus lag not read", "topic", s.topic, "group", s.group, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// update reads the end offsets of s.topic's partitions and s.group's
// committed offsets; a partition the group never committed lags by all
// the messages it holds.
func (w *lagWatcher) update(ctx context.Context, s *lagSub) error {
	md, err := w.client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{s.topic}})
	if err != nil {
		return err
	}
	var parts []int
	for _, t := range md.Topics {
		if t.Name != s.topic {
			continue
		}
		if t.Error != nil {
			return t.Error
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.ID)
		}
	}
	if len(parts) == 0 {
		return fmt.Errorf("topic %s has no partitions", s.topic)
	}
	req := make([]kafkago.OffsetRequest, 0, 2*len(parts))
	for _, p := range parts {
		req = append(req, kafkago.FirstOffsetOf(p), kafkago.LastOffsetOf(p))
	}
	lo, err := w.client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{s.topic: req}})
	if err != nil {
		return err
	}
	of, err := w.client.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: s.group, Topics: map[string][]int{s.topic: parts}})
	if err != nil {
		return err
	}
	committed := map[int]int64{}
	switch {
	case errors.Is(of.Error, kafkago.GroupIdNotFound): // the group never committed
		of.Topics = nil
	case of.Error != nil:
		return of.Error
	}
	for _, p := range of.Topics[s.topic] {
		if p.Error != nil {
			return p.Error
		}
		committed[p.Partition] = p.CommittedOffset
	}
	var total int64
	var errs []error
	for _, p := range lo.Topics[s.topic] {
		if p.Error != nil {
			errs = append(errs, fmt.Errorf("partition %d: %w", p.Partition, p.Error))
			continue
		}
		from, ok := committed[p.Partition]
		if !ok || from < p.FirstOffset {
			from = p.FirstOffset // never committed, or retention deleted the committed offset
		}
		lag := max(p.LastOffset-from, 0)
		w.metrics.BusPartitionLag.WithLabelValues(s.topic, s.group, strconv.Itoa(p.Partition)).Set(float64(lag))
		total += lag
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.total.Store(total)
	return nil
}

// meteredEvents counts the events its producer put on the bus in
// vigil_ingest_events_total, by kind of source and log type.
type meteredEvents struct {
	storage.Producer[*ingest.Event]
	metrics *ops.Metrics
}

// Write writes msgs and counts them once the bus has them.
func (p meteredEvents) Write(ctx context.Context, msgs ...storage.Message[*ingest.Event]) error {
	if err := p.Producer.Write(ctx, msgs...); err != nil {
		return err
	}
	for _, m := range msgs {
		p.metrics.EventsIn.WithLabelValues(sourceKind(m.Value.Source), m.Value.Type).Inc()
	}
	return nil
}

// sourceKind is the label of an event's source in the ingest metrics: its
// scheme (file://, s3://, cloudwatch://), not the object or stream, whose
// number is unbounded.
func sourceKind(source string) string {
	if scheme, _, ok := strings.Cut(source, "://"); ok {
		return scheme + "://"
	}
	return "unknown"
}
