package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/awsconf"
	"github.com/vigilsec/vigil/ingest/logtype"
	"github.com/vigilsec/vigil/ingest/s3"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/kafka"
)

// Batching of the Kafka ingest.
const (
	// busBatch is how many events of a file are written at once.
	busBatch = 500
	// fileWorkers is how many files are read at once.
	fileWorkers = 4
)

// runIngestCommand is vigil ingest: with --bus, --config or a kafka://
// VIGIL_BUS_URL it writes the events of its sources to Kafka
// (runIngestBus); without, it is the NDJSON ingest of AWS sources
// (runIngest).
func runIngestCommand(ctx context.Context, args []string, s stdio) error {
	if strings.HasPrefix(os.Getenv("VIGIL_BUS_URL"), "kafka://") {
		return runIngestBus(ctx, args, s)
	}
	for _, a := range args {
		if flagArg(a, "bus") || flagArg(a, "config") {
			return runIngestBus(ctx, args, s)
		}
	}
	return runIngest(ctx, args, s)
}

// flagArg reports whether the argument a sets the flag name: -name,
// --name, -name=… or --name=….
func flagArg(a, name string) bool {
	a, ok := strings.CutPrefix(a, "-")
	if !ok {
		return false
	}
	a = strings.TrimPrefix(a, "-")
	return a == name || strings.HasPrefix(a, name+"=")
}

