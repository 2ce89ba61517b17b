package vpcflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/ingest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// v5Format is the format of testdata/v5_*.log as written in a flow log
// definition.
const v5Format = "${version} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${start} ${end} ${type} ${packets} ${bytes} ${account-id} ${vpc-id} ${subnet-id} ${instance-id} ${interface-id} ${region} ${az-id} ${sublocation-type} ${sublocation-id} ${action} ${tcp-flags} ${pkt-srcaddr} ${pkt-dstaddr} ${pkt-src-aws-service} ${pkt-dst-aws-service} ${traffic-path} ${flow-direction} ${log-status}"

// result is what a Decode call produced, in order.
type result struct {
	events []*ingest.Event
	bad    []*ingest.DecodeError
	out    []any // events and bad records interleaved, as they came
}

func decode(t testing.TB, c Config, src string, in []byte) result {
	t.Helper()
	d, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	var r result
	err = d.Decode(context.Background(), bytes.NewReader(in), src, ingest.Handler{
		Event: func(e *ingest.Event) error {
			r.events = append(r.events, e)
			r.out = append(r.out, e)
			return nil
		},
		Bad: func(e *ingest.DecodeError) {
			r.bad = append(r.bad, e)
			r.out = append(r.out, e)
		},
	})
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return r
}

