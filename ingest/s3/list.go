package s3

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/checkpoint"
)

// API is the subset of the S3 client the listing source calls.
type API interface {
	GetObjectAPI
	ListObjectsV2(ctx context.Context, in *awss3.ListObjectsV2Input, opts ...func(*awss3.Options)) (*awss3.ListObjectsV2Output, error)
}

// Defaults of Config.
const (
	DefaultLookback     = 24 * time.Hour
	DefaultPollInterval = time.Minute
	DefaultBatchSize    = 500
	DefaultRediscover   = time.Hour
)

// Config configures a listing Source.
type Config struct {
	// Bucket is the bucket to list. Required.
	Bucket string
	// Prefix is where the deliveries are, e.g. "AWSLogs/" or
	// "AWSLogs/o-abc123/111122223333/CloudTrail/". Default: the whole bucket.
	Prefix string
	// Client calls S3. Required.
	Client API
	// Decoder decodes every object. Required.
	Decoder ingest.Decoder
	// Limits caps record and decompressed sizes. Zero means the defaults.
	Limits ingest.Limits
	// LogType is the log type read (ingest.TypeCloudTrail or
	// ingest.TypeVPCFlow); the delivery folders of the other type
	// ("CloudTrail", "vpcflowlogs") are skipped. Default: none skipped.
	LogType string
	// Checkpoints keeps what was read under CheckpointKey. Default: none,
	// nothing survives a restart.
	Checkpoints checkpoint.Store
	// CheckpointKey names this source's checkpoint. Default
	// "s3://Bucket/Prefix".
	CheckpointKey string
	// Since is the first day read when there is no checkpoint (or the
	// checkpoint is older). Default: now minus Lookback.
	Since time.Time
	// Until makes the source finite: the days before Until (exclusive; the
	// day it falls in unless it is midnight) are read once, then Next
	// returns io.EOF. Default: follow new deliveries forever.
	Until time.Time
	// Once makes the source finite without a window of its own: it lists
	// once, up to today, reads every object not yet done, then Next
	// returns io.EOF. It keeps the following checkpoint (CheckpointKey
	// without a backfill suffix), so a later run, once or following, goes
	// on from there. vigil run reads listings this way. Default false.
	Once bool
	// Lookback is how far back late or back-filled deliveries are looked
	// for: days that ended less than Lookback ago are listed again on every
	// poll and their objects remembered by key. Default 24h.
	Lookback time.Duration
	// PollInterval is the pause between two listings when following.
	// Default 1m.
	PollInterval time.Duration
	// Rediscover is how often the folders below Prefix are walked again to
	// find new accounts, regions and undated objects; polls in between
	// list only the known dated folders' days. Default 1h.
	Rediscover time.Duration
	// BatchSize caps the events of one batch. Default 500.
	BatchSize int
	// Bad receives malformed records and damaged objects. Default: ignored.
	Bad func(*ingest.DecodeError)
	// Logger logs listing progress. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.Bucket == "":
		return errors.New("s3: no bucket")
	case c.Client == nil:
		return errors.New("s3: no client")
	case c.Decoder == nil:
		return errors.New("s3: no decoder")
	case c.Lookback < 0, c.PollInterval < 0, c.BatchSize < 0, c.Rediscover < 0:
		return errors.New("s3: negative lookback, poll interval, rediscovery interval or batch size")
	case !c.Until.IsZero() && !c.Since.IsZero() && c.Until.Before(c.Since):
		return errors.New("s3: until is before since")
	}
	return nil
}

