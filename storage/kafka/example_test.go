package kafka_test

import (
	"context"
	"errors"
	"log/slog"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/kafka"
)

// A stage's loop: fetch, send poison to the dead-letter topic, do the work,
// commit once the work is durable. A revoked partition is not an error of
// the stage: its new holder reads the messages again.
func ExampleConsumer() {
	ctx := context.Background()
	cfg := kafka.Config{Brokers: []string{"kafka-1:9092", "kafka-2:9092"}}
	if err := kafka.EnsureTopics(ctx, cfg); err != nil {
		slog.Error("topics", "err", err)
		return
	}
	c, err := kafka.NewConsumer(cfg, kafka.Subscription[*ingest.Event]{
		Topic: storage.TopicEvents, Group: "store", Codec: kafka.EventCodec{},
	})
	if err != nil {
		slog.Error("consumer", "err", err)
		return
	}
	defer c.Close()
	dl, err := kafka.NewDeadLetter(cfg)
	if err != nil {
		slog.Error("dead letters", "err", err)
		return
	}
	defer dl.Close()
	store := func(context.Context, *ingest.Event) error { return nil } // durable work

	for {
		m, err := c.Fetch(ctx)
		var poison *kafka.PoisonError
		switch {
		case errors.As(err, &poison):
			err = dl.Send(ctx, poison.Letter("store"))
		case err == nil:
			err = store(ctx, m.Value)
		}
		if err != nil {
			slog.Error("stage stops", "err", err)
			return
		}
		if err := c.Commit(ctx, m); err != nil && !errors.Is(err, kafka.ErrRevoked) {
			slog.Error("commit", "err", err)
			return
		}
	}
}

// Work done concurrently commits through a Tracker: only the contiguous
// prefix of finished messages of each partition. Commits from several
// workers may arrive out of order; Commit never moves an offset back.
func ExampleTracker() {
	ctx := context.Background()
	c, err := kafka.NewConsumer(kafka.Config{Brokers: []string{"kafka:9092"}}, kafka.Subscription[*ingest.Event]{
		Topic: storage.TopicEvents, Group: "detect", Codec: kafka.EventCodec{},
	})
	if err != nil {
		return
	}
	defer c.Close()
	process := func(*ingest.Event) {} // durable work
	var tr kafka.Tracker[*ingest.Event]
	work := make(chan storage.Message[*ingest.Event])
	defer close(work)
	for range 4 {
		go func() {
			for m := range work {
				process(m.Value)
				if last, ok := tr.Done(m); ok {
					if err := c.Commit(ctx, last); err != nil && !errors.Is(err, kafka.ErrRevoked) {
						slog.Error("commit", "err", err)
					}
				}
			}
		}()
	}
	for {
		m, err := c.Fetch(ctx)
		if err != nil {
			return
		}
		tr.Fetched(m)
		work <- m
	}
}
