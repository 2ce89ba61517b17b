package kafka

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	json "github.com/goccy/go-json"
	kafka "github.com/segmentio/kafka-go"

	"github.com/vigilsec/vigil/ingest"
)

// Message headers set by the codecs of this package.
const (
	// HeaderID carries the stable ID of the value (event ID, alert ID), so
	// that a consumer or an operator can see it without decoding.
	HeaderID = "vigil-id"
	// HeaderType carries an event's log type.
	HeaderType = "vigil-type"
)

// Codec turns values of T into Kafka message values and headers, and back.
// Decode errors make a message poison (see PoisonError).
type Codec[T any] interface {
	Encode(v T) (value []byte, headers []kafka.Header, err error)
	Decode(value []byte, headers []kafka.Header) (T, error)
}

// JSONCodec encodes values as JSON (goccy/go-json, compatible with
// encoding/json and the struct tags of detect.Alert). ID, when set, gives
// the value's stable ID for the HeaderID header.
type JSONCodec[T any] struct {
	ID func(T) string
}

var _ Codec[int] = JSONCodec[int]{}

// Encode marshals v.
func (c JSONCodec[T]) Encode(v T) ([]byte, []kafka.Header, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, nil, fmt.Errorf("kafka: encode %T: %w", v, err)
	}
	var hs []kafka.Header
	if c.ID != nil {
		hs = []kafka.Header{{Key: HeaderID, Value: []byte(c.ID(v))}}
	}
	return b, hs, nil
}

// Decode unmarshals value into a new T.
func (c JSONCodec[T]) Decode(value []byte, _ []kafka.Header) (T, error) {
	var v T
	if err := json.Unmarshal(value, &v); err != nil {
		return v, fmt.Errorf("kafka: decode %T: %w", v, err)
	}
	return v, nil
}

// EventCodec encodes *ingest.Event as a JSON object, with the event ID and
// log type also in the HeaderID and HeaderType headers. Events of the JSON
// log types (cloudtrail, k8saudit), whose Fields are their Raw record
// decoded (see ingest.Event), travel as the record itself:
//
//	{"event_id","type","time","source","norm","record"}
//
// and the decoder rebuilds Fields from the record: half the bytes on the
// wire of sending both, and no encoding of the Fields maps. Other events,
// and JSON-type events whose Raw is not a UTF-8 JSON object, travel as
//
//	{"event_id","type","time","source","fields","raw","norm"}
//
// where Raw is base64 (a JSON string would replace the invalid UTF-8 that
// binary audit fields and truncated records may hold, and Raw is stored
// verbatim). The decoder reads both forms. Fields come back in the shapes
// the decoders produce: objects as map[string]any, arrays as []any, numbers
// as float64 for cloudtrail and k8saudit and as int when integral for
// vpcflow and auditd. Strings in Fields that are not valid UTF-8 come back
// with U+FFFD in place of the invalid bytes; Raw keeps them.
type EventCodec struct {
	// NoFields skips rebuilding Fields on Decode, the costliest part of
	// decoding, for a consumer that never reads them (the store writes
	// Raw and Norm). Default false.
	NoFields bool
}

var _ Codec[*ingest.Event] = EventCodec{}

// wireEvent is the JSON form of an event for decoding; Fields are decoded
// separately, once the log type is known.
type wireEvent struct {
	ID     string            `json:"event_id"`
	Type   string            `json:"type"`
	Time   time.Time         `json:"time"`
	Source string            `json:"source"`
	Fields json.RawMessage   `json:"fields"`
	Record json.RawMessage   `json:"record"`
	Raw    []byte            `json:"raw"`
	Norm   ingest.Normalized `json:"norm"`
}

// wireRecordHead is the form of an event sent as its record, without the
// record, which Encode appends verbatim (a JSON encoder would escape
// <, > and & in it, and Raw is stored verbatim).
type wireRecordHead struct {
	ID     string            `json:"event_id"`
	Type   string            `json:"type"`
	Time   time.Time         `json:"time"`
	Source string            `json:"source"`
	Norm   ingest.Normalized `json:"norm"`
}

// wireEventOut is wireEvent for encoding, in one pass.
type wireEventOut struct {
	ID     string            `json:"event_id"`
	Type   string            `json:"type"`
	Time   time.Time         `json:"time"`
	Source string            `json:"source"`
	Fields map[string]any    `json:"fields"`
	Raw    []byte            `json:"raw"`
	Norm   ingest.Normalized `json:"norm"`
}

