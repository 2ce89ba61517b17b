package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/awsconf"
	"github.com/vigilsec/vigil/ingest/checkpoint"
	"github.com/vigilsec/vigil/ingest/cloudwatch"
	"github.com/vigilsec/vigil/ingest/s3"
	"github.com/vigilsec/vigil/ingest/sqs"
	"github.com/vigilsec/vigil/storage/kafka"
)

// openAWSSource opens an AWS source by its URL: s3://BUCKET/PREFIX?type=…
// (listing), sqs://QUEUE-URL-WITHOUT-SCHEME?type=…, sqs+https://… and
// sqs+http://… (S3 notifications), cloudwatch://LOG-GROUP?type=… (CloudWatch
// Logs). ok is false when the URL's scheme is none of these.
func openAWSSource(ctx context.Context, rawURL string, o s3.Options) (src ingest.Source, ok bool, err error) {
	scheme, _, _ := strings.Cut(rawURL, "://")
	switch scheme {
	case "s3":
		src, err = s3.Open(ctx, rawURL, o)
	case "sqs", "sqs+https", "sqs+http":
		src, err = sqs.Open(ctx, rawURL, o)
	case "cloudwatch":
		src, err = cloudwatch.Open(ctx, rawURL, o)
	default:
		return nil, false, nil
	}
	return src, true, err
}

// checkpointsOnBus is the --checkpoints value that keeps the checkpoints
// in Kafka, on the topic kafka.DefaultCheckpointTopic of the bus.
const checkpointsOnBus = "kafka://"

