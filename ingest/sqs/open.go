package sqs

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/awsconf"
	"github.com/vigilsec/vigil/ingest/logtype"
	"github.com/vigilsec/vigil/ingest/s3"
)

// Open returns a notification source for a URL of the form
//
//	sqs://QUEUE-URL-WITHOUT-SCHEME?type=cloudtrail|vpcflow   (https)
//	sqs+https://QUEUE-URL?type=…   or   sqs+http://QUEUE-URL?type=… (local servers)
//	    [&wait=20s][&visibility=5m][&batch=500][&region=R][&role_arn=ARN[&external_id=X]]
//	    [&endpoint=URL&path_style=true]   (the S3 server the objects are on)
//
// e.g. sqs://sqs.eu-west-1.amazonaws.com/111122223333/trail-deliveries?type=cloudtrail.
// The region defaults to the one in an AWS queue host name; objects are
// fetched from the region their notification names, unless an S3 endpoint
// is set. For a queue
// host outside amazonaws.com the SQS endpoint is the queue URL's scheme and
// host, unless AWS_ENDPOINT_URL_SQS or AWS_ENDPOINT_URL is set.
func Open(ctx context.Context, rawURL string, o s3.Options) (*Source, error) {
	u, err := awsconf.ParseURL("sqs", rawURL)
	if err != nil {
		return nil, err
	}
	scheme := "https"
	switch u.Scheme {
	case "sqs", "sqs+https":
	case "sqs+http":
		scheme = "http"
	default:
		return nil, fmt.Errorf("sqs source %q: want sqs://, sqs+https:// or sqs+http://", awsconf.RedactURL(rawURL))
	}
	if u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return nil, fmt.Errorf("sqs source %q: want sqs://HOST/ACCOUNT/QUEUE?type=…", awsconf.RedactURL(rawURL))
	}
	q := u.Query()
	typ := q.Get("type")
	if typ == "" || !validType(typ) {
		return nil, fmt.Errorf("sqs source %q: type=%q, want one of %s", awsconf.RedactURL(rawURL), typ, strings.Join(ingest.Types, ", "))
	}
	if err := s3.KnownParams(q, "type", "wait", "visibility", "batch"); err != nil {
		return nil, fmt.Errorf("sqs source %q: %w", awsconf.RedactURL(rawURL), err)
	}
	c := Config{QueueURL: scheme + "://" + u.Host + u.Path, Bad: o.Bad, Logger: o.Logger}
	if c.WaitTime, err = duration(q, "wait"); err != nil {
		return nil, fmt.Errorf("sqs source %q: %w", awsconf.RedactURL(rawURL), err)
	}
	if c.Visibility, err = duration(q, "visibility"); err != nil {
		return nil, fmt.Errorf("sqs source %q: %w", awsconf.RedactURL(rawURL), err)
	}
	if v := q.Get("batch"); v != "" {
		if c.BatchSize, err = strconv.Atoi(v); err != nil || c.BatchSize < 1 {
			return nil, fmt.Errorf("sqs source %q: batch=%q: want a positive number of events", awsconf.RedactURL(rawURL), v)
		}
	}
	ao, err := awsconf.FromQuery(q)
	if err != nil {
		return nil, fmt.Errorf("sqs source %q: %w", awsconf.RedactURL(rawURL), err)
	}
	if ao.Region == "" {
		ao.Region = regionOf(u.Host)
	}
	s3c, err := s3.NewClient(ctx, ao)
	if err != nil {
		return nil, fmt.Errorf("sqs source %q: %w", awsconf.RedactURL(rawURL), err)
	}
	cfg, err := awsconf.Load(ctx, ao, awsconf.Retry{})
	if err != nil {
		return nil, fmt.Errorf("sqs source %q: %w", awsconf.RedactURL(rawURL), err)
	}
	local := !strings.HasSuffix(u.Hostname(), ".amazonaws.com") &&
		os.Getenv("AWS_ENDPOINT_URL_SQS") == "" && os.Getenv("AWS_ENDPOINT_URL") == ""
	c.Client = awssqs.NewFromConfig(cfg, func(so *awssqs.Options) {
		if local {
			so.BaseEndpoint = aws.String(scheme + "://" + u.Host)
		}
	})
	decs, err := logtype.Decoders(logtype.Config{Limits: o.Limits})
	if err != nil {
		return nil, err
	}
	c.Objects = &s3.ObjectReader{Client: s3c, Decoder: decs[typ], Limits: o.Limits}
	c.ObjectRegions = ao.Endpoint == "" && os.Getenv("AWS_ENDPOINT_URL_S3") == "" && os.Getenv("AWS_ENDPOINT_URL") == ""
	if o.Logger != nil {
		o.Logger.Info("sqs source", "queue", c.QueueURL, "type", typ, "aws", ao)
	}
	return New(c)
}

func validType(t string) bool {
	for _, x := range ingest.Types {
		if x == t {
			return true
		}
	}
	return false
}

// regionOf returns the region of an AWS SQS host name
// (sqs.eu-west-1.amazonaws.com, eu-west-1.queue.amazonaws.com), else "".
func regionOf(host string) string {
	parts := strings.Split(host, ".")
	if len(parts) == 4 && parts[0] == "sqs" && parts[2] == "amazonaws" {
		return parts[1]
	}
	if len(parts) == 4 && parts[1] == "queue" && parts[2] == "amazonaws" {
		return parts[0]
	}
	return ""
}

func duration(q url.Values, name string) (time.Duration, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s=%q: want a duration like 30s", name, v)
	}
	return d, nil
}
