package cloudtrail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/jsonstream"
)

// Config configures a Decoder. The zero value is valid.
type Config struct {
	// Limits caps one record (Limits.RecordBytes(), default 1 MiB): a
	// longer record, line or Records element is reported as
	// ingest.ErrRecordTooLarge and skipped. MaxDecompressedBytes is not
	// used here; ingest.Open applies it before Decode.
	Limits ingest.Limits
}

// Validate reports a configuration that cannot be meant.
func (c Config) Validate() error {
	if c.Limits.MaxRecordBytes < 0 {
		return fmt.Errorf("cloudtrail: MaxRecordBytes %d is negative", c.Limits.MaxRecordBytes)
	}
	return nil
}

// Decoder decodes CloudTrail records. It is safe for concurrent use.
type Decoder struct {
	max int
}

var _ ingest.Decoder = (*Decoder)(nil)

// New returns a Decoder for c.
func New(c Config) (*Decoder, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Decoder{max: c.Limits.RecordBytes()}, nil
}

// containerKeys are the object keys whose array elements are records
// (jsonstream reads the logEvents of CloudWatch Logs envelopes too).
var containerKeys = []string{"Records"}

// Errors reported for records that are JSON but not CloudTrail.
var (
	errNotCloudTrail = errors.New("not a CloudTrail record: no eventVersion, eventName, eventSource, eventID, eventTime or userIdentity")
	errFieldType     = errors.New("not a CloudTrail record: eventName, eventSource and eventID must be strings")
)

// Decode reads CloudTrail records from r and passes each to h.Event; see
// the package documentation for the accepted forms. A stream whose src
// contains "CloudTrail-Digest" is a digest file and yields nothing.
func (d *Decoder) Decode(ctx context.Context, r io.Reader, src string, h ingest.Handler) error {
	if strings.Contains(src, "CloudTrail-Digest") {
		return nil
	}
	run := &run{src: src, h: h}
	c := jsonstream.Config{Containers: containerKeys, MaxRecordBytes: d.max}
	return jsonstream.Split(ctx, r, c, jsonstream.Handler{Record: run.record, Bad: run.bad})
}

// run is the state of one Decode call.
type run struct {
	src string
	h   ingest.Handler
}

func (r *run) bad(off int64, line int, err error) {
	r.h.Report(&ingest.DecodeError{Source: r.src, Line: line, Offset: off, Err: err})
}

// record turns one JSON object into an event, reports it, or skips it.
func (r *run) record(rec *jsonstream.Record) error {
	m, err := rec.Object()
	if err != nil {
		r.bad(rec.Offset, rec.Line, err)
		return nil
	}
	if rec.Container == "" && skipped(m) {
		return nil
	}
	ev, err := r.event(m, rec)
	if err != nil {
		r.bad(rec.Offset, rec.Line, err)
		return nil
	}
	return r.h.Event(ev)
}

// skipped reports top-level objects that are CloudTrail data but no
// records: digest files and CloudWatch envelopes without log events.
func skipped(m map[string]any) bool {
	for _, k := range []string{"digestStartTime", "digestPublicKeyFingerprint", "messageType"} {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

// recordKeys are keys of which a CloudTrail record has at least one.
var recordKeys = []string{"eventVersion", "eventName", "eventSource", "eventID", "eventTime", "userIdentity"}

// event builds the Event of record m, decoded from rec.
func (r *run) event(m map[string]any, rec *jsonstream.Record) (*ingest.Event, error) {
	found := false
	for _, k := range recordKeys {
		if _, ok := m[k]; ok {
			found = true
			break
		}
	}
	if !found {
		return nil, errNotCloudTrail
	}
	for _, k := range []string{"eventName", "eventSource", "eventID"} {
		if v, ok := m[k]; ok && v != nil {
			if _, ok := v.(string); !ok {
				return nil, errFieldType
			}
		}
	}
	ev := &ingest.Event{
		ID:     jsonstream.Str(m, "eventID"),
		Type:   ingest.TypeCloudTrail,
		Source: r.src,
		Fields: m,
		Raw:    rec.Raw,
		Norm:   normalize(m),
	}
	if ev.ID == "" {
		ev.ID = ingest.StableID(ingest.TypeCloudTrail, r.src, rec.Position())
	}
	ev.Time = rec.Time
	for _, k := range []string{"eventTime", "@timestamp"} {
		if t, ok := parseTime(m[k]); ok {
			ev.Time = t
			break
		}
	}
	return ev, nil
}
