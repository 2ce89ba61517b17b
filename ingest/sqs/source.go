package sqs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/s3"
)

// API is the subset of the SQS client the source calls.
type API interface {
	ReceiveMessage(ctx context.Context, in *awssqs.ReceiveMessageInput, opts ...func(*awssqs.Options)) (*awssqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *awssqs.DeleteMessageInput, opts ...func(*awssqs.Options)) (*awssqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *awssqs.ChangeMessageVisibilityInput, opts ...func(*awssqs.Options)) (*awssqs.ChangeMessageVisibilityOutput, error)
}

// Defaults of Config.
const (
	DefaultWaitTime    = 20 * time.Second
	DefaultVisibility  = 5 * time.Minute
	DefaultBatchSize   = 500
	DefaultMaxMessages = 10
)

// Config configures a notification Source.
type Config struct {
	// QueueURL is the queue's URL. Required.
	QueueURL string
	// Client calls SQS. Required.
	Client API
	// Objects reads the announced objects. Required.
	Objects *s3.ObjectReader
	// ObjectRegions fetches each object from the region its notification
	// names (buckets of several regions announced on one queue). Default
	// false: the S3 client's region, as needed with a custom endpoint.
	ObjectRegions bool
	// WaitTime is the long-polling wait of ReceiveMessage. Default 20s.
	WaitTime time.Duration
	// Visibility is how long a message stays hidden from other consumers:
	// set on receipt and extended every Visibility/2 until the message is
	// deleted, so a large object is never read twice at once. Default 5m.
	Visibility time.Duration
	// MaxMessages is how many messages one ReceiveMessage fetches (1–10).
	// Default 10.
	MaxMessages int
	// BatchSize caps the events of one batch. Default 500.
	BatchSize int
	// Bad receives malformed records, damaged objects and messages that
	// are not S3 notifications. Default: ignored.
	Bad func(*ingest.DecodeError)
	// Logger logs what the source does; nothing secret is logged.
	// Default: discard.
	Logger *slog.Logger
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.QueueURL == "":
		return errors.New("sqs: no queue URL")
	case c.Client == nil:
		return errors.New("sqs: no client")
	case c.Objects == nil:
		return errors.New("sqs: no object reader")
	case c.WaitTime < 0 || c.WaitTime > 20*time.Second:
		return errors.New("sqs: wait time must be within 0–20s")
	case c.Visibility < 0 || (c.Visibility > 0 && c.Visibility < time.Second):
		return errors.New("sqs: visibility must be at least 1s")
	case c.MaxMessages < 0 || c.MaxMessages > 10:
		return errors.New("sqs: max messages must be within 1–10")
	case c.BatchSize < 0:
		return errors.New("sqs: negative batch size")
	}
	return nil
}

