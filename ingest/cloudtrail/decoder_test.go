package cloudtrail

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

// fixture returns the lines of testdata/records.ndjson.
func fixture(t testing.TB) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "records.ndjson"))
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

func summarize(evs []*ingest.Event) []summary {
	out := make([]summary, len(evs))
	for i, e := range evs {
		out[i] = summary{ID: e.ID, Time: e.Time.Format(time.RFC3339Nano), Norm: e.Norm}
	}
	return out
}

func TestGolden(t *testing.T) {
	in := bytes.Join(fixture(t), []byte("\n"))
	res := decode(t, Config{}, "file://records.ndjson", in)
	if res.err != nil || len(res.bad) != 0 {
		t.Fatalf("err %v, bad %v", res.err, res.bad)
	}
	got, err := json.MarshalIndent(summarize(res.events), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "records.golden.json")
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
	for i, e := range res.events {
		if e.Type != ingest.TypeCloudTrail || e.Source != "file://records.ndjson" || e.Time.Location() != time.UTC {
			t.Errorf("event %d: type %q source %q location %v", i, e.Type, e.Source, e.Time.Location())
		}
		if !bytes.Equal(e.Raw, fixture(t)[i]) {
			t.Errorf("event %d: Raw %s", i, e.Raw)
		}
		if e.Fields["eventName"] == nil {
			t.Errorf("event %d: Fields lack eventName: %v", i, e.Fields)
		}
	}
}

// envelope wraps records as messages of a CloudWatch Logs subscription.
func envelope(t testing.TB, typ string, recs [][]byte) []byte {
	t.Helper()
	type logEvent struct {
		ID        string `json:"id"`
		Timestamp int64  `json:"timestamp"`
		Message   string `json:"message"`
	}
	env := struct {
		MessageType string     `json:"messageType"`
		Owner       string     `json:"owner"`
		LogGroup    string     `json:"logGroup"`
		LogEvents   []logEvent `json:"logEvents"`
	}{MessageType: typ, Owner: "210987654321", LogGroup: "aws-cloudtrail-logs"}
	for i, r := range recs {
		env.LogEvents = append(env.LogEvents, logEvent{ID: fmt.Sprint(1000 + i), Timestamp: 1709640000000, Message: string(r)})
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInputForms(t *testing.T) {
	recs := fixture(t)
	joined := bytes.Join(recs, []byte(","))
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, []byte(`{"Records":[`+string(joined)+`]}`), "", "  "); err != nil {
		t.Fatal(err)
	}
	var prettyRecs bytes.Buffer
	for _, r := range recs {
		json.Indent(&prettyRecs, r, "", "\t")
		prettyRecs.WriteString("\n")
	}
	half := len(recs) / 2
	tests := []struct {
		name string
		src  string
		in   string
		want int
	}{
		{"ndjson", "f", string(bytes.Join(recs, []byte("\n"))), len(recs)},
		{"ndjson crlf and blank lines", "f", "\r\n" + string(bytes.Join(recs, []byte("\r\n\r\n"))) + "\r\n", len(recs)},
		{"records object", "f", `{"Records":[` + string(joined) + `]}`, len(recs)},
		{"records object pretty", "f", pretty.String(), len(recs)},
		{"records object with BOM", "f", "\xef\xbb\xbf" + `{"Records":[` + string(joined) + `]}`, len(recs)},
		{"records objects concatenated", "f", `{"Records":[` + string(bytes.Join(recs[:half], []byte(","))) + `]}{"Records":[` + string(bytes.Join(recs[half:], []byte(","))) + "]}\n", len(recs)},
		{"records key not first", "f", `{"Version":"1","Records":[` + string(joined) + `]}`, len(recs)},
		{"empty records", "f", `{"Records":[]}`, 0},
		{"top-level array", "f", "[" + string(joined) + "]", len(recs)},
		{"pretty records", "f", prettyRecs.String(), len(recs)},
		{"cloudwatch envelope", "f", string(envelope(t, "DATA_MESSAGE", recs)), len(recs)},
		{"cloudwatch envelopes per line", "f", string(envelope(t, "DATA_MESSAGE", recs[:half])) + "\n" + string(envelope(t, "DATA_MESSAGE", recs[half:])) + "\n", len(recs)},
		{"cloudwatch envelopes concatenated", "f", string(envelope(t, "DATA_MESSAGE", recs[:half])) + string(envelope(t, "DATA_MESSAGE", recs[half:])), len(recs)},
		{"cloudwatch control message", "f", string(envelope(t, "CONTROL_MESSAGE", [][]byte{[]byte("CWL CONTROL MESSAGE: Checking health of destination")})), 0},
		{"digest by name", "s3://b/AWSLogs/1/CloudTrail-Digest/us-east-1/2024/03/05/x.json.gz", `{"Records":[` + string(joined) + `]}`, 0},
		{"digest by keys", "f", `{"awsAccountId":"210987654321","digestStartTime":"2024-03-05T10:00:00Z","digestEndTime":"2024-03-05T11:00:00Z","digestPublicKeyFingerprint":"00aa","logFiles":[]}`, 0},
		{"records one element per line", "f", "{\"Records\": [\n" + string(recs[0]) + "\n]}\n", 1},
		{"records elements per line", "f", "{\"Records\": [\n" + string(bytes.Join(recs, []byte(",\n"))) + "\n]}\n", len(recs)},
		{"empty", "f", "", 0},
		{"white space", "f", " \n\t\n", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := decode(t, Config{}, tc.src, []byte(tc.in))
			if res.err != nil || len(res.bad) != 0 {
				t.Fatalf("err %v, bad %v", res.err, res.bad)
			}
			if len(res.events) != tc.want {
				t.Fatalf("got %d events, want %d", len(res.events), tc.want)
			}
			for i, e := range res.events {
				if !bytes.Equal(e.Raw, recs[i]) {
					t.Errorf("event %d Raw = %s, want %s", i, e.Raw, recs[i])
				}
				if eid, _ := e.Fields["eventID"].(string); eid != "" && e.ID != eid {
					t.Errorf("event %d: ID %q, want eventID %q", i, e.ID, eid)
				}
			}
		})
	}
}

