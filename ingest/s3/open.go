package s3

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/awsconf"
	"github.com/vigilsec/vigil/ingest/checkpoint"
	"github.com/vigilsec/vigil/ingest/logtype"
)

// Options are what a source URL does not say: where checkpoints go, the
// backfill window, where bad records are reported.
type Options struct {
	// Checkpoints keeps the source's progress. Default: none. A bounded
	// backfill (Until set) keeps its own checkpoint (see BackfillKey). The
	// SQS source needs none: the queue is its checkpoint.
	Checkpoints checkpoint.Store
	// Since and Until bound a backfill; see Config.
	Since, Until time.Time
	// Once makes a listing (s3://) read what the prefix holds now, once,
	// then end; see Config.Once. SQS and CloudWatch sources ignore it.
	// Default false: follow new deliveries.
	Once bool
	// Limits caps record and decompressed sizes.
	Limits ingest.Limits
	// Bad receives malformed records and damaged objects.
	Bad func(*ingest.DecodeError)
	// Logger logs progress; nothing secret is logged.
	Logger *slog.Logger
}

// Open returns a listing source for a URL of the form
//
//	s3://BUCKET/PREFIX?type=cloudtrail|vpcflow[&lookback=24h][&poll=1m][&rediscover=1h]
//	    [&region=R][&endpoint=URL&path_style=true][&role_arn=ARN[&external_id=X]][&profile=P]
func Open(ctx context.Context, rawURL string, o Options) (*Source, error) {
	u, err := awsconf.ParseURL("s3", rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "s3" || u.Host == "" {
		return nil, fmt.Errorf("s3 source %q: want s3://BUCKET/PREFIX?type=…", awsconf.RedactURL(rawURL))
	}
	q := u.Query()
	typ := q.Get("type")
	if typ != ingest.TypeCloudTrail && typ != ingest.TypeVPCFlow {
		return nil, fmt.Errorf("s3 source %q: type=%q, want cloudtrail or vpcflow", awsconf.RedactURL(rawURL), typ)
	}
	c := Config{
		Bucket:        u.Host,
		Prefix:        strings.TrimPrefix(u.Path, "/"),
		Limits:        o.Limits,
		LogType:       typ,
		Checkpoints:   o.Checkpoints,
		CheckpointKey: "s3://" + u.Host + u.Path + "?type=" + typ + BackfillKey(o.Since, o.Until),
		Since:         o.Since,
		Until:         o.Until,
		Once:          o.Once,
		Bad:           o.Bad,
		Logger:        o.Logger,
	}
	if c.Lookback, err = durationParam(q, "lookback"); err != nil {
		return nil, fmt.Errorf("s3 source %q: %w", awsconf.RedactURL(rawURL), err)
	}
	if c.PollInterval, err = durationParam(q, "poll"); err != nil {
		return nil, fmt.Errorf("s3 source %q: %w", awsconf.RedactURL(rawURL), err)
	}
	if c.Rediscover, err = durationParam(q, "rediscover"); err != nil {
		return nil, fmt.Errorf("s3 source %q: %w", awsconf.RedactURL(rawURL), err)
	}
	if err := KnownParams(q, "type", "lookback", "poll", "rediscover"); err != nil {
		return nil, fmt.Errorf("s3 source %q: %w", awsconf.RedactURL(rawURL), err)
	}
	ao, err := awsconf.FromQuery(q)
	if err != nil {
		return nil, fmt.Errorf("s3 source %q: %w", awsconf.RedactURL(rawURL), err)
	}
	if c.Client, err = NewClient(ctx, ao); err != nil {
		return nil, fmt.Errorf("s3 source %q: %w", awsconf.RedactURL(rawURL), err)
	}
	decs, err := logtype.Decoders(logtype.Config{Limits: o.Limits})
	if err != nil {
		return nil, err
	}
	c.Decoder = decs[typ]
	if c.Logger != nil {
		c.Logger.Info("s3 source", "bucket", c.Bucket, "prefix", c.Prefix, "type", typ, "aws", ao)
	}
	return New(ctx, c)
}

// BackfillKey returns what a bounded backfill (until set) appends to a
// source's checkpoint key, so that reading history neither skips nor
// disturbs what the same source records while following new logs.
func BackfillKey(since, until time.Time) string {
	if until.IsZero() {
		return ""
	}
	return "&backfill=" + since.UTC().Format(time.RFC3339) + "/" + until.UTC().Format(time.RFC3339)
}

// SkipKey reports whether an object key is no log delivery: a CloudTrail
// digest file or a folder marker.
func SkipKey(key string) bool { return skipKey(key) }

// NewClient returns an S3 client for the options: the default credential
// chain, an assumed role when set, the endpoint and path-style addressing
// of an S3-compatible server when set.
func NewClient(ctx context.Context, o awsconf.Options) (*awss3.Client, error) {
	cfg, err := awsconf.Load(ctx, o, awsconf.Retry{})
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return awss3.NewFromConfig(cfg, func(so *awss3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.PathStyle
		// Integrity checks stay on for reads (when the server supplies a
		// checksum); ingest writes nothing.
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}), nil
}

func durationParam(q url.Values, name string) (time.Duration, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration like 24h", name, v)
	}
	return d, nil
}

// KnownParams rejects query parameters that are neither own nor AWS ones
// (awsconf.IsParam), so that a typo is an error rather than ignored.
func KnownParams(q url.Values, own ...string) error {
	for k := range q {
		if !slices.Contains(own, k) && !awsconf.IsParam(k) {
			return fmt.Errorf("unknown parameter %q", k)
		}
	}
	return nil
}
