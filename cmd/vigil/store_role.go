package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vigilsec/vigil/cmd/vigil/ops"
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
	fl := newFlags("store", s.err,
		"usage: vigil store (--config FILE | --bus kafka://HOST:9092 --store clickhouse://HOST:9000/DB)")
	rf := addRoleFlags(fl)
	fl.String("store", "", "ClickHouse: clickhouse://host:9000/database (default: store.url of --config); the password comes from store.password")
	events := fl.Bool("events", true, "store vigil.events")
	alerts := fl.Bool("alerts", true, "store vigil.alerts")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fl.Arg(0))
	}
	r, err := setupRole(fl, rf, s, roleSetup{name: "store", bus: true})
	if err != nil {
		return err
	}
	storeURL, err := r.storeURL()
	if err != nil {
		return err
	}
	st, err := clickhouse.Open(ctx, clickhouse.Config{URL: storeURL})
	if err != nil {
		return err
	}
	defer st.Close()
	cfg := r.kafka
	if *events {
		r.lag.watch(cfg.Topics.Events, groupStore)
	}
	if *alerts {
		r.lag.watch(cfg.Topics.Alerts, groupStore)
	}
	if err := r.serve(ctx, storeCheck(st)); err != nil {
		return err
	}
	defer r.Close()
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
			return storeTopic(runCtx, r, cfg.Topics.Events, "events", kafka.Codec[*ingest.Event](kafka.EventCodec{NoFields: true}),
				st.InsertEvents, dl, storeEventBatch, storeEventLinger)
		})
	}
	if *alerts {
		stg.goStage("store alerts", func() error {
			return storeTopic(runCtx, r, cfg.Topics.Alerts, "alerts", alertCodec, st.InsertAlerts, dl,
				storeAlertBatch, storeAlertLinger)
		})
	}
	r.log.Info("store started", "server", st.ServerVersion())
	err = stg.wait()
	if interrupted(ctx, err) {
		err = nil
	}
	return err
}

// storeTopic writes topic's values through insert in batches and commits
// each batch once it is inserted. Rows the store rejects for good are sent
// to the dead-letter topic before the commit. The batches are observed in
// the role's store metrics under table.
func storeTopic[T comparable](ctx context.Context, r *role, topic, table string, codec kafka.Codec[T],
	insert func(context.Context, []T) error, dl *kafka.DeadLetter, size int, linger time.Duration) error {
	log := r.log.With("table", table)
	in, err := kafka.NewConsumer(r.kafka, kafka.Subscription[T]{Topic: topic, Group: groupStore, Codec: codec})
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
	}}, ops.TimeFlush(r.metrics, table, insert))
	if err != nil {
		return err
	}
	r.metrics.WatchWriter(table, w.Stats)
	defer w.Close(context.WithoutCancel(ctx))
	for {
		msgs, poison, ferr := fetchBatch(ctx, in, dl, groupStore, size, linger)
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.ShutdownTimeout)
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

// runMigrate creates or upgrades the ClickHouse schema of store.url
// (--store or --config). With listen set it serves /metrics, /healthz and
// /readyz (the store answers) while it runs.
func runMigrate(ctx context.Context, args []string, s stdio) error {
	fl := newFlags("migrate", s.err,
		"usage: vigil migrate (--config FILE | --store clickhouse://HOST:9000/DB)")
	rf := roleFlags{config: addConfigFlags(fl)}
	fl.String("store", "", "ClickHouse: clickhouse://host:9000/database (default: store.url of --config); the password comes from store.password")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		fl.Usage()
		return exitError(2)
	}
	r, err := setupRole(fl, rf, s, roleSetup{name: "migrate"})
	if err != nil {
		return err
	}
	storeURL, err := r.storeURL()
	if err != nil {
		if !strings.HasPrefix(r.cfg.Store.URL, "clickhouse://") {
			fl.Usage()
		}
		return err
	}
	st, err := clickhouse.Open(ctx, clickhouse.Config{URL: storeURL})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := r.serve(ctx, storeCheck(st)); err != nil {
		return err
	}
	defer r.Close()
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
