package kafka

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/storage"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

var eventTime = time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.UTC)

// codecEvents are events of every log type in the shapes their decoders
// produce.
var codecEvents = []*ingest.Event{
	{
		ID: "3038ebd2-c98a-4c65-9b6e-e22506292313", Type: ingest.TypeCloudTrail, Time: eventTime,
		Source: "s3://trail-bucket/AWSLogs/o-1/111122223333/CloudTrail/eu-west-1/2026/03/01/x.json.gz",
		Fields: map[string]any{
			"eventName": "StopLogging", "eventVersion": "1.08", "readOnly": false,
			"userIdentity":      map[string]any{"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops"},
			"requestParameters": map[string]any{"name": "main"},
			"resources":         []any{map[string]any{"ARN": "arn:aws:cloudtrail:eu-west-1:111122223333:trail/main"}},
			"apiVersion":        float64(2), "errorCode": nil,
		},
		// The record whose decoding Fields are, as the decoders make them.
		Raw:  []byte(`{"eventName":"StopLogging","eventVersion":"1.08","readOnly":false,"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/ops"},"requestParameters":{"name":"main"},"resources":[{"ARN":"arn:aws:cloudtrail:eu-west-1:111122223333:trail/main"}],"apiVersion":2,"errorCode":null}`),
		Norm: ingest.Normalized{Account: "111122223333", Region: "eu-west-1", Actor: "arn:aws:iam::111122223333:user/ops", Action: "StopLogging", Target: "main", Outcome: "success"},
	},
	{
		ID: "a1b2", Type: ingest.TypeVPCFlow, Time: eventTime.Truncate(time.Second), Source: "file://flows.log",
		Fields: map[string]any{
			"version": 2, "account_id": "111122223333", "srcaddr": "10.0.0.5", "dstaddr": "198.51.100.7",
			"srcport": 49152, "dstport": 3333, "protocol": 6, "protocol_name": "tcp",
			"packets": 12, "bytes": 4096, "start": 1772368245, "end": 1772368305, "action": "ACCEPT",
		},
		Raw:  []byte("2 111122223333 eni-1 10.0.0.5 198.51.100.7 49152 3333 6 12 4096 1772368245 1772368305 ACCEPT OK"),
		Norm: ingest.Normalized{SrcIP: "10.0.0.5", DstIP: "198.51.100.7", SrcPort: 49152, DstPort: 3333, Protocol: "tcp"},
	},
	{
		ID: "c3d4", Type: ingest.TypeAuditd, Time: eventTime, Source: "file:///var/log/audit/audit.log",
		Fields: map[string]any{
			"type": "SYSCALL", "syscall": "execve", "exe": "/usr/bin/curl", "sequence": 5521,
			"types": []any{"SYSCALL", "EXECVE", "PROCTITLE"}, "argv": []any{"curl", "-o", "/tmp/x"},
			"records": map[string]any{"EXECVE": []any{map[string]any{"argc": "3", "a0": "curl"}}},
		},
		// Raw audit lines may hold bytes that are not UTF-8.
		Raw: []byte("type=PROCTITLE msg=audit(1772368245.123:5521): proctitle=\xff\xfe\x00curl"),
	},
	{
		ID: "d5e6", Type: ingest.TypeK8sAudit, Time: eventTime, Source: "cloudwatch://eks/kube-apiserver-audit",
		Fields: map[string]any{
			"kind": "Event", "verb": "create", "stage": "ResponseComplete",
			"objectRef":      map[string]any{"resource": "pods", "subresource": "exec", "namespace": "default"},
			"responseStatus": map[string]any{"code": float64(101)},
		},
		Raw: []byte(`{"kind":"Event","verb":"create","stage":"ResponseComplete","objectRef":{"resource":"pods","subresource":"exec","namespace":"default"},"responseStatus":{"code":101}}`),
	},
	{
		// A JSON-type event whose Raw is not UTF-8 travels with its fields.
		ID: "e7f8", Type: ingest.TypeK8sAudit, Time: eventTime, Source: "file://audit.log",
		Fields: map[string]any{"kind": "Event", "verb": "get", "requestURI": "/x\ufffd"},
		Raw:    []byte("{\"kind\":\"Event\",\"verb\":\"get\",\"requestURI\":\"/x\xff\"}"),
	},
}

func TestEventCodecRoundTrip(t *testing.T) {
	var c EventCodec
	for _, ev := range codecEvents {
		t.Run(ev.Type, func(t *testing.T) {
			b, hs, err := c.Encode(ev)
			if err != nil {
				t.Fatal(err)
			}
			if got := header(hs, HeaderID); got != ev.ID {
				t.Errorf("id header %q, want %q", got, ev.ID)
			}
			if got := header(hs, HeaderType); got != ev.Type {
				t.Errorf("type header %q, want %q", got, ev.Type)
			}
			back, err := c.Decode(b, hs)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, ev) {
				t.Fatalf("round trip changed the event:\n got %#v\nwant %#v", back, ev)
			}
		})
	}
}