// TestEnvelopeTime checks that a record without a time of its own takes
// the CloudWatch event timestamp.
func TestEnvelopeTime(t *testing.T) {
	recs := fixture(t)
	last := recs[len(recs)-1] // has no eventTime
	res := decode(t, Config{}, "f", envelope(t, "DATA_MESSAGE", [][]byte{last}))
	if len(res.events) != 1 || !res.events[0].Time.Equal(time.UnixMilli(1709640000000)) {
		t.Fatalf("events %v bad %v", res.events, res.bad)
	}
	if res = decode(t, Config{}, "f", last); len(res.events) != 1 || !res.events[0].Time.IsZero() {
		t.Fatalf("a record without time: events %v bad %v", res.events, res.bad)
	}
}

func TestStableIDs(t *testing.T) {
	recs := fixture(t)
	noID := recs[3] // has no eventID
	in := []byte(string(recs[0]) + "\n" + string(noID) + "\n")
	a, b := decode(t, Config{}, "s3://b/k1", in), decode(t, Config{}, "s3://b/k1", in)
	c := decode(t, Config{}, "s3://b/k2", in)
	if a.events[1].ID != b.events[1].ID || a.events[1].ID == c.events[1].ID {
		t.Fatalf("IDs not stable per source: %s %s %s", a.events[1].ID, b.events[1].ID, c.events[1].ID)
	}
	if want := ingest.StableID("cloudtrail", "s3://b/k1", "2"); a.events[1].ID != want {
		t.Fatalf("ID %s, want StableID of line 2 %s", a.events[1].ID, want)
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
	n0 := int64(len(r0))
	tests := []struct {
		name  string
		limit int
		in    string
		want  int // events
		bad   []badPos
	}{
		{"broken line", 0, r0 + "\n{\"eventName\":\n" + r1 + "\n", 2, []badPos{{2, n0 + 1, jsonstream.ErrTruncated}}},
		{"broken first line", 0, "{\"eventName\":\n" + r0 + "\n" + r1 + "\n", 2, []badPos{{1, 0, jsonstream.ErrTruncated}}},
		{"garbage line", 0, r0 + "\nnot json at all\n" + r1, 2, []badPos{{2, n0 + 1, jsonstream.ErrNotObject}}},
		{"invalid json inside braces", 0, r0 + "\n{\"eventName\" \"x\"}\n" + r1, 2, []badPos{{2, n0 + 1, nil}}},
		{"broken line after BOM", 0, "\xef\xbb\xbf" + r0 + "\n{\"eventName\":\n", 1, []badPos{{2, 3 + n0 + 1, jsonstream.ErrTruncated}}},
		{"not cloudtrail", 0, r0 + "\n{\"foo\":1}\n", 1, []badPos{{2, n0 + 1, errNotCloudTrail}}},
		{"eventName not a string", 0, r0 + "\n{\"eventName\":5}\n", 1, []badPos{{2, n0 + 1, errFieldType}}},
		{"line too long", 100, r0 + "\n{}\n", 0, []badPos{{1, 0, ingest.ErrRecordTooLarge}, {2, n0 + 1, errNotCloudTrail}}},
		{"malformed element", 0, `{"Records":[` + r0 + `,{"a" 1},` + r1 + `]}`, 2, []badPos{{0, 12 + n0 + 1, nil}}},
		{"non-object element", 0, `{"Records":[` + r0 + `,7,` + r1 + `]}`, 2, []badPos{{0, 12 + n0 + 1, jsonstream.ErrNotObject}}},
		{"truncated records object", 0, `{"Records":[` + r0 + `,` + r1[:40], 1, []badPos{{0, 12 + n0 + 1, jsonstream.ErrTruncated}}},
		{"truncated after element", 0, `{"Records":[` + r0 + `,`, 1, []badPos{{0, 12 + n0 + 1, jsonstream.ErrTruncated}}},
		{"element over cap", len(r1) + 10, `{"Records":[` + r1 + `,` + r0 + `,` + r1 + `]}`, 2, []badPos{{0, 12 + int64(len(r1)) + 1, ingest.ErrRecordTooLarge}}},
		{"truncated pretty record", 0, "{\n  \"eventName\": \"x\",\n  \"a\": [1, 2", 0, []badPos{{0, 0, jsonstream.ErrTruncated}}},
		{"log event without message", 0, `{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1"},{"id":"2","message":` + quote(r0) + `}]}`, 1, []badPos{{0, 43, jsonstream.ErrNoMessage}}},
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

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestRecordsObjectOverCap checks that a Records object larger than the
// record cap is streamed: only its elements are capped.
func TestRecordsObjectOverCap(t *testing.T) {
	recs := fixture(t)
	var b strings.Builder
	b.WriteString(`{"Records":[`)
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
	err = d.Decode(ctx, bytes.NewReader(in), "f", ingest.Handler{Event: func(*ingest.Event) error { n++; return nil }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
	readErr := errors.New("read failed")
	err = d.Decode(context.Background(), &failingReader{data: in[:100], err: readErr}, "f", ingest.Handler{Event: func(*ingest.Event) error { return nil }})
	if !errors.Is(err, readErr) {
		t.Fatalf("read error: %v", err)
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
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
		{"records object", `{"Records":[{"eventVersion":"1.08"`, true},
		{"records object spaced", "\n{ \"Records\" : [", true},
		{"ndjson record", string(recs[0]), true},
		{"top-level array", "[" + string(recs[1]), true},
		{"cloudwatch envelope", string(envelope(t, "DATA_MESSAGE", recs[:1])), true},
		{"digest", `{"awsAccountId":"1","digestStartTime":"2024-03-05T10:00:00Z"}`, true},
		{"k8s audit", `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"x","verb":"get"}`, false},
		{"vpc flow", "2 123456789010 eni-1 10.0.0.1 10.0.0.2 443 49152 6 10 840 1620000000 1620000060 ACCEPT OK", false},
		{"auditd", `type=SYSCALL msg=audit(1364481363.243:24287): arch=c000003e syscall=2`, false},
		{"text mentioning keys", `eventSource awsRegion`, false},
		{"empty", "", false},
	}
	for _, tc := range tests {
		if got := Sniff([]byte(tc.head)); got != tc.want {
			t.Errorf("%s: Sniff = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// corpusRecords returns the records held in field key of each line of an
// NDJSON corpus file.
func corpusRecords(t testing.TB, key, path string) [][]byte {
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
		line := append([]byte(nil), sc.Bytes()...)
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

// hasRecordKey reports whether a corpus record has any CloudTrail key, as
// the decoder requires.
func hasRecordKey(t testing.TB, rec []byte) bool {
	var m map[string]any
	if err := json.Unmarshal(rec, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range recordKeys {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

func TestCorpus(t *testing.T) {
	scenarios, _ := filepath.Glob(corpus.Path(t, "panther-analysis", "scenarios", "*cloudtrail*.ndjson"))
	type set struct {
		name string
		recs [][]byte
	}
	sets := []set{
		{"panther tests", corpusRecords(t, "log", corpus.Path(t, "panther-analysis", "tests_cloudtrail.ndjson"))},
		{"aws docs", corpusRecords(t, "event", corpus.Path(t, "aws-docs-cloudtrail", "aws_docs_cloudtrail_examples.ndjson"))},
		{"otrf", corpusRecords(t, "", corpus.Path(t, "otrf-security-datasets", "aws_cloudtrail_ec2_proxy_s3_exfiltration_2020-09-14011940.ndjson"))},
	}
	for _, s := range scenarios {
		sets = append(sets, set{filepath.Base(s), corpusRecords(t, "", s)})
	}
	for _, s := range sets {
		wantBad := 0
		for _, r := range s.recs {
			if !hasRecordKey(t, r) {
				wantBad++
			}
		}
		forms := map[string][]byte{
			"ndjson":  bytes.Join(s.recs, []byte("\n")),
			"records": []byte(`{"Records":[` + string(bytes.Join(s.recs, []byte(","))) + `]}`),
		}
		for form, in := range forms {
			t.Run(s.name+"/"+form, func(t *testing.T) {
				res := decode(t, Config{}, "corpus", in)
				if res.err != nil || len(res.bad) != wantBad || len(res.events)+wantBad != len(s.recs) {
					t.Fatalf("%d records: %d events, bad %v, err %v", len(s.recs), len(res.events), res.bad, res.err)
				}
				for _, e := range res.events {
					if e.ID == "" || e.Norm.Outcome == "" || !json.Valid(e.Raw) {
						t.Fatalf("incomplete event %+v", e)
					}
					if _, ok := e.Fields["eventTime"].(string); ok && e.Time.IsZero() && e.Fields["eventTime"] != "redacted" && e.Fields["eventTime"] != "..." {
						t.Errorf("eventTime %q not parsed", e.Fields["eventTime"])
					}
					if _, ok := e.Fields["@timestamp"].(string); ok && e.Time.IsZero() {
						t.Errorf("@timestamp %q not parsed", e.Fields["@timestamp"])
					}
				}
			})
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
	for _, p := range []string{
		corpus.Path(t, "otrf-security-datasets", "aws_cloudtrail_ec2_proxy_s3_exfiltration_2020-09-14011940.ndjson"),
		corpus.Path(t, "panther-analysis", "scenarios", "compromised-root-creds__victim_cloudtrail.ndjson"),
	} {
		if !Sniff(head(p)) {
			t.Errorf("%s: not recognised", p)
		}
	}
	others, _ := filepath.Glob(corpus.Path(t, "falco-k8s-audit", "test", "trace_files", "k8s_audit", "*.json"))
	others = append(others,
		corpus.Path(t, "panther-analysis", "scenarios", "compromised-root-creds__attacker_vpc.log"),
		corpus.Path(t, "otrf-security-datasets", "azure_syslog_auoms_auditd_log4shell_2022-05-11181020.ndjson"))
	for _, p := range others {
		if Sniff(head(p)) {
			t.Errorf("%s: taken for CloudTrail", p)
		}
	}
}