func (c *Config) defaults() {
	if c.Lookback == 0 {
		c.Lookback = DefaultLookback
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Rediscover == 0 {
		c.Rediscover = DefaultRediscover
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.CheckpointKey == "" {
		c.CheckpointKey = "s3://" + c.Bucket + "/" + c.Prefix
	}
}

// state is the checkpoint: reading started on day Start; every day up to
// Through is done; Done holds the keys read in later days, with their day.
type state struct {
	Start   time.Time            `json:"start,omitzero"`
	Through time.Time            `json:"through,omitzero"`
	Done    map[string]time.Time `json:"done,omitempty"`
}

// Source lists a bucket prefix laid out like CloudTrail or VPC flow log
// deliveries and reads each new object once per checkpoint. It implements
// ingest.Source.
type Source struct {
	cfg    Config
	reader *ObjectReader
	ledger *Ledger
	st     state // guarded by ledger

	batches chan batch
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once

	mu       sync.Mutex
	position time.Time // the day being read

	// The folder walk's result, used by the polls until Rediscover passed;
	// only the run goroutine touches them.
	leaves   []leaf
	flat     []flatObject
	walkedAt time.Time
}

type batch struct {
	events []*ingest.Event
	ack    func(context.Context) error
	err    error
}

var _ ingest.Source = (*Source)(nil)

// New returns a listing source; it loads its checkpoint and starts listing
// in the background. Close stops it.
func New(ctx context.Context, c Config) (*Source, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.defaults()
	s := &Source{
		cfg:     c,
		reader:  &ObjectReader{Client: c.Client, Decoder: c.Decoder, Limits: c.Limits},
		batches: make(chan batch),
		done:    make(chan struct{}),
	}
	s.ledger = NewLedger(s.save)
	if c.Checkpoints != nil {
		b, err := c.Checkpoints.Load(ctx, c.CheckpointKey)
		if err != nil {
			return nil, fmt.Errorf("s3: %w", err)
		}
		if b != nil {
			if err := json.Unmarshal(b, &s.st); err != nil {
				return nil, fmt.Errorf("s3: checkpoint %s: %w", c.CheckpointKey, err)
			}
		}
	}
	if s.st.Done == nil {
		s.st.Done = map[string]time.Time{}
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

// Close stops the listing. Unacknowledged batches are read again after a
// restart.
func (s *Source) Close() error {
	s.once.Do(s.cancel)
	<-s.done
	return nil
}

// Progress returns the objects and compressed bytes read so far and the
// day being read, for progress reports.
func (s *Source) Progress() (objects, bytes int64, position time.Time) {
	o, b := s.reader.Progress()
	s.mu.Lock()
	defer s.mu.Unlock()
	return o, b, s.position
}

func (s *Source) save(ctx context.Context) error {
	if s.cfg.Checkpoints == nil {
		return nil
	}
	b, err := json.Marshal(s.st)
	if err != nil {
		return err
	}
	return s.cfg.Checkpoints.Save(ctx, s.cfg.CheckpointKey, b)
}

// run lists and reads until ctx ends or, with Until or Once, the window
// is read.
func (s *Source) run(ctx context.Context) {
	defer close(s.done)
	defer close(s.batches)
	for {
		err := s.poll(ctx)
		if err != nil && ctx.Err() == nil {
			select {
			case s.batches <- batch{err: err}:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil || (err == nil && (!s.cfg.Until.IsZero() || s.cfg.Once)) {
			return
		}
		select {
		case <-time.After(s.cfg.PollInterval):
		case <-ctx.Done():
			return
		}
	}
}

// day truncates t to its UTC day.
func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// poll lists the window once and reads every object not yet done, day by
// day.
func (s *Source) poll(ctx context.Context) error {
	now := s.cfg.Now()
	var from time.Time
	first := false
	s.ledger.Lock(func() {
		switch {
		case !s.st.Through.IsZero():
			from = s.st.Through.AddDate(0, 0, 1)
		case !s.st.Start.IsZero():
			from = s.st.Start // started, no day done yet: resume at the start
		case !s.cfg.Since.IsZero():
			from, first = day(s.cfg.Since), true
		default:
			from, first = day(now.Add(-s.cfg.Lookback)), true
		}
		if !s.cfg.Since.IsZero() && day(s.cfg.Since).After(from) {
			from = day(s.cfg.Since)
		}
	})
	if first {
		// Remember where reading started, so that a restart after a long
		// pause still reads the days in between.
		if err := s.ledger.Do(ctx, func(context.Context) error { s.st.Start = from; return nil }); err != nil {
			return err
		}
	}
	to := day(now)
	if last := day(s.cfg.Until.Add(-time.Nanosecond)); !s.cfg.Until.IsZero() && last.Before(to) {
		to = last // Until is exclusive: a midnight Until ends with the day before
	}
	if s.walkedAt.IsZero() || now.Sub(s.walkedAt) >= s.cfg.Rediscover {
		leaves, flat, err := s.walk(ctx)
		if err != nil {
			return err
		}
		s.leaves, s.flat, s.walkedAt = leaves, flat, now
		s.cfg.Logger.Debug("s3 folders walked", "bucket", s.cfg.Bucket, "prefix", s.cfg.Prefix,
			"dated_folders", len(leaves), "undated_objects", len(flat))
	}
	leaves, flat := s.leaves, s.flat
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		s.mu.Lock()
		s.position = d
		s.mu.Unlock()
		keys, err := s.dayKeys(ctx, leaves, flat, d)
		if err != nil {
			return err
		}
		for _, k := range keys {
			var done bool
			s.ledger.Lock(func() { _, done = s.st.Done[k] })
			if done {
				continue
			}
			if err := s.object(ctx, k, d); err != nil {
				return err
			}
		}
		if end := d.AddDate(0, 0, 1); !end.After(now.Add(-s.cfg.Lookback)) {
			if err := s.ledger.Do(ctx, func(context.Context) error { s.collapse(d); return nil }); err != nil {
				return err
			}
		}
	}
	return nil
}

// collapse marks every day up to d done and forgets their keys. Callers
// hold the ledger.
func (s *Source) collapse(d time.Time) {
	if !d.After(s.st.Through) {
		return
	}
	s.st.Through = d
	for k, kd := range s.st.Done {
		if !kd.After(d) {
			delete(s.st.Done, k)
		}
	}
}

// object reads one object in batches; the last batch's ack marks it done.
func (s *Source) object(ctx context.Context, key string, d time.Time) error {
	evs := make([]*ingest.Event, 0, s.cfg.BatchSize)
	send := func() error {
		b := batch{events: evs, ack: s.ledger.Emit()}
		select {
		case s.batches <- b:
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
	if err := s.reader.Read(ctx, s.cfg.Bucket, key, h); err != nil {
		return err
	}
	if len(evs) > 0 {
		if err := send(); err != nil {
			return err
		}
	}
	return s.ledger.Do(ctx, func(context.Context) error { s.st.Done[key] = d; return nil })
}

// Keys that are never log deliveries: CloudTrail digest files (also under
// their own CloudTrail-Digest folder) and S3 folder markers.
func skipKey(key string) bool {
	return strings.Contains(key, "CloudTrail-Digest") || strings.HasSuffix(key, "/")
}

// skipFolder reports whether a folder holds no deliveries of log type typ:
// digest folders always, another log type's delivery folder.
func skipFolder(name, typ string) bool {
	switch name {
	case "CloudTrail-Digest":
		return true
	case "CloudTrail", "CloudTrail-Insight", "aws-service=cloudtrail":
		return typ == ingest.TypeVPCFlow
	case "vpcflowlogs", "aws-service=vpcflowlogs":
		return typ == ingest.TypeCloudTrail
	}
	return false
}

var (
	yearDir     = regexp.MustCompile(`^[0-9]{4}$`)
	hiveYearDir = regexp.MustCompile(`^year=[0-9]{4}$`)
)

// leaf is a folder whose sub-folders are dates: plain "YYYY/MM/DD/" or
// Hive-style "year=YYYY/month=MM/day=DD/".
type leaf struct {
	prefix string
	hive   bool
}

func (l leaf) day(d time.Time) string {
	if l.hive {
		return fmt.Sprintf("%syear=%04d/month=%02d/day=%02d/", l.prefix, d.Year(), d.Month(), d.Day())
	}
	return fmt.Sprintf("%s%04d/%02d/%02d/", l.prefix, d.Year(), d.Month(), d.Day())
}

// flatObject is an object outside any dated folder; its day is its
// LastModified day.
type flatObject struct {
	key string
	day time.Time
}

// maxDepth bounds the folder walk below the prefix (AWSLogs/o-org/account/
// CloudTrail/region is five levels).
const maxDepth = 8

// walk finds the dated folders below the prefix, skipping digest folders,
// and the objects that are in no dated folder.
func (s *Source) walk(ctx context.Context) ([]leaf, []flatObject, error) {
	var leaves []leaf
	var flat []flatObject
	var visit func(prefix string, depth int) error
	visit = func(prefix string, depth int) error {
		var subs []string
		dated, hive := false, false
		err := s.list(ctx, prefix, "/", func(o objectInfo) {
			if !skipKey(o.key) {
				flat = append(flat, flatObject{key: o.key, day: day(o.modified)})
			}
		}, func(p string) {
			name := strings.TrimSuffix(strings.TrimPrefix(p, prefix), "/")
			switch {
			case yearDir.MatchString(name):
				dated = true
			case hiveYearDir.MatchString(name):
				hive = true
			case skipFolder(name, s.cfg.LogType):
			default:
				subs = append(subs, p)
			}
		})
		if err != nil {
			return err
		}
		if dated || hive {
			leaves = append(leaves, leaf{prefix: prefix, hive: hive && !dated})
			return nil
		}
		if depth >= maxDepth {
			return nil
		}
		for _, p := range subs {
			if err := visit(p, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return leaves, flat, visit(s.cfg.Prefix, 0)
}

// dayKeys returns the sorted keys of day d: everything below each leaf's
// folder of that day, and the flat objects last modified that day.
func (s *Source) dayKeys(ctx context.Context, leaves []leaf, flat []flatObject, d time.Time) ([]string, error) {
	var keys []string
	for _, l := range leaves {
		err := s.list(ctx, l.day(d), "", func(o objectInfo) {
			if !skipKey(o.key) {
				keys = append(keys, o.key)
			}
		}, nil)
		if err != nil {
			return nil, err
		}
	}
	for _, f := range flat {
		if f.day.Equal(d) {
			keys = append(keys, f.key)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys), nil
}

type objectInfo struct {
	key      string
	modified time.Time
}

// list pages through ListObjectsV2.
func (s *Source) list(ctx context.Context, prefix, delim string, obj func(objectInfo), sub func(string)) error {
	in := &awss3.ListObjectsV2Input{Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(prefix)}
	if delim != "" {
		in.Delimiter = aws.String(delim)
	}
	p := awss3.NewListObjectsV2Paginator(s.cfg.Client, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("s3: list s3://%s/%s: %w", s.cfg.Bucket, prefix, err)
		}
		for _, o := range out.Contents {
			obj(objectInfo{key: aws.ToString(o.Key), modified: aws.ToTime(o.LastModified)})
		}
		if sub != nil {
			for _, cp := range out.CommonPrefixes {
				sub(aws.ToString(cp.Prefix))
			}
		}
	}
	return nil
}
