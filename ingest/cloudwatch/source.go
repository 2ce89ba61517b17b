// Package cloudwatch follows CloudWatch Logs log groups with
// FilterLogEvents: EKS control-plane audit logs, auditd lines shipped by
// the CloudWatch agent, VPC flow logs and CloudTrail delivered to
// CloudWatch Logs.
//
// A source pages through FilterLogEvents while a nextToken is returned,
// even after pages without events, and hands each page's events out as one
// batch. Its checkpoint, saved when a batch is acknowledged, is the latest
// event timestamp acknowledged (milliseconds) together with the IDs of the
// acknowledged events of that very millisecond: the next query starts at
// that millisecond, inclusive, and skips those IDs, so events sharing the
// boundary millisecond are neither lost nor repeated. FilterLogEvents
// returns events in timestamp order, which this relies on.
//
// Throttling is retried by the SDK's retryer and, when that gives up, by
// the source itself with exponential backoff.
package cloudwatch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/checkpoint"
)

// API is the CloudWatch Logs call the source makes.
type API interface {
	FilterLogEvents(ctx context.Context, in *cwl.FilterLogEventsInput, opts ...func(*cwl.Options)) (*cwl.FilterLogEventsOutput, error)
}

// Defaults of Config.
const (
	DefaultPollInterval = 30 * time.Second
	DefaultDelay        = time.Minute
	DefaultLookback     = time.Hour
	DefaultPageLimit    = 1000
	DefaultMaxBackoff   = time.Minute
)

// Config configures a Source.
type Config struct {
	// Group is the log group, e.g. "/aws/eks/prod/cluster". Required.
	Group string
	// StreamPrefix limits the query to log streams with this prefix, e.g.
	// "kube-apiserver-audit-". Default: every stream.
	StreamPrefix string
	// Client calls CloudWatch Logs. Required.
	Client API
	// LogType is the log type of the messages (one of ingest.Types).
	// Required.
	LogType string
	// Decoder decodes the messages. Required.
	Decoder ingest.Decoder
	// Checkpoints keeps the position under CheckpointKey. Default: none,
	// nothing survives a restart.
	Checkpoints checkpoint.Store
	// CheckpointKey names the checkpoint. Default
	// "cloudwatch://Group?stream_prefix=StreamPrefix".
	CheckpointKey string
	// Since is where reading starts when there is no checkpoint. Default:
	// now minus Lookback.
	Since time.Time
	// Lookback is how far back a source without checkpoint and Since
	// starts. Default 1h.
	Lookback time.Duration
	// Until makes the source finite: events up to Until (exclusive) are
	// read, then Next returns io.EOF. Default: follow forever.
	Until time.Time
	// Delay keeps queries that far behind the clock, so that events
	// ingested a little after their timestamp are not skipped. Default 1m.
	Delay time.Duration
	// PollInterval is the pause between two queries that reached the end.
	// Default 30s.
	PollInterval time.Duration
	// PageLimit is the Limit of each FilterLogEvents call: the largest
	// batch. Default 1000.
	PageLimit int
	// MaxBackoff caps the wait between retries of a throttled or failing
	// call, after the SDK's own retries. Default 1m.
	MaxBackoff time.Duration
	// Bad receives malformed messages. Default: ignored.
	Bad func(*ingest.DecodeError)
	// Logger logs retries; nothing secret is logged. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx ends. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.Group == "":
		return errors.New("cloudwatch: no log group")
	case c.Client == nil:
		return errors.New("cloudwatch: no client")
	case c.Decoder == nil:
		return errors.New("cloudwatch: no decoder")
	case !slices.Contains(ingest.Types, c.LogType):
		return fmt.Errorf("cloudwatch: log type %q, want one of %s", c.LogType, strings.Join(ingest.Types, ", "))
	case c.PageLimit < 0 || c.PageLimit > 10000:
		return errors.New("cloudwatch: page limit must be within 1–10000")
	case c.Delay < 0, c.PollInterval < 0, c.Lookback < 0, c.MaxBackoff < 0:
		return errors.New("cloudwatch: negative duration")
	}
	return nil
}

