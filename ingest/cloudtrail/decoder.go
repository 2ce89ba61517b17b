package cloudtrail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/vigilsec/vigil/ingest"
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

// containerKeys are the object keys whose array elements are records (or
// CloudWatch Logs events holding records).
var containerKeys = []string{"Records", "logEvents"}

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
	run := &run{src: src, h: h, max: d.max}
	p := &splitter{ctx: ctx, containers: containerKeys, max: d.max, item: run.item, bad: run.bad}
	return p.split(r)
}

// run is the state of one Decode call.
type run struct {
	src string
	h   ingest.Handler
	max int
}

func (r *run) bad(off int64, line int, err error) {
	r.h.Report(&ingest.DecodeError{Source: r.src, Line: line, Offset: off, Err: err})
}

// logEvent is one element of a CloudWatch Logs subscription's logEvents.
type logEvent struct {
	ID        string  `json:"id"`
	Timestamp float64 `json:"timestamp"` // Unix milliseconds
	Message   *string `json:"message"`
}

// item turns one JSON value into an event, reports it, or skips it.
func (r *run) item(it item) error {
	rec, pos := it.data, it.pos
	var fallback time.Time
	if it.in == "logEvents" {
		if it.ctrl {
			return nil
		}
		var le logEvent
		if err := unmarshal(it.data, &le); err != nil {
			r.bad(it.off, it.line, err)
			return nil
		}
		if le.Message == nil {
			r.bad(it.off, it.line, errNoMessage)
			return nil
		}
		rec = []byte(*le.Message)
		if le.Timestamp > 0 {
			fallback = time.UnixMilli(int64(le.Timestamp)).UTC()
		}
		if le.ID != "" {
			pos = "cw:" + le.ID
		}
	}
	if t := bytes.TrimLeft(rec, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		r.bad(it.off, it.line, errNotObject)
		return nil
	}
	var m map[string]any
	if err := unmarshal(rec, &m); err != nil {
		r.bad(it.off, it.line, err)
		return nil
	}
	if it.in == "" && skipped(m) {
		return nil
	}
	ev, err := r.event(m, rec, pos, fallback)
	if err != nil {
		r.bad(it.off, it.line, err)
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

// unmarshal decodes JSON b into v, turning a panic of the decoder on
// hostile input into an error.
func unmarshal(b []byte, v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("invalid JSON: decoder panic: %v", p)
		}
	}()
	return json.Unmarshal(b, v)
}

// recordKeys are keys of which a CloudTrail record has at least one.
var recordKeys = []string{"eventVersion", "eventName", "eventSource", "eventID", "eventTime", "userIdentity"}

// event builds the Event of record m, whose bytes are rec.
func (r *run) event(m map[string]any, rec []byte, pos string, fallback time.Time) (*ingest.Event, error) {
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
		ID:     str(m, "eventID"),
		Type:   ingest.TypeCloudTrail,
		Source: r.src,
		Fields: m,
		Raw:    compact(rec),
		Norm:   normalize(m),
	}
	if ev.ID == "" {
		ev.ID = ingest.StableID(ingest.TypeCloudTrail, r.src, pos)
	}
	ev.Time = fallback
	for _, k := range []string{"eventTime", "@timestamp"} {
		if t, ok := parseTime(m[k]); ok {
			ev.Time = t
			break
		}
	}
	return ev, nil
}
