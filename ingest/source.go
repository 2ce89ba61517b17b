package ingest

import "context"

// Source is where records come from: files, S3 objects listed or announced
// through SQS, CloudWatch Logs groups.
//
// Next returns the next batch of decoded events and an ack. The caller
// calls ack only after every event of the batch is durably accepted
// downstream (on the bus); only then may the source advance its durable
// checkpoint, delete a queue message or forget a file. A batch that is never
// acknowledged is read again after a restart, so delivery is at least once
// and downstream absorbs duplicates by Event.ID. Acks are called in the
// order the batches were returned.
//
// Next blocks until a batch is ready or ctx ends. A finite source (files,
// a backfill with an end) returns io.EOF when it has nothing more. Bad
// records are reported through the Handler.Bad the source was built with
// and never stop it.
type Source interface {
	Next(ctx context.Context) (events []*Event, ack func(context.Context) error, err error)
	Close() error
}
