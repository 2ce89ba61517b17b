package k8saudit

// This file splits a byte stream into JSON records without holding more
// than one capped record in memory. The cloudtrail package carries the same
// splitter; they differ only in their container keys.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"

	"github.com/vigilsec/vigil/ingest"
)

// Errors reported for malformed input.
var (
	errTruncated = errors.New("input ends inside a JSON value")
	errNotObject = errors.New("record is not a JSON object")
	errNoMessage = errors.New("log event has no message")
)

// errEnd stops the splitter after a value broken by the end of the input
// has been reported.
var errEnd = errors.New("end of input inside a value")

// headBytes is how much of a stream is examined to choose between line and
// stream mode.
const headBytes = 64 << 10

// item is one JSON value found by the splitter.
type item struct {
	data []byte // the value's bytes, valid until the handler returns
	off  int64  // offset of the value's first byte in the stream
	line int    // 1-based line number in line-oriented input, else 0
	in   string // container key the value was an element of, "" at top level
	ctrl bool   // the enclosing object has messageType CONTROL_MESSAGE
	pos  string // the position used for IDs: line number or "@offset"
}

// splitter finds the records of a stream. Input is read in one of two
// modes, chosen from the stream's first bytes:
//
//   - line mode (NDJSON): each line is split on its own, so a broken line
//     never affects the next one; positions are line numbers.
//   - stream mode: JSON values follow each other regardless of line breaks
//     (a pretty-printed record, a top-level array, an `{"items":[…]}`
//     object of any size, concatenated objects); positions are offsets.
//
// In both modes an object with a container key (items, logEvents)
// whose value is an array is not a record: its elements are streamed one
// by one, each capped at max bytes, and its other members are skipped.
type splitter struct {
	ctx        context.Context
	containers []string // object keys whose array elements are records
	max        int
	item       func(item) error
	bad        func(off int64, line int, err error)

	nth  int    // top-level values seen on the current line
	junk bool   // the previous top-level token was reported as garbage
	obj  []byte // recording buffers, reused
	elem []byte
	key  []byte
}

// split reads r to its end.
func (p *splitter) split(r io.Reader) error {
	br := bufio.NewReaderSize(r, headBytes)
	head, err := br.Peek(headBytes)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return err
	}
	var base int64
	if bytes.HasPrefix(head, []byte("\xef\xbb\xbf")) {
		br.Discard(3)
		head, base = head[3:], 3
	}
	if p.lineOriented(head) {
		return p.lines(br, base)
	}
	s := &scanner{src: br, buf: make([]byte, headBytes), base: base, max: p.max}
	return p.run(s, 0)
}

// lineOriented reports whether head, the start of a stream of headBytes
// at most, is NDJSON: it starts with an object, and either its first line
// is one complete object that is not a container, or its first line is
// broken and its second line is such an object.
func (p *splitter) lineOriented(head []byte) bool {
	t := bytes.TrimLeft(head, " \t\r\n")
	if len(t) == 0 {
		return true
	}
	if t[0] != '{' {
		return false
	}
	for n := 0; n < 2 && len(t) > 0; {
		line, rest, found := bytes.Cut(t, []byte("\n"))
		if !found && len(head) == headBytes {
			return false // one line longer than the head: stream it
		}
		t = rest
		if line = bytes.TrimSpace(line); len(line) == 0 {
			continue
		}
		n++
		switch p.oneLine(line) {
		case oneRecord:
			return true
		case oneContainer, several:
			return false
		}
	}
	return false
}

// Shapes of a line, as told by oneLine.
const (
	broken       = iota // not one complete object
	oneRecord           // one object, not a container
	oneContainer        // an object with a container array, maybe cut off
	several             // a complete object followed by more values
)

// oneLine tells the shape of line, a line without surrounding space.
func (p *splitter) oneLine(line []byte) int {
	if line[0] != '{' {
		return broken
	}
	probe := &splitter{
		ctx:        context.Background(),
		containers: p.containers,
		max:        p.max,
		item:       func(item) error { return nil },
		bad:        func(int64, int, error) {},
	}
	if container, _ := probe.object(&scanner{buf: line, w: len(line), max: p.max}, 0, false); container {
		return oneContainer // complete, or the opening line of a pretty-printed one
	}
	s := &scanner{buf: line, w: len(line), max: p.max}
	switch {
	case s.value() != nil:
		return broken
	case s.r < len(line):
		return several
	}
	return oneRecord
}

// lines runs the splitter on each line of r, whose first byte is at
// stream offset base.
func (p *splitter) lines(r io.Reader, base int64) error {
	l := ingest.NewLines(r, ingest.Limits{MaxRecordBytes: p.max})
	var s scanner
	for {
		if err := p.ctx.Err(); err != nil {
			return err
		}
		line, num, off, err := l.Next()
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, ingest.ErrRecordTooLarge):
			p.bad(base+off, num, err)
			continue
		case err != nil:
			return err
		}
		s = scanner{buf: line, w: len(line), base: base + off, max: p.max}
		if err := p.run(&s, num); err != nil {
			return err
		}
	}
}