func (c *Config) defaults() {
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Delay == 0 {
		c.Delay = DefaultDelay
	}
	if c.Lookback == 0 {
		c.Lookback = DefaultLookback
	}
	if c.PageLimit == 0 {
		c.PageLimit = DefaultPageLimit
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}
	if c.CheckpointKey == "" {
		c.CheckpointKey = "cloudwatch://" + c.Group + "?stream_prefix=" + c.StreamPrefix
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// state is the checkpoint: the latest acknowledged timestamp and the IDs of
// the acknowledged events that carry it.
type state struct {
	Millis int64    `json:"millis"`
	IDs    []string `json:"ids,omitempty"`
}

// Source follows one log group. It implements ingest.Source.
type Source struct {
	cfg Config

	mu   sync.Mutex // guards st, seen, read, readSeen and position
	st   state
	seen map[string]bool // st.IDs as a set
	// read and readSeen are where reading has got to: st moved by every
	// batch handed out rather than acknowledged. Queries start there, so
	// that a batch waiting for its ack is not read again by the next poll;
	// after a restart reading starts again at st.
	read     state
	readSeen map[string]bool
	held     []types.FilteredLogEvent
	position time.Time

	batches chan batch
	cancel  context.CancelFunc
	done    chan struct{}
}

type batch struct {
	events []*ingest.Event
	ack    func(context.Context) error
	err    error
}

var _ ingest.Source = (*Source)(nil)

// New returns a source; it loads its checkpoint and starts querying in the
// background. Close stops it.
func New(ctx context.Context, c Config) (*Source, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.defaults()
	s := &Source{cfg: c, batches: make(chan batch), done: make(chan struct{})}
	var b []byte
	if c.Checkpoints != nil {
		var err error
		if b, err = c.Checkpoints.Load(ctx, c.CheckpointKey); err != nil {
			return nil, fmt.Errorf("cloudwatch: %w", err)
		}
	}
	switch {
	case b != nil:
		if err := json.Unmarshal(b, &s.st); err != nil {
			return nil, fmt.Errorf("cloudwatch: checkpoint %s: %w", c.CheckpointKey, err)
		}
	case !c.Since.IsZero():
		s.st.Millis = c.Since.UnixMilli()
	default:
		s.st.Millis = c.Now().Add(-c.Lookback).UnixMilli()
	}
	s.seen = map[string]bool{}
	for _, id := range s.st.IDs {
		s.seen[id] = true
	}
	s.read, s.readSeen = s.st, maps.Clone(s.seen)
	if b == nil && c.Checkpoints != nil {
		// Remember where reading starts, so that a restart after a long
		// pause without any event still reads the time in between.
		if err := s.advance(ctx, s.st.Millis, nil); err != nil {
			return nil, err
		}
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	go s.run(runCtx)
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

// Close stops querying. Unacknowledged batches are read again after a
// restart.
func (s *Source) Close() error {
	s.cancel()
	<-s.done
	return nil
}

// Progress reports the timestamp reached; CloudWatch has no objects or
// bytes to count.
func (s *Source) Progress() (objects, bytes int64, position time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return 0, 0, s.position
}

func (s *Source) run(ctx context.Context) {
	defer close(s.done)
	defer close(s.batches)
	for ctx.Err() == nil {
		end := s.cfg.Now().Add(-s.cfg.Delay)
		final := !s.cfg.Until.IsZero() && !s.cfg.Until.After(end)
		if final {
			end = s.cfg.Until
		}
		if err := s.query(ctx, end); err != nil {
			if ctx.Err() != nil {
				return
			}
			final = false // not done: report, wait, query again
			select {
			case s.batches <- batch{err: err}:
			case <-ctx.Done():
				return
			}
		}
		if final || s.cfg.Sleep(ctx, s.cfg.PollInterval) != nil {
			return
		}
	}
}

// query pages through FilterLogEvents from the checkpoint to end.
func (s *Source) query(ctx context.Context, end time.Time) error {
	s.mu.Lock()
	start := s.read.Millis
	s.mu.Unlock()
	if end.UnixMilli() <= start {
		return nil
	}
	in := &cwl.FilterLogEventsInput{
		LogGroupName: aws.String(s.cfg.Group),
		StartTime:    aws.Int64(start),
		EndTime:      aws.Int64(end.UnixMilli() - 1),
		Limit:        aws.Int32(int32(s.cfg.PageLimit)),
	}
	if s.cfg.StreamPrefix != "" {
		in.LogStreamNamePrefix = aws.String(s.cfg.StreamPrefix)
	}
	backoff := time.Second
	for {
		out, err := s.cfg.Client.FilterLogEvents(ctx, in)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.cfg.Logger.Warn("cloudwatch: FilterLogEvents failed; retrying", "group", s.cfg.Group,
				"throttled", throttled(err), "backoff", backoff, "err", err)
			if !throttled(err) {
				select {
				case s.batches <- batch{err: fmt.Errorf("cloudwatch %s: %w", s.cfg.Group, err)}:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if err := s.cfg.Sleep(ctx, backoff); err != nil {
				return err
			}
			backoff = min(2*backoff, s.cfg.MaxBackoff)
			continue
		}
		backoff = time.Second
		if err := s.page(ctx, out.Events, out.NextToken != nil); err != nil {
			return err
		}
		if out.NextToken == nil {
			return nil
		}
		in.NextToken = out.NextToken
	}
}

// throttled reports whether err says the call rate was too high.
func throttled(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ThrottlingException", "Throttling", "RequestLimitExceeded", "TooManyRequestsException", "LimitExceededException":
			return true
		}
	}
	return false
}

// page decodes one page's new events and hands them out as a batch. With
// more pages to come, the trailing auditd lines of each stream that may
// continue on the next page are held back and decoded with it.
func (s *Source) page(ctx context.Context, events []types.FilteredLogEvent, more bool) error {
	s.mu.Lock()
	fresh := s.held
	s.held = nil
	for _, e := range events {
		ts := aws.ToInt64(e.Timestamp)
		if ts < s.read.Millis || (ts == s.read.Millis && s.readSeen[aws.ToString(e.EventId)]) {
			continue // before the read position (the query starts there), or handed out at it
		}
		fresh = append(fresh, e)
	}
	s.mu.Unlock()
	var held []types.FilteredLogEvent
	if more && s.cfg.LogType == ingest.TypeAuditd {
		fresh, held = holdBack(fresh)
	}
	s.mu.Lock()
	s.held = held
	s.mu.Unlock()
	if len(fresh) == 0 {
		return nil
	}
	evs, err := s.decode(ctx, fresh)
	if err != nil {
		return err
	}
	// The checkpoint after this batch: its latest timestamp and the IDs
	// carrying it (joined to the boundary IDs already held when it is the
	// same millisecond); with lines held back, no later than the earliest
	// of them, so that a restart reads them again.
	var last int64
	for _, e := range fresh {
		last = max(last, aws.ToInt64(e.Timestamp))
	}
	for _, e := range held {
		last = min(last, aws.ToInt64(e.Timestamp))
	}
	var ids []string
	for _, e := range fresh {
		if aws.ToInt64(e.Timestamp) == last {
			ids = append(ids, aws.ToString(e.EventId))
		}
	}
	ack := func(ctx context.Context) error { return s.advance(ctx, last, ids) }
	s.mu.Lock()
	s.readSeen = move(&s.read, s.readSeen, last, ids)
	s.mu.Unlock()
	select {
	case s.batches <- batch{events: evs, ack: ack}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var auditStamp = regexp.MustCompile(`msg=audit\(([0-9]+\.[0-9]+:[0-9]+)\)`)

// holdBack splits off, for each log stream, its last messages when they
// share the audit event stamp of the stream's last message: that event may
// go on in the next page.
func holdBack(events []types.FilteredLogEvent) (keep, held []types.FilteredLogEvent) {
	lastStamp := map[string]string{}
	for _, e := range events {
		lastStamp[aws.ToString(e.LogStreamName)] = stampOf(aws.ToString(e.Message))
	}
	for _, e := range events {
		st := lastStamp[aws.ToString(e.LogStreamName)]
		if st != "" && stampOf(aws.ToString(e.Message)) == st {
			held = append(held, e)
		} else {
			keep = append(keep, e)
		}
	}
	return keep, held
}

func stampOf(msg string) string {
	if m := auditStamp.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	return ""
}

// advance moves the checkpoint to millis with ids acknowledged, and saves
// it.
func (s *Source) advance(ctx context.Context, millis int64, ids []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if millis < s.st.Millis {
		return nil
	}
	s.seen = move(&s.st, s.seen, millis, ids)
	s.position = time.UnixMilli(millis).UTC()
	if s.cfg.Checkpoints == nil {
		return nil
	}
	b, err := json.Marshal(s.st)
	if err != nil {
		return err
	}
	return s.cfg.Checkpoints.Save(ctx, s.cfg.CheckpointKey, b)
}

// move advances st, whose IDs are the set seen, to millis with ids read
// there, and returns the new set; a millis before st changes nothing.
func move(st *state, seen map[string]bool, millis int64, ids []string) map[string]bool {
	switch {
	case millis > st.Millis:
		st.Millis = millis
		seen = map[string]bool{}
	case millis < st.Millis:
		return seen
	}
	for _, id := range ids {
		seen[id] = true
	}
	st.IDs = slices.Sorted(maps.Keys(seen))
	return seen
}

// streamURI names a log stream as events' Source.
func (s *Source) streamURI(stream string) string {
	return "cloudwatch://" + s.cfg.Group + "/" + stream
}

// decode turns CloudWatch events into vigil events. Each message is one
// record, decoded on its own under the name "cloudwatch://GROUP/STREAM#ID"
// so that IDs derived from the position are unique and stable; auditd
// messages of one stream are decoded together, because one audit event
// spans several lines (messages).
func (s *Source) decode(ctx context.Context, events []types.FilteredLogEvent) ([]*ingest.Event, error) {
	var out []*ingest.Event
	collect := func(stream string) ingest.Handler {
		return ingest.Handler{
			Event: func(e *ingest.Event) error {
				e.Source = s.streamURI(stream)
				out = append(out, e)
				return nil
			},
			Bad: s.cfg.Bad,
		}
	}
	if s.cfg.LogType == ingest.TypeAuditd {
		var order []string
		byStream := map[string]*bytes.Buffer{}
		for _, e := range events {
			st := aws.ToString(e.LogStreamName)
			b, ok := byStream[st]
			if !ok {
				b = &bytes.Buffer{}
				byStream[st] = b
				order = append(order, st)
			}
			b.WriteString(strings.TrimRight(aws.ToString(e.Message), "\n"))
			b.WriteByte('\n')
		}
		for _, st := range order {
			if err := s.cfg.Decoder.Decode(ctx, byStream[st], s.streamURI(st), collect(st)); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	for _, e := range events {
		st := aws.ToString(e.LogStreamName)
		src := s.streamURI(st) + "#" + aws.ToString(e.EventId)
		if err := s.cfg.Decoder.Decode(ctx, strings.NewReader(aws.ToString(e.Message)), src, collect(st)); err != nil {
			return nil, err
		}
	}
	return out, nil
}
