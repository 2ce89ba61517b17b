package cloudwatch

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/vigilsec/vigil/ingest/awsconf"
	"github.com/vigilsec/vigil/ingest/logtype"
	"github.com/vigilsec/vigil/ingest/s3"
)

// Open returns a source for a URL of the form
//
//	cloudwatch://LOG-GROUP?type=k8saudit|auditd|vpcflow|cloudtrail[&stream_prefix=P]
//	    [&format=VPC-FLOW-FORMAT][&delay=1m][&poll=30s][&lookback=1h][&limit=1000]
//	    [&region=R][&endpoint=URL][&role_arn=ARN[&external_id=X]][&profile=P]
//
// A log group whose name starts with a slash takes three slashes:
// cloudwatch:///aws/eks/prod/cluster?type=k8saudit&stream_prefix=kube-apiserver-audit-.
// format is the VPC flow log format of the group's messages (they carry no
// header), e.g. "${version} ${account-id} ${interface-id} …"; default the
// v2 default format. o.Since and o.Until bound a backfill.
func Open(ctx context.Context, rawURL string, o s3.Options) (*Source, error) {
	u, err := awsconf.ParseURL("cloudwatch", rawURL)
	if err != nil {
		return nil, err
	}
	group := u.Host + u.Path
	if u.Scheme != "cloudwatch" || group == "" || group == "/" {
		return nil, fmt.Errorf("cloudwatch source %q: want cloudwatch://LOG-GROUP?type=…", awsconf.RedactURL(rawURL))
	}
	q := u.Query()
	if err := s3.KnownParams(q, "type", "stream_prefix", "format", "delay", "poll", "lookback", "limit"); err != nil {
		return nil, fmt.Errorf("cloudwatch source %q: %w", awsconf.RedactURL(rawURL), err)
	}
	c := Config{
		Group:        group,
		StreamPrefix: q.Get("stream_prefix"),
		CheckpointKey: "cloudwatch://" + group + "?stream_prefix=" + q.Get("stream_prefix") +
			s3.BackfillKey(o.Since, o.Until),
		LogType:     q.Get("type"),
		Checkpoints: o.Checkpoints,
		Since:       o.Since,
		Until:       o.Until,
		Bad:         o.Bad,
		Logger:      o.Logger,
	}
	for name, dst := range map[string]*time.Duration{"delay": &c.Delay, "poll": &c.PollInterval, "lookback": &c.Lookback} {
		if v := q.Get(name); v != "" {
			if *dst, err = time.ParseDuration(v); err != nil || *dst < 0 {
				return nil, fmt.Errorf("cloudwatch source %q: %s=%q: want a duration like 1m", awsconf.RedactURL(rawURL), name, v)
			}
		}
	}
	if v := q.Get("limit"); v != "" {
		if c.PageLimit, err = strconv.Atoi(v); err != nil {
			return nil, fmt.Errorf("cloudwatch source %q: limit=%q: %w", awsconf.RedactURL(rawURL), v, err)
		}
	}
	ao, err := awsconf.FromQuery(q)
	if err != nil {
		return nil, fmt.Errorf("cloudwatch source %q: %w", awsconf.RedactURL(rawURL), err)
	}
	cfg, err := awsconf.Load(ctx, ao, awsconf.Retry{MaxAttempts: 5})
	if err != nil {
		return nil, fmt.Errorf("cloudwatch source %q: %w", awsconf.RedactURL(rawURL), err)
	}
	c.Client = cwl.NewFromConfig(cfg, func(co *cwl.Options) {
		if ao.Endpoint != "" {
			co.BaseEndpoint = aws.String(ao.Endpoint)
		}
	})
	decs, err := logtype.Decoders(logtype.Config{Limits: o.Limits, FlowFormat: q.Get("format")})
	if err != nil {
		return nil, fmt.Errorf("cloudwatch source %q: %w", awsconf.RedactURL(rawURL), err)
	}
	c.Decoder = decs[c.LogType]
	if o.Logger != nil {
		o.Logger.Info("cloudwatch source", "group", c.Group, "stream_prefix", c.StreamPrefix, "type", c.LogType, "aws", ao)
	}
	return New(ctx, c)
}
