package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
)

// Open returns a reader of r's content, transparently decompressing gzip
// (detected by its magic bytes, not by name; concatenated members are read as
// one stream), and capped at lim.DecompressedBytes(): reading past the cap
// fails with ErrDecompressedTooLarge.
func Open(r io.Reader, lim Limits) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	var src io.Reader = br
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip header: %w", err)
		}
		src = zr
	}
	return &capReader{r: src, left: lim.DecompressedBytes()}, nil
}

// capReader fails with ErrDecompressedTooLarge once more than left bytes were
// read.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, ErrDecompressedTooLarge
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n - int(-c.left), ErrDecompressedTooLarge
	}
	return n, err
}

// Lines splits a stream into lines without ever holding more than one
// capped line in memory. A line longer than the cap is skipped up to its
// newline and reported by Next as ErrRecordTooLarge with its position.
type Lines struct {
	r      *bufio.Reader
	max    int
	buf    []byte
	line   int
	offset int64 // offset of the next line's start
}

// NewLines returns a line splitter over r with lim.RecordBytes() as the
// line cap.
func NewLines(r io.Reader, lim Limits) *Lines {
	return &Lines{r: bufio.NewReaderSize(r, 64<<10), max: lim.RecordBytes()}
}

// Next returns the next line without its line ending ("\n" or "\r\n"), its
// 1-based number and the byte offset of its start. The returned slice is
// valid until the next call. At the end it returns io.EOF; a line over the
// cap returns ErrRecordTooLarge (the caller reports it and calls Next again);
// any other error ends the stream.
func (l *Lines) Next() (line []byte, num int, offset int64, err error) {
	l.buf = l.buf[:0]
	start := l.offset
	tooLong := false
	for {
		chunk, err := l.r.ReadSlice('\n')
		l.offset += int64(len(chunk))
		if !tooLong {
			if len(l.buf)+len(chunk) > l.max+2 { // +2 for the line ending
				tooLong = true
				l.buf = l.buf[:0]
			} else {
				l.buf = append(l.buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, l.line + 1, start, err
		}
		if errors.Is(err, io.EOF) && len(l.buf) == 0 && !tooLong {
			return nil, l.line, start, io.EOF
		}
		l.line++
		if tooLong {
			return nil, l.line, start, ErrRecordTooLarge
		}
		out := bytes.TrimSuffix(l.buf, []byte{'\n'})
		out = bytes.TrimSuffix(out, []byte{'\r'})
		if len(out) > l.max {
			return nil, l.line, start, ErrRecordTooLarge
		}
		return out, l.line, start, nil
	}
}