func (c *Config) defaults() {
	if c.WaitTime == 0 {
		c.WaitTime = DefaultWaitTime
	}
	if c.Visibility == 0 {
		c.Visibility = DefaultVisibility
	}
	if c.MaxMessages == 0 {
		c.MaxMessages = DefaultMaxMessages
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Source reads the objects announced on an SQS queue. It implements
// ingest.Source; it never ends on its own.
type Source struct {
	cfg    Config
	ledger *s3.Ledger

	batches chan batch
	cancel  context.CancelFunc
	done    chan struct{}
	wg      sync.WaitGroup // visibility keepers
}

type batch struct {
	events []*ingest.Event
	ack    func(context.Context) error
	err    error
}

var _ ingest.Source = (*Source)(nil)

// New returns a source and starts receiving in the background. Close stops
// it.
func New(c Config) (*Source, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Source{cfg: c, ledger: s3.NewLedger(nil), batches: make(chan batch), cancel: cancel, done: make(chan struct{})}
	go s.run(ctx)
	return s, nil
}

// Next returns the next batch of events; see ingest.Source.
func (s *Source) Next(ctx context.Context) ([]*ingest.Event, func(context.Context) error, error) {
	select {
	case b, ok := <-s.batches:
		if !ok {
			return nil, nil, io.EOF
		}
		return b.events, b.ack, b.err
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// Close stops receiving. Messages not yet deleted become visible again when
// their visibility timeout ends and are read again.
func (s *Source) Close() error {
	s.cancel()
	<-s.done
	s.wg.Wait()
	return nil
}

// Progress returns the objects and compressed bytes read so far.
func (s *Source) Progress() (objects, bytes int64, position time.Time) {
	o, b := s.cfg.Objects.Progress()
	return o, b, time.Time{}
}

func (s *Source) run(ctx context.Context) {
	defer close(s.done)
	defer close(s.batches)
	backoff := time.Second
	for ctx.Err() == nil {
		out, err := s.cfg.Client.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{
			QueueUrl:            aws.String(s.cfg.QueueURL),
			MaxNumberOfMessages: int32(s.cfg.MaxMessages),
			WaitTimeSeconds:     int32(s.cfg.WaitTime / time.Second),
			VisibilityTimeout:   int32(s.cfg.Visibility / time.Second),
		})
		if err == nil {
			backoff = time.Second
			// Every message received is kept hidden from the start: the
			// later ones wait while the earlier ones' objects are read.
			stops := make([]func(), len(out.Messages))
			for i, m := range out.Messages {
				stops[i] = s.keepHidden(ctx, m.ReceiptHandle)
			}
			for i, m := range out.Messages {
				if err == nil {
					err = s.message(ctx, m, stops[i])
				}
				if err != nil {
					stops[i]()
				}
			}
		}
		if err == nil || ctx.Err() != nil {
			continue
		}
		select {
		case s.batches <- batch{err: err}:
		case <-ctx.Done():
			return
		}
		select {
		case <-time.After(backoff):
			backoff = min(2*backoff, time.Minute)
		case <-ctx.Done():
		}
	}
}

// message reads every object a message announces and arranges for the
// message's deletion once their events are acknowledged.
func (s *Source) message(ctx context.Context, m types.Message, stop func()) error {
	name := s.cfg.QueueURL + "#" + aws.ToString(m.MessageId)
	objs, err := Parse([]byte(aws.ToString(m.Body)))
	if err != nil {
		// Left in the queue: its redrive policy moves it aside eventually.
		stop()
		if s.cfg.Bad != nil {
			s.cfg.Bad(&ingest.DecodeError{Source: name, Offset: -1, Err: err})
		}
		return nil
	}
	for _, o := range objs {
		if s3.SkipKey(o.Key) {
			continue
		}
		if err := s.object(ctx, o); err != nil {
			return err
		}
	}
	return s.ledger.Do(ctx, func(ctx context.Context) error {
		stop()
		_, err := s.cfg.Client.DeleteMessage(ctx, &awssqs.DeleteMessageInput{
			QueueUrl: aws.String(s.cfg.QueueURL), ReceiptHandle: m.ReceiptHandle})
		if err != nil {
			return fmt.Errorf("sqs: delete %s: %w", name, err)
		}
		return nil
	})
}

// object reads one object in batches.
func (s *Source) object(ctx context.Context, o Object) error {
	evs := make([]*ingest.Event, 0, s.cfg.BatchSize)
	send := func() error {
		select {
		case s.batches <- batch{events: evs, ack: s.ledger.Emit()}:
		case <-ctx.Done():
			return ctx.Err()
		}
		evs = make([]*ingest.Event, 0, s.cfg.BatchSize)
		return nil
	}
	h := ingest.Handler{
		Event: func(e *ingest.Event) error {
			evs = append(evs, e)
			if len(evs) >= s.cfg.BatchSize {
				return send()
			}
			return nil
		},
		Bad: s.cfg.Bad,
	}
	var opts []func(*awss3.Options)
	if s.cfg.ObjectRegions && o.Region != "" {
		opts = append(opts, func(so *awss3.Options) { so.Region = o.Region })
	}
	if err := s.cfg.Objects.Read(ctx, o.Bucket, o.Key, h, opts...); err != nil {
		return err
	}
	if len(evs) > 0 {
		return send()
	}
	return nil
}

// keepHidden extends the message's visibility every Visibility/2 until the
// returned stop is called or ctx ends.
func (s *Source) keepHidden(ctx context.Context, receipt *string) (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	s.wg.Go(func() {
		t := time.NewTicker(s.cfg.Visibility / 2)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_, err := s.cfg.Client.ChangeMessageVisibility(ctx, &awssqs.ChangeMessageVisibilityInput{
					QueueUrl: aws.String(s.cfg.QueueURL), ReceiptHandle: receipt,
					VisibilityTimeout: int32(s.cfg.Visibility / time.Second)})
				if err != nil && ctx.Err() == nil {
					s.cfg.Logger.Warn("sqs: extending visibility failed", "queue", s.cfg.QueueURL, "err", err)
				}
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	})
	return func() { once.Do(func() { close(done) }) }
}
