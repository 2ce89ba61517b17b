package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/kafka"
)

// tickEvery is how often the matcher tells every signals partition how far
// event time has come.
const tickEvery = time.Second

// A tick is a signal without a rule: it carries the matcher's watermark
// (the newest event time it has seen) to one partition of vigil.signals, so
// that the correlator of a partition with no matching events still
// advances, closes its windows and fires. Ticks are in the log, so a
// rebuild replays them and reaches the same state.
func isTick(s detect.Signal) bool { return s.RuleID == "" }

// tickKeys returns, for each partition of the signals topic, a message key
// that the producer's murmur2 partitioner puts on it.
func tickKeys(ctx context.Context, cfg kafka.Config) ([][]byte, error) {
	n, err := partitionCount(ctx, cfg, cfg.Topics.Signals)
	if err != nil {
		return nil, err
	}
	parts := make([]int, n)
	for i := range parts {
		parts[i] = i
	}
	keys := make([][]byte, n)
	found := 0
	var bal kafkago.Murmur2Balancer
	for i := 0; found < n; i++ {
		key := []byte("vigil-tick-" + strconv.Itoa(i))
		if p := bal.Balance(kafkago.Message{Key: key}, parts...); keys[p] == nil {
			keys[p] = key
			found++
		}
	}
	return keys, nil
}

// partitionCount asks the brokers how many partitions topic has.
func partitionCount(ctx context.Context, cfg kafka.Config, topic string) (int, error) {
	var mech sasl.Mechanism
	var err error
	switch cfg.SASL.Mechanism {
	case "":
	case kafka.MechanismPLAIN:
		mech = plain.Mechanism{Username: cfg.SASL.Username, Password: string(cfg.SASL.Password)}
	case kafka.MechanismSCRAMSHA256:
		mech, err = scram.Mechanism(scram.SHA256, cfg.SASL.Username, string(cfg.SASL.Password))
	case kafka.MechanismSCRAMSHA512:
		mech, err = scram.Mechanism(scram.SHA512, cfg.SASL.Username, string(cfg.SASL.Password))
	default:
		err = fmt.Errorf("unknown SASL mechanism %q", cfg.SASL.Mechanism)
	}
	if err != nil {
		return 0, err
	}
	c := &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Timeout: 10 * time.Second,
		Transport: &kafkago.Transport{TLS: cfg.TLS, SASL: mech, ClientID: cfg.ClientID}}
	resp, err := c.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	for _, t := range resp.Topics {
		if t.Name == topic && t.Error == nil && len(t.Partitions) > 0 {
			return len(t.Partitions), nil
		}
	}
	return 0, fmt.Errorf("partitions of %s: topic not found", topic)
}

// ticks are the tick messages of watermark t, one per partition.
func ticks(keys [][]byte, t time.Time) []storage.Message[detect.Signal] {
	msgs := make([]storage.Message[detect.Signal], len(keys))
	for i, k := range keys {
		msgs[i] = storage.Message[detect.Signal]{Key: k, Value: detect.Signal{Time: t}}
	}
	return msgs
}
