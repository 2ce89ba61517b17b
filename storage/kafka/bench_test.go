package kafka

import (
	"fmt"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"github.com/vigilsec/vigil/storage"
)

// benchBatch is how many messages one Write and one Commit carry.
const benchBatch = 500

// BenchmarkBus moves b.N messages through Kafka (kfake, in this process,
// over loopback TCP): written in batches of benchBatch, then read by a new
// consumer group committing after every batch. "kafka-go" is the ceiling:
// bare kafka-go with the same acks and batching and values encoded
// beforehand; "vigil" is this package's Producer and Consumer, encoding and
// decoding with the JSON codec. Each reports produce, consume and overall
// msgs/s. Run: go test -run '^$' -bench Bus -benchtime 20000x ./storage/kafka
func BenchmarkBus(b *testing.B) {
	_, base := newCluster(b)
	run := 0
	// fresh returns a config whose events topic is new and empty.
	fresh := func(b *testing.B) Config {
		run++
		cfg := base
		cfg.Topics.Events = fmt.Sprintf("bench.%d", run)
		ctx := testContext(b)
		if err := EnsureTopics(ctx, cfg); err != nil {
			b.Fatal(err)
		}
		// Wait until the broker serves the new topic, so that the bare
		// writer (which does not retry a metadata miss) finds it.
		rc, _ := cfg.resolve()
		cl, _ := rc.client()
		for {
			if _, _, err := partitionOffsets(ctx, cl, cfg.Topics.Events, 0); err == nil {
				return cfg
			}
			select {
			case <-ctx.Done():
				b.Fatal(ctx.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	report := func(b *testing.B, produce, consume time.Duration) {
		n := float64(b.N)
		b.ReportMetric(n/produce.Seconds(), "produce-msgs/s")
		b.ReportMetric(n/consume.Seconds(), "consume-msgs/s")
		b.ReportMetric(n/(produce+consume).Seconds(), "msgs/s")
	}

	b.Run("kafka-go", func(b *testing.B) {
		cfg := fresh(b)
		ctx := testContext(b)
		msgs := make([]kafka.Message, b.N)
		for i, m := range records(b.N, 64) {
			v, hs, err := recCodec.Encode(m.Value)
			if err != nil {
				b.Fatal(err)
			}
			msgs[i] = kafka.Message{Key: m.Key, Value: v, Headers: hs}
		}
		b.ResetTimer()
		start := time.Now()
		w := &kafka.Writer{
			Addr: kafka.TCP(cfg.Brokers...), Topic: cfg.Topics.Events, Balancer: &kafka.Murmur2Balancer{},
			RequiredAcks: kafka.RequireAll, BatchSize: DefaultBatchSize, BatchTimeout: DefaultBatchTimeout,
			Transport: &kafka.Transport{},
		}
		for i := 0; i < len(msgs); i += benchBatch {
			if err := w.WriteMessages(ctx, msgs[i:min(i+benchBatch, len(msgs))]...); err != nil {
				b.Fatal(err)
			}
		}
		w.Close()
		produce := time.Since(start)
		start = time.Now()
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: cfg.Brokers, Topic: cfg.Topics.Events, GroupID: "bench", StartOffset: kafka.FirstOffset,
			CommitInterval: 0, MaxWait: cfg.Consumer.MaxWait, HeartbeatInterval: cfg.Consumer.HeartbeatInterval,
			SessionTimeout: cfg.Consumer.SessionTimeout, JoinGroupBackoff: cfg.Consumer.JoinGroupBackoff,
		})
		defer r.Close()
		done := make([]kafka.Message, 0, benchBatch)
		for range b.N {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if done = append(done, m); len(done) == benchBatch {
				if err := r.CommitMessages(ctx, done...); err != nil {
					b.Fatal(err)
				}
				done = done[:0]
			}
		}
		if err := r.CommitMessages(ctx, done...); err != nil {
			b.Fatal(err)
		}
		report(b, produce, time.Since(start))
	})

	b.Run("vigil", func(b *testing.B) {
		cfg := fresh(b)
		ctx := testContext(b)
		msgs := records(b.N, 64)
		b.ResetTimer()
		start := time.Now()
		p, err := NewProducer(cfg, cfg.Topics.Events, recCodec)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < len(msgs); i += benchBatch {
			if err := p.Write(ctx, msgs[i:min(i+benchBatch, len(msgs))]...); err != nil {
				b.Fatal(err)
			}
		}
		p.Close()
		produce := time.Since(start)
		start = time.Now()
		c, err := NewConsumer(cfg, Subscription[rec]{Topic: cfg.Topics.Events, Group: "bench", Codec: recCodec})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		done := make([]storage.Message[rec], 0, benchBatch)
		for range b.N {
			m, err := c.Fetch(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if done = append(done, m); len(done) == benchBatch {
				if err := c.Commit(ctx, done...); err != nil {
					b.Fatal(err)
				}
				done = done[:0]
			}
		}
		if err := c.Commit(ctx, done...); err != nil {
			b.Fatal(err)
		}
		report(b, produce, time.Since(start))
	})
}

// BenchmarkEventCodec measures encoding and decoding one CloudTrail event.
func BenchmarkEventCodec(b *testing.B) {
	var c EventCodec
	ev := codecEvents[0]
	for b.Loop() {
		v, hs, err := c.Encode(ev)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Decode(v, hs); err != nil {
			b.Fatal(err)
		}
	}
}
