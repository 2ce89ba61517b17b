package kafka

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	json "github.com/goccy/go-json"

	"github.com/vigilsec/vigil/deploy/demo"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/corpus"
	"github.com/vigilsec/vigil/ingest/logtype"
)

// decodedEvents decodes the demo logs and the corpus's Kubernetes audit
// traces with vigil's decoders: events exactly as ingest makes them.
func decodedEvents(tb testing.TB) []*ingest.Event {
	tb.Helper()
	var evs []*ingest.Event
	h := ingest.Handler{Event: func(ev *ingest.Event) error { evs = append(evs, ev); return nil }}
	decoders, err := logtype.Decoders(logtype.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	decode := func(name, typ string, r io.Reader) {
		typ, in, err := logtype.Prepare(r, ingest.Limits{}, typ)
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		if err := decoders[typ].Decode(context.Background(), in, "file://"+name, h); err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
	}
	err = fs.WalkDir(demo.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || strings.HasSuffix(path, ".md") {
			return err
		}
		b, err := fs.ReadFile(demo.FS, path)
		if err != nil {
			return err
		}
		decode(path, "", bytes.NewReader(b))
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	files, err := filepath.Glob(corpus.Path(tb, "falco-k8s-audit", "test", "trace_files", "k8s_audit", "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		decode(f, ingest.TypeK8sAudit, bytes.NewReader(b))
	}
	return evs
}

// TestEventCodecDecodedEvents round-trips every event of the demo and of
// the corpus's audit traces: the record form rebuilds exactly the Fields
// the decoders made, and every log type comes back unchanged.
func TestEventCodecDecodedEvents(t *testing.T) {
	evs := decodedEvents(t)
	records := map[string]int{}
	for _, ev := range evs {
		b, hs, err := EventCodec{}.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(`"record":`)) {
			records[ev.Type]++
		}
		back, err := EventCodec{}.Decode(b, hs)
		if err != nil {
			t.Fatalf("%s %s: %v", ev.Source, ev.ID, err)
		}
		if !reflect.DeepEqual(back, ev) {
			t.Fatalf("%s %s: round trip changed the event: %s", ev.Source, ev.ID, eventDiff(back, ev))
		}
		row, err := EventCodec{NoFields: true}.Decode(b, hs)
		if err != nil {
			t.Fatal(err)
		}
		if row.Fields != nil || !bytes.Equal(row.Raw, ev.Raw) || row.Norm != ev.Norm || row.ID != ev.ID {
			t.Fatalf("%s %s: NoFields decoded %#v", ev.Source, ev.ID, row)
		}
	}
	if records[ingest.TypeCloudTrail] == 0 || records[ingest.TypeK8sAudit] == 0 {
		t.Fatalf("events sent as records by type: %v; want cloudtrail and k8saudit", records)
	}
	t.Logf("%d events, sent as records: %v", len(evs), records)
}

// TestEventCodecReadsFieldsForm decodes JSON-type events written in the
// fields-and-raw form, as earlier releases wrote every event: messages
// already on the topic stay readable.
func TestEventCodecReadsFieldsForm(t *testing.T) {
	ev := codecEvents[0]
	b, err := json.Marshal(wireEventOut{ID: ev.ID, Type: ev.Type, Time: ev.Time, Source: ev.Source, Fields: ev.Fields, Raw: ev.Raw, Norm: ev.Norm})
	if err != nil {
		t.Fatal(err)
	}
	back, err := EventCodec{}.Decode(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, ev) {
		t.Fatalf("got %#v\nwant %#v", back, ev)
	}
	for _, in := range []string{
		`{"type":"cloudtrail","record":{"a":1},"raw":"e30="}`,
		`{"type":"cloudtrail","record":[1]}`,
		`{"type":"cloudtrail","record":"x"}`,
	} {
		if _, err := (EventCodec{}).Decode([]byte(in), nil); err == nil {
			t.Errorf("decoded %s", in)
		}
	}
}

// BenchmarkEventCodecDemo encodes and decodes the demo's events as the
// ingest, detect (Fields) and store (NoFields) roles do; the -fields-form
// cases send JSON-type events with their Fields, as before the record form.
func BenchmarkEventCodecDemo(b *testing.B) {
	evs := decodedEvents(b)
	for _, c := range []struct {
		name       string
		codec      EventCodec
		fieldsForm bool
	}{{"detect", EventCodec{}, false}, {"store", EventCodec{NoFields: true}, false},
		{"detect-fields-form", EventCodec{}, true}, {"store-fields-form", EventCodec{NoFields: true}, true}} {
		b.Run(c.name, func(b *testing.B) {
			i, size := 0, 0
			for b.Loop() {
				ev := evs[i%len(evs)]
				i++
				v, hs, err := c.codec.Encode(ev)
				if c.fieldsForm {
					v, err = json.Marshal(wireEventOut{ID: ev.ID, Type: ev.Type, Time: ev.Time, Source: ev.Source, Fields: ev.Fields, Raw: ev.Raw, Norm: ev.Norm})
				}
				if err != nil {
					b.Fatal(err)
				}
				size += len(v)
				if _, err := c.codec.Decode(v, hs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size)/float64(i), "msg-bytes")
		})
	}
}

// eventDiff says where two events differ.
func eventDiff(got, want *ingest.Event) string {
	var d []string
	for k, w := range want.Fields {
		if g, ok := got.Fields[k]; !ok || !reflect.DeepEqual(g, w) {
			d = append(d, fmt.Sprintf("field %s: got %#v, want %#v", k, g, w))
		}
	}
	for k, g := range got.Fields {
		if _, ok := want.Fields[k]; !ok {
			d = append(d, fmt.Sprintf("field %s: got %#v, want none", k, g))
		}
	}
	g, w := *got, *want
	g.Fields, w.Fields = nil, nil
	if !reflect.DeepEqual(g, w) {
		d = append(d, fmt.Sprintf("got %#v, want %#v", g, w))
	}
	return strings.Join(d, "; ")
}