// golden renders r one JSON object per line: events with their fields,
// normalized fields, time and raw line; bad records with their error.
func (r result) golden(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, o := range r.out {
		var v any
		switch o := o.(type) {
		case *ingest.Event:
			v = struct {
				ID     string            `json:"id"`
				Time   string            `json:"time"`
				Raw    string            `json:"raw"`
				Fields map[string]any    `json:"fields"`
				Norm   ingest.Normalized `json:"norm"`
			}{o.ID, o.Time.Format(time.RFC3339Nano), string(o.Raw), o.Fields, o.Norm}
		case *ingest.DecodeError:
			v = map[string]any{"bad": o.Error(), "offset": o.Offset}
		}
		line, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func TestDecodeGolden(t *testing.T) {
	tests := []struct {
		name   string
		format string // Config.Format
	}{
		{"v2", ""},
		{"v3_s3", ""},
		{"v5_s3", ""},
		{"v5_cloudwatch", v5Format},
		{"v8_ecs", ""},
		{"concat", ""},
		{"nat_custom", "${instance-id} ${interface-id} ${srcaddr} ${dstaddr} ${pkt-srcaddr} ${pkt-dstaddr}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", tt.name+".log"))
			if err != nil {
				t.Fatal(err)
			}
			got := decode(t, Config{Format: tt.format}, "file://"+tt.name+".log", in).golden(t)
			path := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s:\n got:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

// TestHeaderAndConfiguredFormatAgree decodes the same records once after a
// header line (S3) and once with the format configured (CloudWatch Logs).
func TestHeaderAndConfiguredFormatAgree(t *testing.T) {
	s3, err := os.ReadFile("testdata/v5_s3.log")
	if err != nil {
		t.Fatal(err)
	}
	cw, err := os.ReadFile("testdata/v5_cloudwatch.log")
	if err != nil {
		t.Fatal(err)
	}
	a := decode(t, Config{}, "s3", s3)
	b := decode(t, Config{Format: v5Format}, "cw", cw)
	if len(a.events) != 3 || len(b.events) != 3 || len(a.bad)+len(b.bad) != 0 {
		t.Fatalf("got %d and %d events, %d and %d bad", len(a.events), len(b.events), len(a.bad), len(b.bad))
	}
	for i := range a.events {
		ja, _ := json.Marshal(a.events[i].Fields)
		jb, _ := json.Marshal(b.events[i].Fields)
		if !bytes.Equal(ja, jb) || a.events[i].Norm != b.events[i].Norm || !a.events[i].Time.Equal(b.events[i].Time) {
			t.Errorf("record %d differs:\n%s\n%s", i, ja, jb)
		}
	}
}

func TestBadLines(t *testing.T) {
	lines := []string{
		"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 100 200 ACCEPT OK", // 1 ok
		"", // 2 blank
		"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 100 200 ACCEPT",                     // 3 short
		"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 100 200 ACCEPT OK extra",            // 4 long
		"2 1 eni-1 10.0.0.1 10.0.0.2 one 2 6 1 1 100 200 ACCEPT OK",                // 5 bad int
		"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 100 99999999999999999999 ACCEPT OK", // 6 overflow
		strings.Repeat("x ", 300),                                                  // 7 far too many fields
		"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 100 200 REJECT OK",                  // 8 ok, no newline
	}
	in := strings.Join(lines, "\n")
	offsets := make([]int64, len(lines))
	for i := 1; i < len(lines); i++ {
		offsets[i] = offsets[i-1] + int64(len(lines[i-1])) + 1
	}
	r := decode(t, Config{}, "f.log", []byte(in))
	if len(r.events) != 2 {
		t.Fatalf("got %d events, want 2", len(r.events))
	}
	want := []struct {
		line int
		err  error
		text string
	}{
		{3, ErrFieldCount, "f.log:3: wrong number of fields: 13, format has 14"},
		{4, ErrFieldCount, "f.log:4: wrong number of fields: 15, format has 14"},
		{5, ErrBadInteger, `f.log:5: invalid integer in srcport: "one"`},
		{6, ErrBadInteger, `f.log:6: invalid integer in end: "99999999999999999999"`},
		{7, ErrFieldCount, "f.log:7: wrong number of fields: more than 256, format has 14"},
	}
	if len(r.bad) != len(want) {
		t.Fatalf("got %d bad lines, want %d: %v", len(r.bad), len(want), r.bad)
	}
	for i, w := range want {
		b := r.bad[i]
		if b.Line != w.line || !errors.Is(b, w.err) || b.Error() != w.text || b.Source != "f.log" {
			t.Errorf("bad %d: got %q (line %d), want %q", i, b.Error(), b.Line, w.text)
		}
		if b.Offset != offsets[w.line-1] {
			t.Errorf("bad %d: offset %d, want %d", i, b.Offset, offsets[w.line-1])
		}
	}
	if r.events[1].ID != ingest.StableID("vpcflow", "f.log", "8") {
		t.Errorf("last event ID %s is not the StableID of line 8", r.events[1].ID)
	}
}

func TestRecordSizeCap(t *testing.T) {
	ok := "2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 100 200 ACCEPT OK"
	long := "2 1 eni-" + strings.Repeat("a", 200) + " 10.0.0.1 10.0.0.2 1 2 6 1 1 100 200 ACCEPT OK"
	in := ok + "\n" + long + "\n" + ok + "\n"
	r := decode(t, Config{Limits: ingest.Limits{MaxRecordBytes: 100}}, "cap", []byte(in))
	if len(r.events) != 2 || len(r.bad) != 1 {
		t.Fatalf("got %d events, %d bad; want 2 and 1", len(r.events), len(r.bad))
	}
	if b := r.bad[0]; b.Line != 2 || b.Offset != int64(len(ok)+1) || !errors.Is(b, ingest.ErrRecordTooLarge) {
		t.Errorf("bad record: %v (line %d offset %d)", b, b.Line, b.Offset)
	}
	if r.events[1].ID != ingest.StableID("vpcflow", "cap", "3") {
		t.Errorf("line numbering broken after an over-long line")
	}
}

func TestNorm(t *testing.T) {
	const v3 = "version vpc-id instance-id interface-id account-id region srcaddr dstaddr srcport dstport protocol start end action log-status\n"
	tests := []struct {
		name string
		in   string
		time time.Time
		want ingest.Normalized
	}{
		{
			name: "accept",
			in:   "2 111122223333 eni-1 198.51.100.1 10.0.0.5 50000 22 6 3 120 1600000000 1600000060 ACCEPT OK",
			time: time.Unix(1600000000, 0),
			want: ingest.Normalized{Account: "111122223333", Actor: "eni-1", Action: "ACCEPT", Target: "10.0.0.5:22",
				SrcIP: "198.51.100.1", DstIP: "10.0.0.5", SrcPort: 50000, DstPort: 22, Protocol: "tcp", Outcome: "success"},
		},
		{
			name: "reject udp",
			in:   "2 111122223333 eni-1 10.0.0.5 192.0.2.1 123 123 17 1 76 1600000000 1600000060 REJECT OK",
			time: time.Unix(1600000000, 0),
			want: ingest.Normalized{Account: "111122223333", Actor: "eni-1", Action: "REJECT", Target: "192.0.2.1:123",
				SrcIP: "10.0.0.5", DstIP: "192.0.2.1", SrcPort: 123, DstPort: 123, Protocol: "udp", Outcome: "failure"},
		},
		{
			name: "nodata",
			in:   "2 111122223333 eni-1 - - - - - - - 1600000000 1600000060 - NODATA",
			time: time.Unix(1600000000, 0),
			want: ingest.Normalized{Account: "111122223333", Actor: "eni-1"},
		},
		{
			name: "ipv6 canonical, no ports",
			in:   "2 111122223333 eni-1 2001:DB8::0:1 2001:0db8::2 - - 58 1 64 1600000000 1600000060 ACCEPT OK",
			time: time.Unix(1600000000, 0),
			want: ingest.Normalized{Account: "111122223333", Actor: "eni-1", Action: "ACCEPT", Target: "2001:db8::2",
				SrcIP: "2001:db8::1", DstIP: "2001:db8::2", Protocol: "icmpv6", Outcome: "success"},
		},
		{
			name: "ipv6 target with port",
			in:   "2 111122223333 eni-1 2001:db8::1 2001:db8::2 40000 443 6 1 64 1600000000 1600000060 ACCEPT OK",
			time: time.Unix(1600000000, 0),
			want: ingest.Normalized{Account: "111122223333", Actor: "eni-1", Action: "ACCEPT", Target: "[2001:db8::2]:443",
				SrcIP: "2001:db8::1", DstIP: "2001:db8::2", SrcPort: 40000, DstPort: 443, Protocol: "tcp", Outcome: "success"},
		},
		{
			name: "leading zeros kept",
			in:   "2 111122223333 eni-1 010.0.0.01 10.0.0.5 1 2 47 1 64 1600000000 1600000060 ACCEPT OK",
			time: time.Unix(1600000000, 0),
			want: ingest.Normalized{Account: "111122223333", Actor: "eni-1", Action: "ACCEPT", Target: "10.0.0.5:2",
				SrcIP: "010.0.0.01", DstIP: "10.0.0.5", SrcPort: 1, DstPort: 2, Protocol: "47", Outcome: "success"},
		},
		{
			name: "instance is the actor, region, end as time",
			in:   v3 + "3 vpc-1 i-0abc eni-1 111122223333 eu-north-1 10.0.0.1 10.0.0.2 1 2 6 - 1600000099 ACCEPT OK",
			time: time.Unix(1600000099, 0),
			want: ingest.Normalized{Account: "111122223333", Region: "eu-north-1", Actor: "i-0abc", Action: "ACCEPT", Target: "10.0.0.2:2",
				SrcIP: "10.0.0.1", DstIP: "10.0.0.2", SrcPort: 1, DstPort: 2, Protocol: "tcp", Outcome: "success"},
		},
		{
			name: "no instance, no times",
			in:   v3 + "3 vpc-1 - eni-1 111122223333 - 10.0.0.1 10.0.0.2 1 2 6 - - REJECT OK",
			want: ingest.Normalized{Account: "111122223333", Actor: "eni-1", Action: "REJECT", Target: "10.0.0.2:2",
				SrcIP: "10.0.0.1", DstIP: "10.0.0.2", SrcPort: 1, DstPort: 2, Protocol: "tcp", Outcome: "failure"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := decode(t, Config{}, "n", []byte(tt.in))
			if len(r.events) != 1 || len(r.bad) != 0 {
				t.Fatalf("got %d events, bad %v", len(r.events), r.bad)
			}
			e := r.events[0]
			if e.Norm != tt.want {
				t.Errorf("Norm:\n got %+v\nwant %+v", e.Norm, tt.want)
			}
			want := tt.time
			if !want.IsZero() {
				want = want.UTC()
			}
			if e.Time != want {
				t.Errorf("Time = %v, want %v", e.Time, want)
			}
			if e.Type != ingest.TypeVPCFlow || e.Source != "n" {
				t.Errorf("Type %q Source %q", e.Type, e.Source)
			}
		})
	}
}

func TestFieldValues(t *testing.T) {
	r := decode(t, Config{}, "v", []byte("2 123 eni-1 10.0.0.1 10.0.0.2 - 53 17 - 0 100 200 ACCEPT OK\n"))
	want := map[string]any{
		"version": 2, "account_id": "123", "interface_id": "eni-1", "srcaddr": "10.0.0.1", "dstaddr": "10.0.0.2",
		"dstport": 53, "protocol": 17, "protocol_name": "udp", "bytes": 0, "start": 100, "end": 200,
		"action": "ACCEPT", "log_status": "OK",
	}
	got := r.events[0].Fields
	if len(got) != len(want) {
		t.Errorf("got %d fields %v, want %d", len(got), got, len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
}

func TestRawIsCopied(t *testing.T) {
	in := []byte("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 100 200 ACCEPT OK\r\n2 1 eni-2 10.0.0.1 10.0.0.2 1 2 6 1 1 100 200 ACCEPT OK\n")
	r := decode(t, Config{}, "raw", in)
	for i := range in {
		in[i] = 'z'
	}
	if got := string(r.events[0].Raw); got != "2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 100 200 ACCEPT OK" {
		t.Errorf("Raw = %q", got)
	}
	if got := r.events[1].Fields["interface_id"]; got != "eni-2" {
		t.Errorf("interface_id = %v", got)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		format string
		ok     bool
		cols   int
	}{
		{"", true, 14},
		{"   ", true, 14},
		{DefaultFormat, true, 14},
		{"${version} ${vpc-id} ${srcaddr}", true, 3},
		{"version\tvpc-id  srcaddr", true, 3},
		{"srcaddr ${new-field-from-the-future}", true, 2},
		{"srcaddr srcaddr", false, 0},
		{"srcaddr ${srcaddr}", false, 0},
		{"srcaddr Dstaddr", false, 0},
		{"srcaddr dst_addr", false, 0},
		{"srcaddr ${dstaddr", false, 0},
		{"srcaddr dstaddr-", false, 0},
		{strings.Repeat("x ", 257), false, 0},
	}
	for _, tt := range tests {
		d, err := New(Config{Format: tt.format})
		if (err == nil) != tt.ok {
			t.Errorf("New(%.40q): err %v, want ok=%v", tt.format, err, tt.ok)
			continue
		}
		if err == nil && len(d.format.cols) != tt.cols {
			t.Errorf("New(%q): %d columns, want %d", tt.format, len(d.format.cols), tt.cols)
		}
		if err != nil && !errors.Is(err, errFormat) {
			t.Errorf("New(%q): error %v does not wrap errFormat", tt.format, err)
		}
	}
}

func TestHeaderFormat(t *testing.T) {
	tests := []struct {
		line   string
		header bool
	}{
		{DefaultFormat, true},
		{"version vpc-id srcaddr future-a", true},
		{"${version} ${srcaddr}", true},
		{"srcaddr", true},
		{"version future-a future-b", false},
		{"vpc-0abc subnet-0def", false},
		{"eu-west-1 ingress egress", false},
		{"2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 100 200 ACCEPT OK", false},
		{"version Srcaddr", false},
		{"version version", false},
	}
	for _, tt := range tests {
		if got := headerFormat(splitFields(tt.line)) != nil; got != tt.header {
			t.Errorf("headerFormat(%q) = %v, want %v", tt.line, got, tt.header)
		}
	}
}

func TestSniff(t *testing.T) {
	tests := []struct {
		name string
		head string
		want bool
	}{
		{"v2 record", "2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 100 200 ACCEPT OK\n2 ...", true},
		{"nodata", "2 123 eni-1 - - - - - - - 100 200 - NODATA\n", true},
		{"header", DefaultFormat + "\n", true},
		{"custom header", "version vpc-id srcaddr dstaddr action log-status\r\n3 vpc-1", true},
		{"blank lines and bom first", "\xef\xbb\xbf\n\n  \n" + DefaultFormat, true},
		{"truncated single line", "2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 100 200 ACCEPT OK", true},
		{"empty", "", false},
		{"json", `{"Records":[{"eventVersion":"1.08"}]}`, false},
		{"auditd", "type=SYSCALL msg=audit(1364481363.243:24287): arch=c000003e syscall=2\n", false},
		{"13 fields", "2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 100 200 ACCEPT\n", false},
		{"bad integer", "2 123 eni-1 10.0.0.1 10.0.0.2 x 2 6 1 1 100 200 ACCEPT OK\n", false},
		{"bad action", "2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 100 200 ALLOW OK\n", false},
		{"bad status", "2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 100 200 ACCEPT FINE\n", false},
		{"header with unknown name", "version srcaddr dstaddr something-else\n", false},
		{"prose", "the quick brown fox\n", false},
	}
	for _, tt := range tests {
		if got := Sniff([]byte(tt.head)); got != tt.want {
			t.Errorf("%s: Sniff = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestHandlerErrorStops(t *testing.T) {
	d, _ := New(Config{})
	stop := errors.New("stop")
	n := 0
	in := strings.Repeat("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 100 200 ACCEPT OK\n", 5)
	err := d.Decode(context.Background(), strings.NewReader(in), "s", ingest.Handler{Event: func(*ingest.Event) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	}})
	if !errors.Is(err, stop) || n != 2 {
		t.Errorf("err %v after %d events, want stop after 2", err, n)
	}
}

func TestContextCanceled(t *testing.T) {
	d, _ := New(Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := d.Decode(ctx, strings.NewReader(DefaultFormat+"\n"), "s", ingest.Handler{Event: func(*ingest.Event) error { return nil }})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// errReader fails after its content.
type errReader struct{ r io.Reader }

func (e errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, ingest.ErrDecompressedTooLarge
	}
	return n, err
}

func TestReadErrorStops(t *testing.T) {
	d, _ := New(Config{})
	n := 0
	in := "2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 100 200 ACCEPT OK\n"
	err := d.Decode(context.Background(), errReader{strings.NewReader(in)}, "s", ingest.Handler{Event: func(*ingest.Event) error { n++; return nil }})
	if !errors.Is(err, ingest.ErrDecompressedTooLarge) || n != 1 {
		t.Errorf("err %v after %d events", err, n)
	}
}