// runIngestBus reads file:// and AWS sources onto vigil.events. Events are
// keyed by their source, so that one source's records keep their order; a
// source's batch is acknowledged (checkpointed) only once Kafka acknowledged
// its events. Files have no checkpoint: a restarted ingest reads them again,
// and the duplicates are absorbed by the event IDs.
func runIngestBus(ctx context.Context, args []string, s stdio) error {
	fl := newFlags("ingest", s.err,
		"usage: vigil ingest (--config FILE | --bus kafka://HOST:9092 --source URL [--source URL]...)")
	rf := addRoleFlags(fl)
	var sources stringList
	fl.Var(&sources, "source", "file://PATH (a file or a directory), s3://…, sqs://…, cloudwatch://… (repeatable)")
	ckpt := fl.String("checkpoints", checkpointsOnBus, "where AWS sources keep their checkpoints: kafka:// (the compacted topic "+
		kafka.DefaultCheckpointTopic+" on the bus), kafka://TOPIC (another topic on the bus), a local directory, or empty: none")
	flowFormat := fl.String("flow-format", "", "VPC flow log format for files without a header line")
	maxShown := fl.Int("show-errors", 20, "how many bad records to print (all are counted)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		fl.Usage()
		return exitError(2)
	}
	r, err := setupRole(fl, rf, s, roleSetup{name: "ingest", bus: true})
	if err != nil {
		return err
	}
	sources, *flowFormat = r.cfg.Sources, r.cfg.Detect.FlowFormat // the flags' values when given
	if r.cfg.Checkpoints != "" {
		*ckpt = r.cfg.Checkpoints
	}
	if len(sources) == 0 {
		fl.Usage()
		return exitError(2)
	}
	if err := r.serve(ctx); err != nil {
		return err
	}
	defer r.Close()
	cfg := r.kafka
	prod, err := kafka.NewProducer(cfg, cfg.Topics.Events, kafka.EventCodec{})
	if err != nil {
		return err
	}
	defer prod.Close()
	bi := &busIngest{out: meteredEvents{Producer: prod, metrics: r.metrics}, log: r.log, maxShown: int64(*maxShown),
		decodeErrors: r.metrics.DecodeErrors, inputErrors: r.metrics.InputErrors}

	var files []string
	var aws []runSource
	defer func() { closeRunSources(aws) }() // unacknowledged batches are read again next time
	o := s3.Options{Bad: bi.badRecord}
	if o.Checkpoints, err = busCheckpoints(ctx, cfg, *ckpt, sources); err != nil {
		return err
	}
	if c, ok := o.Checkpoints.(io.Closer); ok {
		defer c.Close()
	}
	for _, u := range sources {
		if path, ok := strings.CutPrefix(u, "file://"); ok {
			files = append(files, path)
			continue
		}
		src, ok, err := openAWSSource(ctx, u, o)
		if !ok {
			return fmt.Errorf("--source %q: want file://, s3://, sqs:// or cloudwatch://", u)
		}
		if err != nil {
			return err
		}
		aws = append(aws, runSource{label: awsconf.RedactURL(u), src: src})
	}
	paths, err := expandInputs(files)
	if err != nil {
		return err
	}
	decoders, err := logtype.Decoders(logtype.Config{FlowFormat: *flowFormat})
	if err != nil {
		return err
	}

	start := time.Now()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := &stages{cancel: cancel}
	// Files are read by a few workers at once: each file is one key, so
	// one partition, and several keep several partitions busy.
	next := make(chan string)
	st.goStage("files", func() error {
		defer close(next)
		for _, p := range paths {
			select {
			case next <- p:
			case <-runCtx.Done():
				return runCtx.Err()
			}
		}
		return nil
	})
	for range min(fileWorkers, len(paths)) {
		st.goStage("files", func() error {
			for p := range next {
				if err := bi.file(runCtx, decoders, p); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for _, rs := range aws {
		st.goStage("source", func() error { return bi.drain(runCtx, rs) })
	}
	err = st.wait()
	fmt.Fprintf(s.err, "ingest: %d events to %s, %d bad records in %s\n", bi.events.Load(), cfg.Topics.Events,
		bi.bad.Load(), time.Since(start).Round(time.Millisecond))
	if interrupted(ctx, err) {
		return nil
	}
	return err
}

// busIngest writes events of several sources to the events topic.
type busIngest struct {
	out storage.Producer[*ingest.Event]
	log *slog.Logger
	// maxShown is how many bad records are logged; all are counted.
	maxShown int64
	// decodeErrors counts bad records, inputErrors inputs that could not
	// be read (to the end), by kind of source.
	decodeErrors, inputErrors *prometheus.CounterVec

	events, bad atomic.Int64
}

func (b *busIngest) badRecord(e *ingest.DecodeError) {
	b.decodeErrors.WithLabelValues(sourceKind(e.Source)).Inc()
	if b.bad.Add(1) <= b.maxShown {
		b.log.Warn("bad record", "err", e)
	}
}

// inputFailed reports an input that could not be read, or not to the end.
func (b *busIngest) inputFailed(source string, err error) {
	b.inputErrors.WithLabelValues(sourceKind(source)).Inc()
	b.log.Error("input failed", "source", source, "err", err)
}

// write writes evs keyed by their source and returns once Kafka has them.
func (b *busIngest) write(ctx context.Context, evs []*ingest.Event) error {
	if err := writeKeyed(ctx, b.out, evs, eventKey); err != nil {
		return err
	}
	b.events.Add(int64(len(evs)))
	return nil
}

// drain writes the batches of an AWS source until it ends or ctx does,
// acknowledging each batch once Kafka has it.
func (b *busIngest) drain(ctx context.Context, rs runSource) error {
	failed := func(err error) { b.inputFailed(rs.label, err) } // the source retries the call itself
	return drainSource(ctx, rs.src, failed, func(ctx context.Context, evs []*ingest.Event, ack func(context.Context) error) error {
		if err := b.write(ctx, evs); err != nil {
			return err
		}
		return ackNow(ctx, ack)
	})
}

// file decodes one file, of the log type its first bytes show, onto the
// bus. A file that cannot be read or whose type is unknown is reported and
// skipped.
func (b *busIngest) file(ctx context.Context, decoders map[string]ingest.Decoder, path string) error {
	name := "file://" + path
	f, err := os.Open(path)
	if err != nil {
		b.inputFailed(name, err)
		return nil
	}
	defer f.Close()
	typ, body, err := logtype.Prepare(f, ingest.Limits{}, "")
	if errors.Is(err, logtype.ErrEmpty) {
		err = logtype.ErrUnknownType
	}
	if err != nil {
		b.inputFailed(name, err)
		return nil
	}
	buf := make([]*ingest.Event, 0, busBatch)
	var writeErr error
	h := ingest.Handler{
		Event: func(ev *ingest.Event) error {
			buf = append(buf, ev)
			if len(buf) == busBatch {
				writeErr = b.write(ctx, buf)
				buf = buf[:0]
			}
			return writeErr
		},
		Bad: b.badRecord,
	}
	err = decoders[typ].Decode(ctx, body, name, h)
	switch {
	case writeErr != nil:
		return writeErr
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		b.inputFailed(name, err)
	}
	return b.write(ctx, buf)
}
