package ingest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestLines(t *testing.T) {
	in := "a\r\nbb\n" + strings.Repeat("x", 20) + "\nccc\n\nlast"
	l := NewLines(strings.NewReader(in), Limits{MaxRecordBytes: 10})
	type got struct {
		line string
		num  int
		off  int64
		err  error
	}
	want := []got{
		{"a", 1, 0, nil},
		{"bb", 2, 3, nil},
		{"", 3, 6, ErrRecordTooLarge},
		{"ccc", 4, 27, nil},
		{"", 5, 31, nil},
		{"last", 6, 32, nil},
	}
	for i, w := range want {
		line, num, off, err := l.Next()
		if string(line) != w.line || num != w.num || off != w.off || !errors.Is(err, w.err) && err != w.err {
			t.Fatalf("line %d: got (%q,%d,%d,%v) want (%q,%d,%d,%v)", i, line, num, off, err, w.line, w.num, w.off, w.err)
		}
	}
	if _, _, _, err := l.Next(); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
}

func TestOpenGzipAndCap(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(bytes.Repeat([]byte("A"), 1<<20))
	zw.Close()
	r, err := Open(bytes.NewReader(buf.Bytes()), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil || len(b) != 1<<20 {
		t.Fatalf("plain read: %d bytes, %v", len(b), err)
	}
	r, err = Open(bytes.NewReader(buf.Bytes()), Limits{MaxDecompressedBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	b, err = io.ReadAll(r)
	if !errors.Is(err, ErrDecompressedTooLarge) || len(b) != 1000 {
		t.Fatalf("capped read: %d bytes, %v", len(b), err)
	}
	r, _ = Open(strings.NewReader("plain"), Limits{})
	if b, _ := io.ReadAll(r); string(b) != "plain" {
		t.Fatalf("plain passthrough: %q", b)
	}
}
