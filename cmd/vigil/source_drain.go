package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/vigilsec/vigil/ingest"
)

// deliverFunc takes one batch of a source and its ack. It returns once the
// events are handed on; it calls ack, now or later, only once they are
// durable downstream (see ingest.Source).
type deliverFunc func(ctx context.Context, evs []*ingest.Event, ack func(context.Context) error) error

// drainSource reads src's batches until it ends (io.EOF: nil) or ctx does
// (ctx.Err()) and hands each to deliver, in order. A failed call of the
// source is passed to failed and reading goes on: a source retries its
// calls itself, with backoff. An error of deliver stops the drain and is
// returned. It serves vigil ingest (NDJSON and Kafka) and vigil run.
func drainSource(ctx context.Context, src ingest.Source, failed func(error), deliver deliverFunc) error {
	for {
		evs, ack, err := src.Next(ctx)
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			failed(err)
			continue
		}
		if ack == nil {
			ack = noAck
		}
		if err := deliver(ctx, evs, ack); err != nil {
			return err
		}
	}
}

func noAck(context.Context) error { return nil }

// ackNow calls ack for a batch that is durable as soon as deliver
// returned; it is not cancelled with ctx, so that what was delivered is
// checkpointed even during a shutdown.
func ackNow(ctx context.Context, ack func(context.Context) error) error {
	if err := ack(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}
