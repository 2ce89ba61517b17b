package k8saudit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/corpus"
	"github.com/vigilsec/vigil/ingest/jsonstream"
)

var update = flag.Bool("update", false, "rewrite golden files")

// result is what one Decode call produced.
type result struct {
	events []*ingest.Event
	bad    []*ingest.DecodeError
	err    error
}

func decode(t testing.TB, c Config, src string, in []byte) result {
	t.Helper()
	d, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	var res result
	res.err = d.Decode(context.Background(), bytes.NewReader(in), src, ingest.Handler{
		Event: func(e *ingest.Event) error { res.events = append(res.events, e); return nil },
		Bad:   func(e *ingest.DecodeError) { res.bad = append(res.bad, e) },
	})
	return res
}

// fixture returns the lines of testdata/events.ndjson.
func fixture(t testing.TB) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "events.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(b), []byte("\n"))
}

// summary is the golden form of an event.
type summary struct {
	ID   string            `json:"id"`
	Time string            `json:"time"`
	Norm ingest.Normalized `json:"norm"`
}

func TestGolden(t *testing.T) {
	recs := fixture(t)
	res := decode(t, Config{}, "file://events.ndjson", bytes.Join(recs, []byte("\n")))
	if res.err != nil || len(res.bad) != 0 {
		t.Fatalf("err %v, bad %v", res.err, res.bad)
	}
	sums := make([]summary, len(res.events))
	for i, e := range res.events {
		sums[i] = summary{ID: e.ID, Time: e.Time.Format(time.RFC3339Nano), Norm: e.Norm}
		if e.Type != ingest.TypeK8sAudit || e.Source != "file://events.ndjson" || e.Time.Location() != time.UTC {
			t.Errorf("event %d: type %q source %q location %v", i, e.Type, e.Source, e.Time.Location())
		}
		if !bytes.Equal(e.Raw, recs[i]) {
			t.Errorf("event %d: Raw %s", i, e.Raw)
		}
		if e.Fields["verb"] == nil {
			t.Errorf("event %d: Fields lack verb: %v", i, e.Fields)
		}
	}
	got, err := json.MarshalIndent(sums, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "events.golden.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
		t.Errorf("events differ from %s (run with -update to accept):\n%s", golden, got)
	}
	if want := ingest.StableID("k8saudit", "5d0c8a4e-0001-4b1e-9a51-000000000001", "ResponseComplete"); res.events[0].ID != want {
		t.Errorf("ID %s, want StableID of auditID and stage %s", res.events[0].ID, want)
	}
	if want := ingest.StableID("k8saudit", "file://events.ndjson", "5"); res.events[4].ID != want {
		t.Errorf("ID %s, want StableID of source and line %s", res.events[4].ID, want)
	}
}

