package jsonstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/vigilsec/vigil/ingest"
)

// found is what Split passed to a handler, in the order passed.
type found struct {
	recs []got
	bad  []bad
	err  error
}

// got is the test's copy of a Record.
type got struct {
	raw       string
	off       int64
	line      int
	container string
	pos       string
	time      time.Time
}

// bad is one malformed record: err nil means any error.
type bad struct {
	off  int64
	line int
	err  error
}

var testContainers = []string{"Records", "items"}

func split(t testing.TB, max int, r io.Reader) found {
	t.Helper()
	var f found
	f.err = Split(context.Background(), r, Config{Containers: testContainers, MaxRecordBytes: max}, Handler{
		Record: func(r *Record) error {
			f.recs = append(f.recs, got{string(r.Raw), r.Offset, r.Line, r.Container, r.Position(), r.Time})
			return nil
		},
		Bad: func(off int64, line int, err error) { f.bad = append(f.bad, bad{off, line, err}) },
	})
	return f
}

// Records of splitTests.
const a, b = `{"a":1}`, `{"b":"x y"}`

// cw is the time of the CloudWatch Logs event of splitTests.
var cw = time.UnixMilli(1712044800000).UTC()

// splitTests are the cases of TestSplit and the seeds of FuzzSplit.
var splitTests = []struct {
	name string
	max  int
	in   string
	recs []got
	bad  []bad
}{
	{"empty", 0, "", nil, nil},
	{"white space", 0, " \n\t\r\n", nil, nil},
	{"ndjson", 0, a + "\n" + b + "\n", []got{{a, 0, 1, "", "1", time.Time{}}, {b, 8, 2, "", "2", time.Time{}}}, nil},
	{"ndjson crlf and blank lines", 0, "\r\n" + a + "\r\n\r\n" + b, []got{{a, 2, 2, "", "2", time.Time{}}, {b, 13, 4, "", "4", time.Time{}}}, nil},
	{"ndjson two on a line", 0, a + "\n" + a + b + "\n", []got{{a, 0, 1, "", "1", time.Time{}}, {a, 8, 2, "", "2", time.Time{}}, {b, 15, 2, "", "@15", time.Time{}}}, nil},
	{"ndjson byte-order mark", 0, "\xef\xbb\xbf" + a + "\n" + b, []got{{a, 3, 1, "", "1", time.Time{}}, {b, 11, 2, "", "2", time.Time{}}}, nil},
	{"ndjson broken line", 0, a + "\n{\"a\":\n" + b, []got{{a, 0, 1, "", "1", time.Time{}}, {b, 14, 3, "", "3", time.Time{}}}, []bad{{8, 2, ErrTruncated}}},
	{"ndjson broken first line", 0, "{\"a\":\n" + a + "\n" + b, []got{{a, 6, 2, "", "2", time.Time{}}, {b, 14, 3, "", "3", time.Time{}}}, []bad{{0, 1, ErrTruncated}}},
	{"ndjson garbage line", 0, a + "\nnot json\n" + b, []got{{a, 0, 1, "", "1", time.Time{}}, {b, 17, 3, "", "3", time.Time{}}}, []bad{{8, 2, ErrNotObject}}},
	{"ndjson line over cap", 10, a + "\n" + `{"long":"value"}` + "\n" + a, []got{{a, 0, 1, "", "1", time.Time{}}, {a, 25, 3, "", "3", time.Time{}}}, []bad{{8, 2, ingest.ErrRecordTooLarge}}},
	{"pretty object", 0, "{\n  \"a\": [1, 2],\n  \"b\": \"x y\"\n}\n", []got{{`{"a":[1,2],"b":"x y"}`, 0, 0, "", "@0", time.Time{}}}, nil},
	{"pretty objects", 0, "{\n\"a\": 1\n}\n{\n\"b\": \"x y\"\n}", []got{{a, 0, 0, "", "@0", time.Time{}}, {b, 11, 0, "", "@11", time.Time{}}}, nil},
	{"truncated pretty object", 0, "{\n\"a\": [1,", nil, []bad{{0, 0, ErrTruncated}}},
	{"top-level array", 0, "[" + a + ",\n" + b + ",7]", []got{{a, 1, 0, "", "@1", time.Time{}}, {b, 10, 0, "", "@10", time.Time{}}}, []bad{{22, 0, ErrNotObject}}},
	{"container", 0, `{"Records":[` + a + `,` + b + `]}`, []got{{a, 12, 0, "Records", "@12", time.Time{}}, {b, 20, 0, "Records", "@20", time.Time{}}}, nil},
	{"container key not first", 0, `{"v":"1","items":[` + a + `],"w":{}}`, []got{{a, 18, 0, "items", "@18", time.Time{}}}, nil},
	{"containers concatenated", 0, `{"Records":[` + a + `]}{"Records":[` + b + `]}`, []got{{a, 12, 0, "Records", "@12", time.Time{}}, {b, 33, 0, "Records", "@33", time.Time{}}}, nil},
	{"pretty container", 0, "{\n \"Records\": [\n  {\n   \"a\": 1\n  }\n ]\n}\n", []got{{a, 18, 0, "Records", "@18", time.Time{}}}, nil},
	{"container per line", 0, `{"Records":[` + a + "]}\n" + `{"Records":[` + b + "]}\n", []got{{a, 12, 0, "Records", "@12", time.Time{}}, {b, 34, 0, "Records", "@34", time.Time{}}}, nil},
	{"container elements", 0, `{"Records":[` + a + `,7,"s",{"x" 1},` + b + `]}`, []got{{a, 12, 0, "Records", "@12", time.Time{}}, {`{"x"1}`, 26, 0, "Records", "@26", time.Time{}}, {b, 34, 0, "Records", "@34", time.Time{}}}, []bad{{20, 0, ErrNotObject}, {22, 0, ErrNotObject}}},
	{"container element over cap", 9, `{"Records":[` + a + `,` + b + `,` + a + `]}`, []got{{a, 12, 0, "Records", "@12", time.Time{}}, {a, 32, 0, "Records", "@32", time.Time{}}}, []bad{{20, 0, ingest.ErrRecordTooLarge}}},
	{"container over cap", 20, `{"Records":[` + a + `,` + a + `,` + a + `]}`, []got{{a, 12, 0, "Records", "@12", time.Time{}}, {a, 20, 0, "Records", "@20", time.Time{}}, {a, 28, 0, "Records", "@28", time.Time{}}}, nil},
	{"truncated container", 0, `{"Records":[` + a + `,{"b":`, []got{{a, 12, 0, "Records", "@12", time.Time{}}}, []bad{{20, 0, ErrTruncated}}},
	{"other array key", 0, `{"list":[` + a + `]}`, []got{{`{"list":[{"a":1}]}`, 0, 1, "", "1", time.Time{}}}, nil},
	{"cloudwatch envelope", 0, `{"messageType":"DATA_MESSAGE","logEvents":[{"id":"7","timestamp":1712044800000,"message":"{\"a\": 1}"},{"message":"{\"b\":\"x y\"}\n"}]}`,
		[]got{{a, 43, 0, "logEvents", "cw:7", cw}, {b, 103, 0, "logEvents", "@103", time.Time{}}}, nil},
	{"cloudwatch control message", 0, `{"messageType":"CONTROL_MESSAGE","logEvents":[{"id":"1","message":"CWL CONTROL MESSAGE"}]}`, nil, nil},
	{"cloudwatch bad events", 0, `{"logEvents":[{"id":"1"},{"message":"text"},{"message":7},` + a + `]}`, nil,
		[]bad{{14, 0, ErrNoMessage}, {25, 0, ErrNotObject}, {44, 0, nil}, {58, 0, ErrNoMessage}}},
	{"cloudwatch envelope without events", 0, `{"messageType":"DATA_MESSAGE","owner":"1"}`, []got{{`{"messageType":"DATA_MESSAGE","owner":"1"}`, 0, 1, "", "1", time.Time{}}}, nil},
	{"stray tokens", 0, "7 8 " + a + " x", []got{{a, 4, 0, "", "@4", time.Time{}}}, []bad{{0, 0, ErrNotObject}, {12, 0, ErrNotObject}}},
	{"strings with brackets and escapes", 0, `{"a":"}]\"{["}` + "\n" + b, []got{{`{"a":"}]\"{["}`, 0, 1, "", "1", time.Time{}}, {b, 15, 2, "", "2", time.Time{}}}, nil},
}

