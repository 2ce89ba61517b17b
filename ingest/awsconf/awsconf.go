// Package awsconf builds the AWS SDK configuration of one ingest source from
// the options of its source URL: region, endpoint of an S3-compatible (or
// otherwise local) server, path-style addressing, a role to assume for
// multi-account collection, a shared-config profile.
//
// Credentials always come from the SDK's default chain (environment, shared
// profile, web identity, container or instance role); no secret is ever
// read from a source URL. The SDK's AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE> environment variables are honoured; an
// endpoint option in the URL wins over them.
package awsconf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Query parameter names read by FromQuery.
const (
	ParamRegion      = "region"
	ParamEndpoint    = "endpoint"
	ParamPathStyle   = "path_style"
	ParamRoleARN     = "role_arn"
	ParamExternalID  = "external_id"
	ParamSessionName = "role_session_name"
	ParamProfile     = "profile"
)

// IsParam reports whether name is one of the query parameters FromQuery
// reads.
func IsParam(name string) bool {
	switch name {
	case ParamRegion, ParamEndpoint, ParamPathStyle, ParamRoleARN, ParamExternalID, ParamSessionName, ParamProfile:
		return true
	}
	return false
}

// ParseURL parses the source URL raw of a source of the given kind ("s3",
// "sqs", "cloudwatch"). Its error does not quote raw, which may hold an
// external ID.
func ParseURL(kind, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s source: invalid URL: %w", kind, err)
	}
	return u, nil
}

// RedactURL returns a source URL fit for logs and error messages: the
// external_id parameter's value is replaced by REDACTED.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable source URL)"
	}
	q := u.Query()
	if !q.Has(ParamExternalID) {
		return raw
	}
	q.Set(ParamExternalID, "REDACTED")
	u.RawQuery = q.Encode()
	return u.String()
}

// DefaultSessionName is the default of Options.SessionName.
const DefaultSessionName = "vigil-ingest"

// Options are the AWS settings of one source. The zero value means the
// SDK's defaults.
type Options struct {
	// Region is the AWS region. Default: the SDK's (AWS_REGION, profile),
	// else what the caller derives from the resource (an SQS queue URL).
	Region string
	// Endpoint is the base URL of the service, for S3-compatible servers
	// and local emulators. Default: the SDK's resolution, which honours
	// AWS_ENDPOINT_URL_<SERVICE> and AWS_ENDPOINT_URL.
	Endpoint string
	// PathStyle addresses S3 buckets in the path (host/bucket/key) instead
	// of the host name. Default false; S3-compatible servers usually need it.
	PathStyle bool
	// RoleARN is a role to assume, with the default chain's credentials,
	// before calling the service: how one ingester reads other accounts.
	// Default: none.
	RoleARN string
	// ExternalID is passed to AssumeRole when set. It is not a secret in
	// the AWS sense but is redacted from logs all the same.
	ExternalID string
	// SessionName is the AssumeRole session name, visible in the target
	// account's CloudTrail. Default DefaultSessionName.
	SessionName string
	// Profile selects a shared-config profile. Default: AWS_PROFILE or
	// "default".
	Profile string
}

// FromQuery reads the AWS options of a source URL's query. Parameters it
// does not know are left for the caller.
func FromQuery(q url.Values) (Options, error) {
	o := Options{
		Region:      q.Get(ParamRegion),
		Endpoint:    q.Get(ParamEndpoint),
		RoleARN:     q.Get(ParamRoleARN),
		ExternalID:  q.Get(ParamExternalID),
		SessionName: q.Get(ParamSessionName),
		Profile:     q.Get(ParamProfile),
	}
	if v := q.Get(ParamPathStyle); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Options{}, fmt.Errorf("%s=%q: not a boolean", ParamPathStyle, v)
		}
		o.PathStyle = b
	}
	return o, o.Validate()
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s=%q: want an http or https URL", ParamEndpoint, o.Endpoint)
		}
	}
	if o.RoleARN != "" && !strings.HasPrefix(o.RoleARN, "arn:") {
		return fmt.Errorf("%s=%q: not an ARN", ParamRoleARN, o.RoleARN)
	}
	if o.ExternalID != "" && o.RoleARN == "" {
		return errors.New(ParamExternalID + " needs " + ParamRoleARN)
	}
	return nil
}

// LogValue prints the options with the external ID redacted.
func (o Options) LogValue() slog.Value {
	attrs := []slog.Attr{}
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	add("region", o.Region)
	add("endpoint", o.Endpoint)
	if o.PathStyle {
		attrs = append(attrs, slog.Bool("path_style", true))
	}
	add("role_arn", o.RoleARN)
	if o.ExternalID != "" {
		attrs = append(attrs, slog.String("external_id", "REDACTED"))
	}
	add("profile", o.Profile)
	return slog.GroupValue(attrs...)
}

// Retry configures the SDK's retryer: MaxAttempts tries per call with
// exponential backoff capped at MaxBackoff, for throttling and transient
// errors. Zero fields mean the SDK's standard values (3 attempts, 20s).
type Retry struct {
	MaxAttempts int
	MaxBackoff  time.Duration
}

// Load returns the SDK configuration for o: the default credential chain,
// wrapped in an AssumeRole provider when o.RoleARN is set.
func Load(ctx context.Context, o Options, r Retry) (aws.Config, error) {
	if err := o.Validate(); err != nil {
		return aws.Config{}, err
	}
	var lo []func(*config.LoadOptions) error
	if o.Region != "" {
		lo = append(lo, config.WithRegion(o.Region))
	}
	if o.Profile != "" {
		lo = append(lo, config.WithSharedConfigProfile(o.Profile))
	}
	if r.MaxAttempts > 0 || r.MaxBackoff > 0 {
		lo = append(lo, config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				if r.MaxAttempts > 0 {
					so.MaxAttempts = r.MaxAttempts
				}
				if r.MaxBackoff > 0 {
					so.MaxBackoff = r.MaxBackoff
				}
			})
		}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	if o.RoleARN != "" {
		name := o.SessionName
		if name == "" {
			name = DefaultSessionName
		}
		p := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), o.RoleARN, func(ao *stscreds.AssumeRoleOptions) {
			ao.RoleSessionName = name
			if o.ExternalID != "" {
				ao.ExternalID = aws.String(o.ExternalID)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(p)
	}
	return cfg, nil
}