// envelope wraps events as messages of a CloudWatch Logs subscription, as
// EKS control-plane logging delivers them.
func envelope(t testing.TB, typ string, recs [][]byte) []byte {
	t.Helper()
	type logEvent struct {
		ID        string `json:"id"`
		Timestamp int64  `json:"timestamp"`
		Message   string `json:"message"`
	}
	env := struct {
		MessageType string     `json:"messageType"`
		LogGroup    string     `json:"logGroup"`
		LogStream   string     `json:"logStream"`
		LogEvents   []logEvent `json:"logEvents"`
	}{MessageType: typ, LogGroup: "/aws/eks/prod/cluster", LogStream: "kube-apiserver-audit-0123"}
	for i, r := range recs {
		env.LogEvents = append(env.LogEvents, logEvent{ID: fmt.Sprint(2000 + i), Timestamp: 1712044800000, Message: string(r)})
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInputForms(t *testing.T) {
	recs := fixture(t)
	joined := string(bytes.Join(recs, []byte(",")))
	list := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + joined + `]}`
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, []byte(list), "", "  "); err != nil {
		t.Fatal(err)
	}
	half := len(recs) / 2
	tests := []struct {
		name string
		in   string
		want int
	}{
		{"ndjson", string(bytes.Join(recs, []byte("\n"))) + "\n", len(recs)},
		{"ndjson crlf", string(bytes.Join(recs, []byte("\r\n"))), len(recs)},
		{"event list", list, len(recs)},
		{"event list pretty", pretty.String(), len(recs)},
		{"event list v1beta1 items first", `{"items":[` + joined + `],"kind":"EventList","apiVersion":"audit.k8s.io/v1beta1"}`, len(recs)},
		{"empty event list", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":null}`, 0},
		{"top-level array", "[" + joined + "]", len(recs)},
		{"cloudwatch envelope", string(envelope(t, "DATA_MESSAGE", recs)), len(recs)},
		{"cloudwatch envelopes per line", string(envelope(t, "DATA_MESSAGE", recs[:half])) + "\n" + string(envelope(t, "DATA_MESSAGE", recs[half:])), len(recs)},
		{"cloudwatch control message", string(envelope(t, "CONTROL_MESSAGE", [][]byte{[]byte("CWL CONTROL MESSAGE")})), 0},
		{"event list items per line", "{\"kind\":\"EventList\",\"items\":[\n" + string(bytes.Join(recs, []byte(",\n"))) + "\n]}", len(recs)},
		{"empty", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := decode(t, Config{}, "f", []byte(tc.in))
			if res.err != nil || len(res.bad) != 0 {
				t.Fatalf("err %v, bad %v", res.err, res.bad)
			}
			if len(res.events) != tc.want {
				t.Fatalf("got %d events, want %d", len(res.events), tc.want)
			}
			for i, e := range res.events {
				if !bytes.Equal(e.Raw, recs[i]) {
					t.Errorf("event %d Raw = %s", i, e.Raw)
				}
			}
		})
	}
}

func TestEnvelopeTime(t *testing.T) {
	noTime := []byte(`{"kind":"Event","verb":"get","requestURI":"/version"}`)
	res := decode(t, Config{}, "f", envelope(t, "DATA_MESSAGE", [][]byte{noTime}))
	if len(res.events) != 1 || !res.events[0].Time.Equal(time.UnixMilli(1712044800000)) {
		t.Fatalf("events %v bad %v", res.events, res.bad)
	}
	if res = decode(t, Config{}, "f", noTime); len(res.events) != 1 || !res.events[0].Time.IsZero() {
		t.Fatalf("an event without time: events %v bad %v", res.events, res.bad)
	}
}

// badPos is where a DecodeError is expected.
type badPos struct {
	line int
	off  int64
	err  error // nil: any error
}

func TestBadRecords(t *testing.T) {
	recs := fixture(t)
	r0, r1 := string(recs[0]), string(recs[1])
	if len(r1) >= len(r0) {
		t.Fatal("fixture: event 1 must be shorter than event 0")
	}
	n0 := int64(len(r0))
	const list = `{"kind":"EventList","items":[`
	nl := int64(len(list))
	tests := []struct {
		name  string
		limit int
		in    string
		want  int
		bad   []badPos
	}{
		{"kind 0", 0, r0 + "\n" + `{"kind": 0}` + "\n" + r1, 2, []badPos{{2, n0 + 1, errKind}}},
		{"kind 0 alone", 0, `{"kind": 0}`, 0, []badPos{{1, 0, errKind}}},
		{"other kind", 0, r0 + "\n" + `{"kind":"Pod","verb":"get"}`, 1, []badPos{{2, n0 + 1, errKind}}},
		{"other api version", 0, r0 + "\n" + `{"apiVersion":"v1","verb":"get"}`, 1, []badPos{{2, n0 + 1, errVersion}}},
		{"verb not a string", 0, r0 + "\n" + `{"kind":"Event","verb":["get"]}`, 1, []badPos{{2, n0 + 1, errFieldType}}},
		{"no audit keys", 0, r0 + "\n{}\n", 1, []badPos{{2, n0 + 1, errNotEvent}}},
		{"broken line", 0, r0 + "\n{\"kind\":\"Event\",\n" + r1, 2, []badPos{{2, n0 + 1, jsonstream.ErrTruncated}}},
		{"broken first line", 0, "{\"kind\":\"Event\",\n" + r0 + "\n" + r1, 2, []badPos{{1, 0, jsonstream.ErrTruncated}}},
		{"line too long", len(r1) + 10, r1 + "\n" + r0 + "\n" + r1, 2, []badPos{{2, int64(len(r1)) + 1, ingest.ErrRecordTooLarge}}},
		{"malformed item", 0, list + r0 + `,{"kind":}` + `,` + r1 + `]}`, 2, []badPos{{0, nl + n0 + 1, nil}}},
		{"kind 0 item", 0, list + r0 + `,{"kind":0},` + r1 + `]}`, 2, []badPos{{0, nl + n0 + 1, errKind}}},
		{"truncated list", 0, list + r0 + `,` + r1[:50], 1, []badPos{{0, nl + n0 + 1, jsonstream.ErrTruncated}}},
		{"item over cap", len(r1) + 10, list + r1 + `,` + r0 + `,` + r1 + `]}`, 2, []badPos{{0, nl + int64(len(r1)) + 1, ingest.ErrRecordTooLarge}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := decode(t, Config{Limits: ingest.Limits{MaxRecordBytes: tc.limit}}, "src", []byte(tc.in))
			if res.err != nil {
				t.Fatal(res.err)
			}
			if len(res.events) != tc.want {
				t.Errorf("got %d events, want %d", len(res.events), tc.want)
			}
			if len(res.bad) != len(tc.bad) {
				t.Fatalf("bad = %v, want %v", res.bad, tc.bad)
			}
			for i, w := range tc.bad {
				g := res.bad[i]
				if g.Source != "src" || g.Line != w.line || g.Offset != w.off || w.err != nil && !errors.Is(g, w.err) {
					t.Errorf("bad[%d] = line %d offset %d %v; want line %d offset %d %v", i, g.Line, g.Offset, g.Err, w.line, w.off, w.err)
				}
			}
		})
	}
}

// TestEventListOverCap checks that an EventList larger than the record cap
// is streamed: only its items are capped.
func TestEventListOverCap(t *testing.T) {
	recs := fixture(t)
	var b strings.Builder
	b.WriteString(`{"kind":"EventList","items":[`)
	n := 0
	for b.Len() < 200<<10 {
		if n > 0 {
			b.WriteByte(',')
		}
		b.Write(recs[n%len(recs)])
		n++
	}
	b.WriteString("]}")
	res := decode(t, Config{Limits: ingest.Limits{MaxRecordBytes: 2048}}, "f", []byte(b.String()))
	if res.err != nil || len(res.bad) != 0 || len(res.events) != n {
		t.Fatalf("events %d of %d, bad %v, err %v", len(res.events), n, res.bad, res.err)
	}
}

func TestStops(t *testing.T) {
	in := bytes.Join(fixture(t), []byte("\n"))
	d, _ := New(Config{})
	stop := errors.New("stop")
	n := 0
	err := d.Decode(context.Background(), bytes.NewReader(in), "f", ingest.Handler{Event: func(*ingest.Event) error {
		n++
		return stop
	}})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("handler error: %v after %d events", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Decode(ctx, bytes.NewReader(in), "f", ingest.Handler{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
}

func TestNew(t *testing.T) {
	if _, err := New(Config{Limits: ingest.Limits{MaxRecordBytes: -1}}); err == nil {
		t.Fatal("negative MaxRecordBytes accepted")
	}
}

func TestSniff(t *testing.T) {
	recs := fixture(t)
	tests := []struct {
		name string
		head string
		want bool
	}{
		{"v1 event", string(recs[0]), true},
		{"event without apiVersion", string(recs[2]), true},
		{"kind and verb only", `{"kind": "Event", "verb": "get"}`, true},
		{"event list", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}`, true},
		{"cloudwatch envelope", string(envelope(t, "DATA_MESSAGE", recs[:1])), true},
		{"array", "[" + string(recs[1]) + "]", true},
		{"kind 0", `{"kind":0}`, false},
		{"cloudtrail", `{"Records":[{"eventVersion":"1.08","eventSource":"iam.amazonaws.com","awsRegion":"us-east-1"}]}`, false},
		{"kubernetes object", `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"x"}}`, false},
		{"vpc flow", "2 123456789010 eni-1 10.0.0.1 10.0.0.2 443 49152 6 10 840 1620000000 1620000060 ACCEPT OK", false},
		{"text", "auditID", false},
		{"empty", "", false},
	}
	for _, tc := range tests {
		if got := Sniff([]byte(tc.head)); got != tc.want {
			t.Errorf("%s: Sniff = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// corpusLines returns the non-blank lines of a corpus file, or the value
// of field key of each line when key is set.
func corpusLines(t testing.TB, key, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		line = append([]byte(nil), line...)
		if key != "" {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatal(err)
			}
			var c bytes.Buffer
			if err := json.Compact(&c, m[key]); err != nil {
				t.Fatal(err)
			}
			line = c.Bytes()
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// falcoTraces returns the falco trace files.
func falcoTraces(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(corpus.Path(t, "falco-k8s-audit", "test", "trace_files", "k8s_audit", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no falco trace files: %v", err)
	}
	return files
}

func TestCorpusPanther(t *testing.T) {
	recs := corpusLines(t, "log", corpus.Path(t, "panther-analysis", "tests_k8s_audit_eks.ndjson"))
	for form, in := range map[string][]byte{
		"ndjson":     bytes.Join(recs, []byte("\n")),
		"event list": []byte(`{"kind":"EventList","items":[` + string(bytes.Join(recs, []byte(","))) + `]}`),
		"cloudwatch": envelope(t, "DATA_MESSAGE", recs),
	} {
		res := decode(t, Config{}, "corpus", in)
		if res.err != nil || len(res.bad) != 0 || len(res.events) != len(recs) {
			t.Fatalf("%s: %d events of %d, bad %v, err %v", form, len(res.events), len(recs), res.bad, res.err)
		}
		for _, e := range res.events {
			for _, k := range []string{"stageTimestamp", "requestReceivedTimestamp"} {
				if _, ok := e.Fields[k].(string); ok && e.Time.IsZero() {
					t.Errorf("%s: %s %q not parsed", form, k, e.Fields[k])
				}
			}
		}
	}
}

func TestCorpusFalco(t *testing.T) {
	for _, f := range falcoTraces(t) {
		in, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res := decode(t, Config{}, f, in)
		if res.err != nil {
			t.Fatal(res.err)
		}
		lines := len(corpusLines(t, "", f))
		if filepath.Base(f) == "fal_01_003.json" {
			if len(res.events) != 0 || len(res.bad) != 1 || res.bad[0].Line != 1 || !errors.Is(res.bad[0], errKind) {
				t.Errorf("%s: events %v, bad %v; want the malformed event reported at line 1", f, res.events, res.bad)
			}
			continue
		}
		if len(res.bad) != 0 || len(res.events) != lines {
			t.Errorf("%s: %d events of %d, bad %v", f, len(res.events), lines, res.bad)
		}
		for _, e := range res.events {
			if e.Time.IsZero() || e.Norm.Action == "" || e.Norm.Actor == "" {
				t.Errorf("%s: incomplete event %+v", f, e)
			}
		}
	}
}

func TestSniffCorpus(t *testing.T) {
	head := func(path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b[:min(len(b), 64<<10)]
	}
	for _, p := range falcoTraces(t) {
		if want := filepath.Base(p) != "fal_01_003.json"; Sniff(head(p)) != want {
			t.Errorf("%s: Sniff = %v, want %v", p, !want, want)
		}
	}
	for _, p := range []string{
		corpus.Path(t, "otrf-security-datasets", "aws_cloudtrail_ec2_proxy_s3_exfiltration_2020-09-14011940.ndjson"),
		corpus.Path(t, "panther-analysis", "scenarios", "compromised-root-creds__attacker_vpc.log"),
		corpus.Path(t, "otrf-security-datasets", "azure_syslog_auoms_auditd_log4shell_2022-05-11181020.ndjson"),
	} {
		if Sniff(head(p)) {
			t.Errorf("%s: taken for Kubernetes audit", p)
		}
	}
}
