package k8saudit

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
	// longer event, line or EventList item is reported as
	// ingest.ErrRecordTooLarge and skipped. MaxDecompressedBytes is not
	// used here; ingest.Open applies it before Decode.
	Limits ingest.Limits
}

// Validate reports a configuration that cannot be meant.
func (c Config) Validate() error {
	if c.Limits.MaxRecordBytes < 0 {
		return fmt.Errorf("k8saudit: MaxRecordBytes %d is negative", c.Limits.MaxRecordBytes)
	}
	return nil
}

// Decoder decodes Kubernetes audit events. It is safe for concurrent use.
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

// containerKeys are the object keys whose array elements are audit events
// (EventList items; jsonstream reads the logEvents of CloudWatch Logs
// envelopes too).
var containerKeys = []string{"items"}

// Errors reported for JSON objects that are not audit events.
var (
	errNotEvent  = errors.New("not an audit event: no kind, apiVersion, auditID, verb, stage, requestURI, user or objectRef")
	errKind      = errors.New(`not an audit event: kind is not "Event"`)
	errVersion   = errors.New("not an audit event: apiVersion is not audit.k8s.io/*")
	errFieldType = errors.New("not an audit event: auditID, verb and stage must be strings")
)

// Decode reads Kubernetes audit events from r and passes each to h.Event;
// see the package documentation for the accepted forms.
func (d *Decoder) Decode(ctx context.Context, r io.Reader, src string, h ingest.Handler) error {
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
	if err := check(m); err != nil {
		r.bad(rec.Offset, rec.Line, err)
		return nil
	}
	return r.h.Event(r.event(m, rec))
}

// skipped reports top-level objects that hold no events: an EventList
// without items and a CloudWatch envelope without log events.
func skipped(m map[string]any) bool {
	if _, ok := m["messageType"]; ok {
		return true
	}
	return m["kind"] == "EventList"
}

// eventKeys are keys of which an audit event has at least one.
var eventKeys = []string{"kind", "apiVersion", "auditID", "verb", "stage", "requestURI", "user", "objectRef"}

// check reports whether m is an audit event: it has one of eventKeys,
// kind (when present) is "Event", apiVersion (when present) is an
// audit.k8s.io version and auditID, verb and stage are strings.
func check(m map[string]any) error {
	found := false
	for _, k := range eventKeys {
		if _, ok := m[k]; ok {
			found = true
			break
		}
	}
	if !found {
		return errNotEvent
	}
	if k, ok := m["kind"]; ok && k != "Event" {
		return errKind
	}
	if v, ok := m["apiVersion"]; ok {
		if s, _ := v.(string); !strings.HasPrefix(s, "audit.k8s.io/") {
			return errVersion
		}
	}
	for _, k := range []string{"auditID", "verb", "stage"} {
		if v, ok := m[k]; ok && v != nil {
			if _, ok := v.(string); !ok {
				return errFieldType
			}
		}
	}
	return nil
}

// event builds the Event of audit event m, decoded from rec.
func (r *run) event(m map[string]any, rec *jsonstream.Record) *ingest.Event {
	ev := &ingest.Event{
		Type:   ingest.TypeK8sAudit,
		Source: r.src,
		Fields: m,
		Raw:    rec.Raw,
		Norm:   normalize(m),
		Time:   rec.Time,
	}
	if id := jsonstream.Str(m, "auditID"); id != "" {
		ev.ID = ingest.StableID(ingest.TypeK8sAudit, id, jsonstream.Str(m, "stage"))
	} else {
		ev.ID = ingest.StableID(ingest.TypeK8sAudit, r.src, rec.Position())
	}
	for _, k := range []string{"stageTimestamp", "requestReceivedTimestamp", "timestamp"} {
		if t, ok := jsonstream.ParseTime(jsonstream.Str(m, k)); ok {
			ev.Time = t
			break
		}
	}
	return ev
}