// run splits the values s yields until its end. line is the line number
// when s holds one line, else 0.
func (p *splitter) run(s *scanner, line int) error {
	p.nth, p.junk = 0, false
	for {
		if err := p.ctx.Err(); err != nil {
			return err
		}
		if !s.skipSpace() {
			return s.ioErr()
		}
		var err error
		switch s.buf[s.r] {
		case '{':
			p.nth++
			_, err = p.object(s, line, true)
			p.junk = false
		case '[':
			err = p.array(s, line)
			p.junk = false
		default:
			start := s.pos()
			if s.value() != nil {
				err = p.truncated(s, start, line)
			} else if !p.junk {
				p.bad(start, line, errNotObject)
			}
			p.junk = true
		}
		if errors.Is(err, errEnd) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// truncated handles a value cut off by the end of s: a read error is
// returned as is, the end of input is reported at start and stops the
// splitter.
func (p *splitter) truncated(s *scanner, start int64, line int) error {
	if err := s.ioErr(); err != nil {
		return err
	}
	p.bad(start, line, errTruncated)
	return errEnd
}

// position returns the position of a value for stable IDs: the line number
// for the first top-level value of a line, else "@" and its offset.
func (p *splitter) position(off int64, line int, top bool) string {
	if line > 0 && top && p.nth == 1 {
		return strconv.Itoa(line)
	}
	return "@" + strconv.FormatInt(off, 10)
}

// array splits a top-level array: its object elements are read as
// top-level objects, anything else is reported.
func (p *splitter) array(s *scanner, line int) error {
	s.r++ // '['
	for {
		if !s.skipSpace() {
			return p.truncated(s, s.pos(), line)
		}
		switch s.buf[s.r] {
		case ']':
			s.r++
			return nil
		case ',':
			s.r++
		case '{':
			if _, err := p.object(s, line, false); err != nil {
				return err
			}
		default:
			start := s.pos()
			if s.value() != nil {
				return p.truncated(s, start, line)
			}
			p.bad(start, line, errNotObject)
		}
	}
}

// object reads one object. A record is passed to p.item; a container has
// its elements passed instead. It reports whether the object was a
// container.
func (p *splitter) object(s *scanner, line int, top bool) (container bool, err error) {
	start := s.pos()
	s.record(&p.obj)
	defer s.stop()
	s.r++ // '{'
	ctrl := false
	for {
		if !s.skipSpace() {
			return container, p.truncated(s, start, line)
		}
		switch s.buf[s.r] {
		case '}':
			s.r++
			s.stop()
			switch {
			case container:
				return true, nil
			case s.over:
				p.bad(start, line, ingest.ErrRecordTooLarge)
				return false, nil
			}
			return false, p.item(item{data: p.obj, off: start, line: line, pos: p.position(start, line, top)})
		case ',':
			s.r++
		case '"':
			s.r++
			p.key = p.key[:0]
			if s.str(&p.key) != nil || !s.skipSpace() {
				return container, p.truncated(s, start, line)
			}
			if s.buf[s.r] == ':' {
				s.r++
				if !s.skipSpace() {
					return container, p.truncated(s, start, line)
				}
			}
			switch {
			case s.buf[s.r] == '[' && p.isContainer(p.key):
				container = true
				s.stop()
				if err := p.elements(s, line, string(p.key), ctrl); err != nil {
					return true, err
				}
			case string(p.key) == "messageType" && s.buf[s.r] == '"':
				s.r++
				p.key = p.key[:0]
				if s.str(&p.key) != nil {
					return container, p.truncated(s, start, line)
				}
				ctrl = string(p.key) == "CONTROL_MESSAGE"
			default:
				if s.value() != nil {
					return container, p.truncated(s, start, line)
				}
			}
		default:
			if s.value() != nil {
				return container, p.truncated(s, start, line)
			}
		}
	}
}

// isContainer reports whether key names a container array.
func (p *splitter) isContainer(key []byte) bool {
	for _, c := range p.containers {
		if string(key) == c {
			return true
		}
	}
	return false
}

// elements streams the elements of a container array, each one recorded
// and capped on its own.
func (p *splitter) elements(s *scanner, line int, key string, ctrl bool) error {
	s.r++ // '['
	for {
		if err := p.ctx.Err(); err != nil {
			return err
		}
		if !s.skipSpace() {
			return p.truncated(s, s.pos(), line)
		}
		switch s.buf[s.r] {
		case ']':
			s.r++
			return nil
		case ',':
			s.r++
			continue
		}
		start := s.pos()
		s.record(&p.elem)
		err := s.value()
		s.stop()
		switch {
		case err != nil:
			return p.truncated(s, start, line)
		case s.over:
			p.bad(start, line, ingest.ErrRecordTooLarge)
		default:
			it := item{data: p.elem, off: start, line: line, in: key, ctrl: ctrl, pos: p.position(start, line, false)}
			if err := p.item(it); err != nil {
				return err
			}
		}
	}
}

// scanner walks JSON bytes read from src (or held in buf when src is nil),
// copying the bytes it consumes into a recording buffer while one is set.
type scanner struct {
	src  io.Reader
	buf  []byte
	r, w int   // buf[r:w] is not consumed yet
	base int64 // stream offset of buf[0]
	err  error // sticky error of src, io.EOF at its end

	rec  *[]byte // where consumed bytes go; nil when not recording
	mark int     // buf[mark:r] consumed, not yet recorded
	max  int     // cap of one recording
	over bool    // the recording exceeded max and was dropped
}

// pos returns the stream offset of the next byte.
func (s *scanner) pos() int64 { return s.base + int64(s.r) }

// ioErr returns the read error that ended s, nil at a clean end.
func (s *scanner) ioErr() error {
	if errors.Is(s.err, io.EOF) {
		return nil
	}
	return s.err
}

// record starts copying consumed bytes into *dst, emptied first.
func (s *scanner) record(dst *[]byte) {
	*dst = (*dst)[:0]
	s.rec, s.mark, s.over = dst, s.r, false
}

// stop ends the recording.
func (s *scanner) stop() {
	s.flush()
	s.rec = nil
}

// flush moves buf[mark:r] into the recording, or drops the recording once
// it would exceed the cap.
func (s *scanner) flush() {
	if s.rec != nil && !s.over && s.mark < s.r {
		if len(*s.rec)+s.r-s.mark > s.max {
			s.over = true
			*s.rec = (*s.rec)[:0]
		} else {
			*s.rec = append(*s.rec, s.buf[s.mark:s.r]...)
		}
	}
	s.mark = s.r
}

// fill makes sure buf[r:w] is not empty, reading from src when needed. It
// returns false at the end of the input or on a read error.
func (s *scanner) fill() bool {
	if s.r < s.w {
		return true
	}
	if s.src == nil || s.err != nil {
		return false
	}
	s.flush()
	s.base += int64(s.w)
	s.r, s.w, s.mark = 0, 0, 0
	for tries := 0; s.w == 0; tries++ {
		if tries == 100 {
			s.err = io.ErrNoProgress
			return false
		}
		n, err := s.src.Read(s.buf)
		s.w = n
		if err != nil {
			s.err = err
			break
		}
	}
	return s.w > 0
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// skipSpace consumes white space; it returns false at the end of input.
func (s *scanner) skipSpace() bool {
	for s.fill() {
		for s.r < s.w {
			if !isSpace(s.buf[s.r]) {
				return true
			}
			s.r++
		}
	}
	return false
}

// value consumes one JSON value, structurally: brackets are balanced and
// strings skipped, but the content is not validated. It fails with
// errTruncated when the input ends first.
func (s *scanner) value() error {
	if !s.fill() {
		return errTruncated
	}
	switch s.buf[s.r] {
	case '{', '[':
		return s.composite()
	case '"':
		s.r++
		return s.str(nil)
	}
	s.literal()
	return nil
}

// composite consumes an object or array.
func (s *scanner) composite() error {
	depth := 0
	inStr, esc := false, false
	for s.fill() {
		buf, w := s.buf, s.w
		for i := s.r; i < w; i++ {
			c := buf[i]
			if inStr {
				switch {
				case esc:
					esc = false
				case c == '\\':
					esc = true
				case c == '"':
					inStr = false
				}
				continue
			}
			switch c {
			case '"':
				inStr = true
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.r = i + 1
					return nil
				}
			}
		}
		s.r = w
	}
	return errTruncated
}

// maxKey caps the bytes of a string kept by str; longer strings are never
// keys the splitter looks for.
const maxKey = 64

// str consumes the rest of a string whose opening quote was consumed,
// appending up to maxKey bytes of its raw content to *dst when dst is set.
func (s *scanner) str(dst *[]byte) error {
	esc := false
	for s.fill() {
		start := s.r
		for i := s.r; i < s.w; i++ {
			c := s.buf[i]
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				s.keep(dst, s.buf[start:i])
				s.r = i + 1
				return nil
			}
		}
		s.keep(dst, s.buf[start:s.w])
		s.r = s.w
	}
	return errTruncated
}

func (s *scanner) keep(dst *[]byte, b []byte) {
	if dst != nil && len(*dst)+len(b) <= maxKey {
		*dst = append(*dst, b...)
	} else if dst != nil {
		*dst = append((*dst)[:0], 0) // never equal to a key
	}
}

// literal consumes a number, true, false, null or stray bytes up to the
// next delimiter, and at least one byte.
func (s *scanner) literal() {
	n := 0
	for s.fill() {
		for s.r < s.w {
			switch s.buf[s.r] {
			case ' ', '\t', '\r', '\n', ',', ':', '[', ']', '{', '}', '"':
				if n == 0 {
					s.r++
				}
				return
			}
			s.r++
			n++
		}
	}
}

// compact returns a copy of the valid JSON b without insignificant white
// space.
func compact(b []byte) []byte {
	out := make([]byte, 0, len(b))
	inStr, esc := false, false
	start := 0
	for i, c := range b {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		if c == '"' {
			inStr = true
		} else if isSpace(c) {
			out = append(out, b[start:i]...)
			start = i + 1
		}
	}
	return append(out, b[start:]...)
}