// Encode marshals ev.
func (EventCodec) Encode(ev *ingest.Event) ([]byte, []kafka.Header, error) {
	var b []byte
	var err error
	if asRecord(ev) {
		b, err = json.Marshal(wireRecordHead{ID: ev.ID, Type: ev.Type, Time: ev.Time, Source: ev.Source, Norm: ev.Norm})
		if err == nil {
			b = append(b[:len(b)-1], `,"record":`...)
			b = append(b, ev.Raw...)
			b = append(b, '}')
		}
	} else {
		b, err = json.Marshal(wireEventOut{
			ID: ev.ID, Type: ev.Type, Time: ev.Time, Source: ev.Source,
			Fields: ev.Fields, Raw: ev.Raw, Norm: ev.Norm,
		})
	}
	if err != nil {
		return nil, nil, fmt.Errorf("kafka: encode event %s: %w", ev.ID, err)
	}
	return b, []kafka.Header{
		{Key: HeaderID, Value: []byte(ev.ID)},
		{Key: HeaderType, Value: []byte(ev.Type)},
	}, nil
}

// asRecord reports whether ev travels as its record: a JSON log type whose
// Raw is a valid JSON object in UTF-8.
func asRecord(ev *ingest.Event) bool {
	if ev.Type != ingest.TypeCloudTrail && ev.Type != ingest.TypeK8sAudit {
		return false
	}
	r := ev.Raw
	return len(r) >= 2 && r[0] == '{' && r[len(r)-1] == '}' && utf8.Valid(r) && json.Valid(r)
}

// Decode unmarshals an event.
func (c EventCodec) Decode(value []byte, _ []kafka.Header) (*ingest.Event, error) {
	var w wireEvent
	if err := json.Unmarshal(value, &w); err != nil {
		return nil, fmt.Errorf("kafka: decode event: %w", err)
	}
	ev := &ingest.Event{ID: w.ID, Type: w.Type, Time: w.Time.UTC(), Source: w.Source, Raw: w.Raw, Norm: w.Norm}
	if len(w.Record) > 0 && !bytes.Equal(w.Record, []byte("null")) {
		if len(w.Fields) > 0 || len(w.Raw) > 0 {
			return nil, fmt.Errorf("kafka: decode event %s: both a record and fields or raw", w.ID)
		}
		// w.Record is a copy owned by the event: the Fields' strings may
		// share its memory, as the decoders' do with Raw.
		ev.Raw = w.Record
		if c.NoFields {
			return ev, nil
		}
		if err := json.UnmarshalNoEscape(w.Record, &ev.Fields, json.DecodeNoCopyString()); err != nil {
			return nil, fmt.Errorf("kafka: decode record of event %s: %w", w.ID, err)
		}
		if ev.Fields == nil {
			return nil, fmt.Errorf("kafka: decode event %s: the record is not an object", w.ID)
		}
		return ev, nil
	}
	if c.NoFields || len(w.Fields) == 0 || bytes.Equal(w.Fields, []byte("null")) {
		return ev, nil
	}
	switch w.Type {
	case ingest.TypeVPCFlow, ingest.TypeAuditd:
		d := json.NewDecoder(bytes.NewReader(w.Fields))
		d.UseNumber()
		if err := d.Decode(&ev.Fields); err != nil {
			return nil, fmt.Errorf("kafka: decode fields of event %s: %w", w.ID, err)
		}
		for k, v := range ev.Fields {
			ev.Fields[k] = integers(v)
		}
	default:
		if err := json.Unmarshal(w.Fields, &ev.Fields); err != nil {
			return nil, fmt.Errorf("kafka: decode fields of event %s: %w", w.ID, err)
		}
	}
	return ev, nil
}

// integers replaces the json.Numbers in v by int when their value is
// integral (written 3, 3.0 or 3e0 alike, as the decoders of these log
// types make no float of an integral value), else float64. Integral
// floats beyond ±2^53, which int would not hold exactly, stay float64.
func integers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := strconv.Atoi(string(v)); err == nil {
			return i
		}
		f, _ := strconv.ParseFloat(string(v), 64)
		if f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
			return int(f)
		}
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = integers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = integers(e)
		}
	}
	return v
}