func TestSplit(t *testing.T) {
	for _, tc := range splitTests {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []struct {
				name string
				r    io.Reader
			}{
				{"whole", strings.NewReader(tc.in)},
				{"byte by byte", iotest.OneByteReader(strings.NewReader(tc.in))},
			} {
				f := split(t, tc.max, r.r)
				if f.err != nil {
					t.Fatalf("%s: %v", r.name, f.err)
				}
				if fmt.Sprint(f.recs) != fmt.Sprint(tc.recs) {
					t.Errorf("%s: records\n%v\nwant\n%v", r.name, f.recs, tc.recs)
				}
				if len(f.bad) != len(tc.bad) {
					t.Fatalf("%s: bad %v, want %v", r.name, f.bad, tc.bad)
				}
				for i, w := range tc.bad {
					g := f.bad[i]
					if g.off != w.off || g.line != w.line || w.err != nil && !errors.Is(g.err, w.err) || g.err == nil {
						t.Errorf("%s: bad[%d] = %v, want %v", r.name, i, g, w)
					}
				}
			}
		})
	}
}

// TestSplitStreams checks that a container larger than the read buffer
// and the record cap is streamed, element by element.
func TestSplitStreams(t *testing.T) {
	var in bytes.Buffer
	in.WriteString(`{"Records":[`)
	n := 0
	for in.Len() < 4*headBytes {
		if n > 0 {
			in.WriteString(",\n")
		}
		fmt.Fprintf(&in, `{"n":%d,"s":"%s"}`, n, strings.Repeat("x", n%300))
		n++
	}
	in.WriteString("]}")
	f := split(t, 1024, bytes.NewReader(in.Bytes()))
	if f.err != nil || len(f.bad) != 0 || len(f.recs) != n {
		t.Fatalf("%d records of %d, bad %v, err %v", len(f.recs), n, f.bad, f.err)
	}
	for i, r := range f.recs {
		if want := fmt.Sprintf(`{"n":%d,"s":"%s"}`, i, strings.Repeat("x", i%300)); r.raw != want || !bytes.HasPrefix(in.Bytes()[r.off:], []byte(want)) {
			t.Fatalf("record %d = %s at %d, want %s", i, r.raw, r.off, want)
		}
	}
}

