package k8saudit

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
// (EventList items) or CloudWatch Logs events holding audit events.
var containerKeys = []string{"items", "logEvents"}

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
	p := &splitter{ctx: ctx, containers: containerKeys, max: d.max, item: run.item, bad: run.bad}
	return p.split(r)
}

// run is the state of one Decode call.
type run struct {
	src string
	h   ingest.Handler
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
	if err := check(m); err != nil {
		r.bad(it.off, it.line, err)
		return nil
	}
	return r.h.Event(r.event(m, rec, pos, fallback))
}

// skipped reports top-level objects that hold no events: an EventList
// without items and a CloudWatch envelope without log events.
func skipped(m map[string]any) bool {
	if _, ok := m["messageType"]; ok {
		return true
	}
	return m["kind"] == "EventList"
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

// event builds the Event of audit event m, whose bytes are rec.
func (r *run) event(m map[string]any, rec []byte, pos string, fallback time.Time) *ingest.Event {
	ev := &ingest.Event{
		Type:   ingest.TypeK8sAudit,
		Source: r.src,
		Fields: m,
		Raw:    compact(rec),
		Norm:   normalize(m),
		Time:   fallback,
	}
	if id := str(m, "auditID"); id != "" {
		ev.ID = ingest.StableID(ingest.TypeK8sAudit, id, str(m, "stage"))
	} else {
		ev.ID = ingest.StableID(ingest.TypeK8sAudit, r.src, pos)
	}
	for _, k := range []string{"stageTimestamp", "requestReceivedTimestamp", "timestamp"} {
		if t, ok := parseTime(m[k]); ok {
			ev.Time = t
			break
		}
	}
	return ev
}
