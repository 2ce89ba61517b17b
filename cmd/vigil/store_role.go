package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/goccy/go-json"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/batch"
	"github.com/vigilsec/vigil/storage/clickhouse"
	"github.com/vigilsec/vigil/storage/kafka"
)

// groupStore is the consumer group of the store role, on both topics.
const groupStore = "vigil-store"

// Batching of the store role: ClickHouse wants few large inserts.
const (
	storeEventBatch  = 5000
	storeEventLinger = 200 * time.Millisecond
	storeAlertBatch  = 1000
	storeAlertLinger = 50 * time.Millisecond
)

// runStore runs the store role: vigil.events and vigil.alerts into
// ClickHouse, each batch committed once ClickHouse accepted it. Rows the
// store rejects go to vigil.deadletter with the reason.
func runStore(ctx context.Context, args []string, s stdio) error {
	fl := newFlags("store", s.err)
	bf := addBusFlags(fl)
	storeURL := fl.String("store", "", "ClickHouse: clickhouse://host:9000/database; required")
	events := fl.Bool("events", true, "store vigil.events")
	alerts := fl.Bool("alerts", true, "store vigil.alerts")
	fl.Usage = func() {
		fmt.Fprintln(s.err, "usage: vigil store --bus kafka://HOST:9092 --store clickhouse://HOST:9000/DB")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fl.Arg(0))
	}
	if !strings.HasPrefix(*storeURL, "clickhouse://") {
		return errors.New("--store clickhouse://host:9000/database is required")
	}
	cfg, err := bf.config(ctx, s.err)
	if err != nil {
		return err
	}
	log := roleLogger(s.err, *bf.verbose)
	st, err := clickhouse.Open(ctx, clickhouse.Config{URL: *storeURL})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	dl, err := kafka.NewDeadLetter(cfg)
	if err != nil {
		return err
	}
	defer dl.Close()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stg := &stages{cancel: cancel}
	if *events {
		stg.goStage("store events", func() error {
			return storeTopic(runCtx, cfg, cfg.Topics.Events, kafka.Codec[*ingest.Event](rowCodec{}), st.InsertEvents, dl, log,
				storeEventBatch, storeEventLinger)
		})
	}
	if *alerts {
		stg.goStage("store alerts", func() error {
			return storeTopic(runCtx, cfg, cfg.Topics.Alerts, alertCodec, st.InsertAlerts, dl, log,
				storeAlertBatch, storeAlertLinger)
		})
	}
	log.Info("store started", "server", st.ServerVersion())
	return stg.wait()
}

// storeTopic writes topic's values through insert in batches and commits
// each batch once it is inserted. Rows the store rejects for good are sent
// to the dead-letter topic before the commit.
func storeTopic[T comparable](ctx context.Context, cfg kafka.Config, topic string, codec kafka.Codec[T],
	insert func(context.Context, []T) error, dl *kafka.DeadLetter, log *slog.Logger, size int, linger time.Duration) error {
	in, err := kafka.NewConsumer(cfg, kafka.Subscription[T]{Topic: topic, Group: groupStore, Codec: codec})
	if err != nil {
		return err
	}
	defer in.Close()
	var rejected []kafka.Letter
	byRow := map[T]storage.Message[T]{}
	w, err := batch.New(batch.Config[T]{Size: size * 2, Interval: time.Hour, DeadLetter: func(row T, err error) {
		l, lerr := kafka.LetterOf(codec, groupStore, byRow[row], "store rejected the row: "+err.Error())
		if lerr != nil {
			log.Error("dead letter of a rejected row", "err", lerr)
			return
		}
		rejected = append(rejected, l)
	}}, insert)
	if err != nil {
		return err
	}
	defer w.Close(context.WithoutCancel(ctx))
	for {
		msgs, poison, ferr := fetchBatch(ctx, in, dl, groupStore, size, linger)
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), roleDrain)
		err := func() error {
			clear(byRow)
			rows := make([]T, 0, len(msgs))
			for i, m := range msgs {
				if !poison[i] {
					rows = append(rows, m.Value)
					byRow[m.Value] = m
				}
			}
			if err := w.Add(wctx, rows...); err != nil {
				return err
			}
			if err := w.Flush(wctx); err != nil {
				return err
			}
			for _, l := range rejected {
				if err := dl.Send(wctx, l); err != nil {
					return fmt.Errorf("dead letter: %w", err)
				}
			}
			rejected = rejected[:0]
			return commitBatch(wctx, in, log, msgs)
		}()
		cancel()
		if err != nil {
			return err
		}
		if ferr != nil {
			if interrupted(ctx, ferr) {
				return nil
			}
			return ferr
		}
	}
}

// rowCodec decodes events for the store, which writes Raw and the
// normalized columns and never reads Fields: it skips building the Fields
// maps, the costliest part of decoding an event. Encoding is EventCodec's
// (a dead letter of a rejected row keeps Raw, the original record, and
// loses the decoded Fields).
type rowCodec struct{ kafka.EventCodec }

// Decode unmarshals an event without its Fields.
func (rowCodec) Decode(value []byte, _ []kafkago.Header) (*ingest.Event, error) {
	var w struct {
		ID     string            `json:"event_id"`
		Type   string            `json:"type"`
		Time   time.Time         `json:"time"`
		Source string            `json:"source"`
		Raw    []byte            `json:"raw"`
		Norm   ingest.Normalized `json:"norm"`
	}
	if err := json.Unmarshal(value, &w); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	return &ingest.Event{ID: w.ID, Type: w.Type, Time: w.Time.UTC(), Source: w.Source, Raw: w.Raw, Norm: w.Norm}, nil
}

// runMigrate creates or upgrades the ClickHouse schema.
func runMigrate(ctx context.Context, args []string, s stdio) error {
	fl := newFlags("migrate", s.err)
	storeURL := fl.String("store", "", "ClickHouse: clickhouse://host:9000/database; required")
	fl.Usage = func() {
		fmt.Fprintln(s.err, "usage: vigil migrate --store clickhouse://HOST:9000/DB")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 || !strings.HasPrefix(*storeURL, "clickhouse://") {
		fl.Usage()
		return exitError(2)
	}
	st, err := clickhouse.Open(ctx, clickhouse.Config{URL: *storeURL})
	if err != nil {
		return err
	}
	defer st.Close()
	before, err := st.AppliedVersion(ctx)
	if err != nil {
		return err
	}
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	fmt.Fprintf(s.out, "schema version %d (was %d) on ClickHouse %s\n", clickhouse.SchemaVersion(), before, st.ServerVersion())
	return nil
}