func header(hs []kafka.Header, key string) string {
	for _, h := range hs {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func TestEventCodecGolden(t *testing.T) {
	b, _, err := EventCodec{}.Encode(codecEvents[0])
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "cloudtrail-event.golden.json")
	if *update {
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(b, '\n'), want) {
		t.Fatalf("encoding changed (run with -update if intended):\n got %s\nwant %s", b, want)
	}
}

func TestEventCodecRejects(t *testing.T) {
	for _, in := range []string{``, `{`, `[]`, `{"raw":"not base64!"}`, `{"type":"vpcflow","fields":[1]}`, `{"time":"yesterday"}`} {
		if _, err := (EventCodec{}).Decode([]byte(in), nil); err == nil {
			t.Errorf("decoded %q", in)
		}
	}
}

func TestAlertCodec(t *testing.T) {
	c := JSONCodec[*detect.Alert]{ID: func(a *detect.Alert) string { return a.AlertID }}
	a := &detect.Alert{
		AlertID: "f00d", RuleID: "aws-cloudtrail-stopped", Title: "CloudTrail logging stopped", Severity: "high",
		GroupKey: "recipientAccountId=111122223333", FirstTime: eventTime, LastTime: eventTime.Add(time.Minute),
		Count: 2, EventIDs: []string{"e1", "e2"}, Tags: []string{"attack.t1562.008"}, LogType: ingest.TypeCloudTrail, RuleVersion: 1,
	}
	b, hs, err := c.Encode(a)
	if err != nil {
		t.Fatal(err)
	}
	if header(hs, HeaderID) != "f00d" {
		t.Errorf("headers %v lack the alert ID", hs)
	}
	back, err := c.Decode(b, hs)
	if err != nil || !reflect.DeepEqual(back, a) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	if _, err := c.Decode([]byte(`{"count":"many"}`), nil); err == nil {
		t.Error("decoded a count that is not a number")
	}
}

func TestLetterCodec(t *testing.T) {
	l := Letter{
		Topic: "vigil.alerts", Partition: 3, Offset: 42, Group: "notify",
		Value: []byte("{}"), Headers: []kafka.Header{{Key: HeaderID, Value: []byte("f00d")}},
		Reason: "webhook answered 410 Gone",
	}
	v, hs, err := LetterCodec{}.Encode(l)
	if err != nil {
		t.Fatal(err)
	}
	back, err := LetterCodec{}.Decode(v, hs)
	if err != nil || !reflect.DeepEqual(back, l) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	if _, err := (LetterCodec{}).Decode([]byte("x"), nil); err == nil {
		t.Error("decoded a message without dead-letter headers")
	}
	hs[len(hs)-2].Value = []byte("forty-two") // the offset
	if _, err := (LetterCodec{}).Decode(v, hs); err == nil {
		t.Error("decoded a letter with a bad offset")
	}
}

func FuzzEventCodec(f *testing.F) {
	for _, ev := range codecEvents {
		b, _, err := EventCodec{}.Encode(ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{`{}`, `{"type":"auditd","fields":{"n":1e400}}`, `{"type":"vpcflow","fields":{"a":[1,2.5,{"b":-0}]}}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := EventCodec{}.Decode(b, nil)
		if err != nil {
			return
		}
		again, _, err := EventCodec{}.Encode(ev)
		if err != nil {
			return // e.g. a float that JSON cannot hold
		}
		ev2, err := EventCodec{}.Decode(again, nil)
		if err != nil {
			t.Fatalf("re-encoded event does not decode: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(ev, ev2) {
			t.Fatalf("second round trip changed the event:\n%#v\n%#v", ev, ev2)
		}
	})
}

func TestLetterOf(t *testing.T) {
	m := storage.Message[rec]{Topic: "vigil.alerts", Partition: 1, Offset: 7, Key: []byte("k"), Value: rec{Key: "k", Seq: 3}}
	l, err := LetterOf(recCodec, "notify", m, "gave up")
	if err != nil {
		t.Fatal(err)
	}
	back, err := recCodec.Decode(l.Value, l.Headers)
	if err != nil || back != m.Value {
		t.Fatalf("letter value decodes to %+v, %v", back, err)
	}
	if l.Topic != m.Topic || l.Partition != 1 || l.Offset != 7 || string(l.Key) != "k" || l.Group != "notify" ||
		l.Reason != "gave up" || header(l.Headers, HeaderID) != "k/3" {
		t.Fatalf("letter %+v", l)
	}
	perr := &PoisonError{Message: kafka.Message{Topic: "vigil.events", Partition: 2, Offset: 9}, Err: errors.New("bad json")}
	if !errors.Is(perr, perr.Err) || !strings.Contains(perr.Error(), "vigil.events/2 offset 9: bad json") {
		t.Fatalf("poison error %q", perr)
	}
}