// busCheckpoints opens the checkpoint store of vigil ingest --bus named
// by spec: kafka:// is the compacted topic vigil.checkpoints on the bus,
// kafka://TOPIC another topic there, anything else a local directory, and
// "" none (nil). Without AWS sources among sources it opens none either.
// A Kafka store is an io.Closer.
func busCheckpoints(ctx context.Context, cfg kafka.Config, spec string, sources []string) (checkpoint.Store, error) {
	topic, onBus := strings.CutPrefix(spec, checkpointsOnBus)
	switch {
	case spec == "" || !slices.ContainsFunc(sources, awsScheme):
		return nil, nil
	case onBus && strings.ContainsAny(topic, "/?#:@"):
		return nil, fmt.Errorf("--checkpoints %q: want kafka:// or kafka://TOPIC (the topic is on the bus)", spec)
	case onBus:
		s, err := kafka.OpenCheckpoints(ctx, cfg, topic)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	d, err := checkpoint.NewDir(spec)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// progresser is what the AWS sources report for progress lines.
type progresser interface {
	Progress() (objects, bytes int64, position time.Time)
}

// runIngest reads AWS sources and writes their events to stdout as NDJSON
// (or only counts them). Every batch is acknowledged, and so checkpointed,
// after it was written and flushed. With --until the sources are finite
// (a backfill) and the command ends when they are read; without it, it
// follows new logs until interrupted.
func runIngest(ctx context.Context, args []string, s stdio) error {
	fl := newFlags("ingest", s.err,
		"usage: vigil ingest --source URL [--source URL]... [--since T] [--until T] [--output ndjson|count]")
	var sources stringList
	fl.Var(&sources, "source", "s3://BUCKET/PREFIX?type=…, sqs://QUEUE-URL?type=…, cloudwatch://LOG-GROUP?type=… (repeatable)")
	since := fl.String("since", "", "start of the window: 2006-01-02 or RFC 3339; default: the checkpoint, else the source's lookback")
	until := fl.String("until", "", "end of the window (exclusive), same forms; makes the run a finite backfill")
	ckpt := fl.String("checkpoints", "vigil-data/checkpoints", "directory of durable checkpoints; empty: none")
	output := fl.String("output", "ndjson", "ndjson: one event object per line on stdout; count: only the summary")
	progress := fl.String("progress", "auto", "auto: a progress bar on a terminal, plain lines otherwise; plain; none")
	every := fl.Duration("progress-every", 10*time.Second, "interval of plain progress lines")
	maxShown := fl.Int("show-errors", 20, "how many bad records to print (all are counted)")
	verbose := fl.Bool("v", false, "log source setup and retries to stderr")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if len(sources) == 0 || fl.NArg() > 0 {
		fl.Usage()
		return exitError(2)
	}
	if *output != "ndjson" && *output != "count" {
		return fmt.Errorf("--output must be ndjson or count, not %q", *output)
	}
	if *progress != "auto" && *progress != "plain" && *progress != "none" {
		return fmt.Errorf("--progress must be auto, plain or none, not %q", *progress)
	}
	var o s3.Options
	var err error
	if o.Since, err = parseWhen(*since); err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	if o.Until, err = parseWhen(*until); err != nil {
		return fmt.Errorf("--until: %w", err)
	}
	if !o.Since.IsZero() && !o.Until.IsZero() && !o.Until.After(o.Since) {
		return errors.New("--until must be after --since")
	}
	if *ckpt != "" {
		if o.Checkpoints, err = checkpoint.NewDir(*ckpt); err != nil {
			return err
		}
	}
	if *verbose {
		o.Logger = slog.New(slog.NewTextHandler(s.err, nil))
	}
	in := &ingestRun{out: bufio.NewWriterSize(s.out, 256<<10), ndjson: *output == "ndjson", errw: s.err, maxShown: *maxShown}
	o.Bad = in.bad

	var opened []ingest.Source
	defer func() {
		for _, src := range opened {
			_ = src.Close() // stops background reads; unacked batches are read again next time
		}
	}()
	for _, u := range sources {
		src, ok, err := openAWSSource(ctx, u, o)
		if !ok {
			return fmt.Errorf("--source %q: vigil ingest reads s3://, sqs://, sqs+https:// and cloudwatch:// sources", awsconf.RedactURL(u))
		}
		if err != nil {
			return err
		}
		opened = append(opened, src)
	}

	start := time.Now()
	stop := in.startProgress(ctx, opened, o.Since, o.Until, start, *progress, *every)
	errc := make(chan error, len(opened))
	for _, src := range opened {
		go func() { errc <- in.drain(ctx, src) }()
	}
	var first error
	for range opened {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	stop()
	fmt.Fprintf(s.err, "ingest: %d events, %d bad records in %s\n", in.events.Load(), in.bads.Load(),
		time.Since(start).Round(time.Millisecond))
	if first != nil && !errors.Is(first, context.Canceled) {
		return first
	}
	return nil
}

// parseWhen reads a date (UTC midnight) or an RFC 3339 time; "" is zero.
func parseWhen(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want 2006-01-02 or 2006-01-02T15:04:05Z", v)
	}
	return t.UTC(), nil
}

// ingestRun writes the events of several sources to one output.
type ingestRun struct {
	mu       sync.Mutex // guards out and shown
	out      *bufio.Writer
	ndjson   bool
	errw     io.Writer
	maxShown int
	shown    int

	events, bads atomic.Int64
}

// ndjsonEvent is the line written for each event.
type ndjsonEvent struct {
	ID     string            `json:"event_id"`
	Type   string            `json:"log_type"`
	Time   time.Time         `json:"time"`
	Source string            `json:"source"`
	Norm   ingest.Normalized `json:"norm"`
	Fields map[string]any    `json:"fields"`
}

func (in *ingestRun) bad(e *ingest.DecodeError) {
	in.bads.Add(1)
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.shown < in.maxShown {
		in.shown++
		fmt.Fprintf(in.errw, "ingest: bad record: %v\n", e)
	}
}

// drain writes src's batches until it ends or ctx does, acknowledging each
// batch after it was written and flushed.
func (in *ingestRun) drain(ctx context.Context, src ingest.Source) error {
	failed := func(err error) {
		in.mu.Lock()
		defer in.mu.Unlock()
		fmt.Fprintf(in.errw, "ingest: %v\n", err) // the source retries the call itself
	}
	return drainSource(ctx, src, failed, func(ctx context.Context, evs []*ingest.Event, ack func(context.Context) error) error {
		if err := in.write(evs); err != nil {
			return err
		}
		in.events.Add(int64(len(evs)))
		return ackNow(ctx, ack)
	})
}

func (in *ingestRun) write(evs []*ingest.Event) error {
	if !in.ndjson {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	enc := json.NewEncoder(in.out)
	for _, e := range evs {
		if err := enc.Encode(ndjsonEvent{ID: e.ID, Type: e.Type, Time: e.Time, Source: e.Source, Norm: e.Norm, Fields: e.Fields}); err != nil {
			return err
		}
	}
	return in.out.Flush()
}

// startProgress reports progress on stderr until the returned stop is
// called: a bar redrawn in place on a terminal (mode auto), plain lines
// every interval otherwise (auto off a terminal, or plain).
func (in *ingestRun) startProgress(ctx context.Context, srcs []ingest.Source, since, until, start time.Time,
	mode string, every time.Duration) (stop func()) {
	if mode == "none" {
		return func() {}
	}
	tty := mode == "auto" && isTerminal(in.errw)
	interval := every
	if tty {
		interval = 500 * time.Millisecond
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				line, done := in.progressLine(srcs, since, until, start)
				in.mu.Lock()
				if tty {
					fmt.Fprintf(in.errw, "\r\033[K%s%s", bar(done), line)
				} else {
					fmt.Fprintln(in.errw, "ingest: "+line)
				}
				in.mu.Unlock()
			case <-done:
				if tty {
					fmt.Fprint(in.errw, "\r\033[K")
				}
				return
			case <-ctx.Done():
				return
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// progressLine formats objects, bytes, events/s and, for a bounded
// backfill, the position reached and the ETA extrapolated from it; done is
// the fraction of the window read, or -1 when unknown.
func (in *ingestRun) progressLine(srcs []ingest.Source, since, until, start time.Time) (line string, done float64) {
	var objects, bytes int64
	var pos time.Time
	for _, s := range srcs {
		if p, ok := s.(progresser); ok {
			o, b, at := p.Progress()
			objects += o
			bytes += b
			if !at.IsZero() && (pos.IsZero() || at.Before(pos)) {
				pos = at
			}
		}
	}
	elapsed := time.Since(start)
	n := in.events.Load()
	line = fmt.Sprintf("%d objects, %.1f MB, %d events (%.0f/s)", objects, float64(bytes)/1e6, n,
		float64(n)/max(elapsed.Seconds(), 0.001))
	done = -1
	if !pos.IsZero() {
		line += ", at " + pos.Format(time.DateTime)
	}
	if !since.IsZero() && !until.IsZero() && pos.After(since) {
		f := pos.Sub(since).Seconds() / until.Sub(since).Seconds()
		if f > 0 && f < 1 {
			done = f
			eta := time.Duration(float64(elapsed) * (1 - f) / f)
			line += fmt.Sprintf(", %.0f%%, ETA %s", f*100, eta.Round(time.Second))
		}
	}
	return line, done
}

// bar draws done (0–1) as a 20-cell bar; nothing when done is unknown.
func bar(done float64) string {
	if done < 0 {
		return ""
	}
	n := int(done * 20)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", 20-n) + "] "
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