func TestSplitStops(t *testing.T) {
	in := `{"a":1}` + "\n" + `{"a":2}` + "\n"
	stop := errors.New("stop")
	n := 0
	err := Split(context.Background(), strings.NewReader(in), Config{}, Handler{Record: func(*Record) error { n++; return stop }})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("handler error: %v after %d records", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Split(ctx, strings.NewReader(in), Config{}, Handler{Record: func(*Record) error { return nil }}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
	readErr := errors.New("read failed")
	for _, in := range []string{in, `{"Records":[{"a":1},{"a":2},`} {
		err := Split(context.Background(), io.MultiReader(strings.NewReader(in), iotest.ErrReader(readErr)), Config{Containers: testContainers}, Handler{Record: func(*Record) error { return nil }})
		if !errors.Is(err, readErr) {
			t.Fatalf("read error after %q: %v", in, err)
		}
	}
}

func TestObject(t *testing.T) {
	tests := []struct {
		in   string
		want string // fmt of the map, "" for an error
	}{
		{`{"a":1,"b":"x","c":[true,null,{"d":2.5}]}`, "map[a:1 b:x c:[true <nil> map[d:2.5]]]"},
		{"{\n \"a\" : \"\\u00e9\\n\"\n}", "map[a:é\n]"},
		{`{"a":1,"a":2}`, "map[a:2]"},
		{`{"a" 1}`, ""},
		{`{"a":tru}`, ""},
	}
	for _, tc := range tests {
		var rec *Record
		err := Split(context.Background(), strings.NewReader(tc.in), Config{}, Handler{Record: func(r *Record) error {
			m, err := r.Object()
			if (err == nil) != (tc.want != "") || err == nil && fmt.Sprint(m) != tc.want {
				t.Errorf("%q: Object = %v, %v; want %s", tc.in, m, err, tc.want)
			}
			rec = r
			return nil
		}})
		if err != nil || rec == nil {
			t.Errorf("%q: no record, err %v", tc.in, err)
		}
	}
}

func BenchmarkSplit(b *testing.B) {
	var rec bytes.Buffer
	fmt.Fprintf(&rec, `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/a"},`)
	fmt.Fprintf(&rec, `"eventTime":"2024-03-05T10:00:00Z","eventName":"GetObject","requestParameters":{"bucketName":"b","key":"k\"q"},`)
	fmt.Fprintf(&rec, `"resources":[{"ARN":"arn:aws:s3:::b/k","type":"AWS::S3::Object"}],"readOnly":true,"n":12.5}`)
	recs := make([][]byte, 200)
	for i := range recs {
		recs[i] = rec.Bytes()
	}
	in := []byte(`{"Records":[` + string(bytes.Join(recs, []byte(","))) + `]}`)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		err := Split(context.Background(), bytes.NewReader(in), Config{Containers: testContainers}, Handler{Record: func(*Record) error { n++; return nil }})
		if err != nil || n != len(recs) {
			b.Fatalf("%d records, %v", n, err)
		}
	}
}
