package jsonstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/vigilsec/vigil/ingest"
)

// Errors reported for malformed input.
var (
	// ErrTruncated is reported for a value cut off by the end of the input.
	ErrTruncated = errors.New("input ends inside a JSON value")
	// ErrNotObject is reported for a record that is not a JSON object.
	ErrNotObject = errors.New("record is not a JSON object")
	// ErrNoMessage is reported for a CloudWatch Logs event without message.
	ErrNoMessage = errors.New("log event has no message")
)

// errEnd stops the splitter after a value broken by the end of the input
// has been reported.
var errEnd = errors.New("end of input inside a value")

// headBytes is how much of a stream is examined to choose between line and
// stream mode.
const headBytes = 64 << 10

// logEvents is the container key of a CloudWatch Logs subscription
// envelope, whose elements hold records in their messages.
const logEvents = "logEvents"

// Config configures Split.
type Config struct {
	// Containers are the object keys whose array value holds records, such
	// as "Records" (CloudTrail) or "items" (a Kubernetes EventList). The
	// key "logEvents" is always a container: its elements are CloudWatch
	// Logs events whose messages are records.
	Containers []string
	// MaxRecordBytes caps one record, line or container element; a longer
	// one is reported as ingest.ErrRecordTooLarge and skipped. Zero means
	// ingest.DefaultMaxRecordBytes.
	MaxRecordBytes int
}

// Handler receives what Split finds.
type Handler struct {
	// Record receives each JSON object that is a record. The Record is
	// reused after Record returns, except for its Raw bytes. A non-nil
	// error stops Split and is returned.
	Record func(*Record) error
	// Bad receives each malformed record with its byte offset in the
	// stream and its line number (0 in stream mode). Nil means ignore.
	Bad func(off int64, line int, err error)
}

// Record is one JSON object found by Split.
type Record struct {
	// Raw is the object without insignificant white space. It is a slice
	// of its own, which the handler may keep.
	Raw []byte
	// Offset is the byte offset of the record's start in the stream; for
	// the message of a CloudWatch Logs event, that of the event.
	Offset int64
	// Line is the 1-based line number in line mode, else 0.
	Line int
	// Container is the key of the container array the record was an
	// element of ("logEvents" for the message of a CloudWatch Logs event),
	// "" for a value at the top level or in a top-level array.
	Container string
	// Time is the timestamp of the CloudWatch Logs event whose message the
	// record is, in UTC; zero otherwise.
	Time time.Time

	first bool   // the first top-level value of its line
	cwID  string // id of the CloudWatch Logs event, if any
	data  []byte // the record's bytes as found, valid until the handler returns
	// spaced is set when data has insignificant white space: Raw is
	// compacted from it, else Raw holds the same bytes.
	spaced bool
}

// Position returns the record's position for stable IDs: "cw:" and the
// CloudWatch Logs event id for the message of such an event, the line
// number for the first top-level value of a line, else "@" and the
// record's byte offset.
func (r *Record) Position() string {
	switch {
	case r.cwID != "":
		return "cw:" + r.cwID
	case r.first:
		return strconv.Itoa(r.Line)
	}
	return "@" + strconv.FormatInt(r.Offset, 10)
}

// Split reads the JSON records of r until its end, passing each to
// h.Record and each malformed one to h.Bad, and returns nil at the end of
// r, the error of h.Record, ctx.Err() or a read error.
//
// The input is read in one of two modes, chosen from the stream's first
// bytes:
//
//   - line mode (NDJSON): when the stream starts with a one-line object
//     that is not a container (or with a broken line followed by one),
//     each line is split on its own, so a broken line never affects the
//     next one;
//   - stream mode: JSON values follow each other regardless of line breaks
//     (a pretty-printed record, a top-level array, a container object of
//     any size, concatenated objects).
//
// In both modes an object with a container key whose value is an array is
// not a record: its elements are streamed one by one, each capped on its
// own, and its other members are skipped. A CloudWatch Logs envelope whose
// messageType is CONTROL_MESSAGE yields nothing. A value cut off by the end
// of the input is reported as ErrTruncated at its start and ends the
// split; what came before it is kept. A byte-order mark is skipped.
func Split(ctx context.Context, r io.Reader, c Config, h Handler) error {
	p := splitters.Get().(*splitter)
	defer p.release()
	p.ctx, p.containers, p.max, p.h = ctx, c.Containers, c.MaxRecordBytes, h
	if p.max <= 0 {
		p.max = ingest.DefaultMaxRecordBytes
	}
	if p.h.Bad == nil {
		p.h.Bad = func(int64, int, error) {}
	}
	return p.split(r)
}

// splitters holds splitters with their buffers for reuse, so that a stream
// of many small objects does not allocate and clear 128 KiB for each.
var splitters = sync.Pool{New: func() any {
	return &splitter{br: bufio.NewReaderSize(nil, headBytes), buf: make([]byte, headBytes)}
}}

// maxKept is the capacity up to which a recording buffer is kept for reuse.
const maxKept = 64 << 10

// release returns p to the pool, keeping its buffers but nothing of the
// call.
func (p *splitter) release() {
	p.br.Reset(nil)
	p.ctx, p.containers, p.h, p.rec = nil, nil, Handler{}, Record{}
	for _, b := range []*[]byte{&p.obj, &p.elem, &p.key} {
		if cap(*b) > maxKept {
			*b = nil
		}
	}
	splitters.Put(p)
}

// item is one JSON value found by the splitter.
type item struct {
	data  []byte // the value's bytes, valid until the handler returns
	off   int64  // offset of the value's first byte in the stream
	line  int    // 1-based line number in line-oriented input, else 0
	in    string // container key the value was an element of, "" at top level
	ctrl  bool   // the enclosing object has messageType CONTROL_MESSAGE
	first bool   // the first top-level value of its line
	// spaced is set when data may have white space outside strings.
	spaced bool
}

// splitter finds the records of a stream (see Split).
type splitter struct {
	ctx        context.Context
	containers []string // object keys whose array elements are records
	max        int
	h          Handler
	probe      bool // only telling the shape of a line: nothing is passed or reported

	nth  int           // top-level values seen on the current line
	junk bool          // the previous top-level token was reported as garbage
	br   *bufio.Reader // reads the stream, reused
	buf  []byte        // the stream mode scanner's buffer, reused
	obj  []byte        // recording buffers, reused
	elem []byte
	key  []byte
	rec  Record // passed to h.Record, reused
}

// split reads r to its end.
func (p *splitter) split(r io.Reader) error {
	br := p.br
	br.Reset(r)
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
	s := &scanner{src: br, buf: p.buf, base: base, max: p.max}
	return p.run(s, 0)
}

// bad reports a malformed record.
func (p *splitter) bad(off int64, line int, err error) {
	if !p.probe {
		p.h.Bad(off, line, err)
	}
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
	probe := &splitter{ctx: context.Background(), containers: p.containers, max: p.max, probe: true}
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
				p.bad(start, line, ErrNotObject)
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
	p.bad(start, line, ErrTruncated)
	return errEnd
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
			p.bad(start, line, ErrNotObject)
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
			return false, p.item(item{data: p.obj, off: start, line: line, first: line > 0 && top && p.nth == 1, spaced: s.spaced})
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
				if p.probe {
					return true, nil
				}
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
	if string(key) == logEvents {
		return true
	}
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
			if err := p.item(item{data: p.elem, off: start, line: line, in: key, ctrl: ctrl, spaced: s.spaced}); err != nil {
				return err
			}
		}
	}
}

// logEvent is one element of a CloudWatch Logs subscription's logEvents.
type logEvent struct {
	ID        string  `json:"id"`
	Timestamp float64 `json:"timestamp"` // Unix milliseconds
	Message   *string `json:"message"`
}

// item passes the record of one JSON value to the handler, reports it, or
// skips it.
func (p *splitter) item(it item) error {
	if p.probe {
		return nil
	}
	rec := &p.rec
	*rec = Record{Offset: it.off, Line: it.line, Container: it.in, first: it.first, data: it.data}
	if it.in == logEvents {
		if it.ctrl {
			return nil
		}
		var le logEvent
		if err := unmarshal(it.data, &le); err != nil {
			p.bad(it.off, it.line, err)
			return nil
		}
		if le.Message == nil {
			p.bad(it.off, it.line, ErrNoMessage)
			return nil
		}
		rec.data = []byte(*le.Message)
		if le.Timestamp > 0 {
			rec.Time = time.UnixMilli(int64(le.Timestamp)).UTC()
		}
		rec.cwID = le.ID
	}
	if t := bytes.TrimLeft(rec.data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		p.bad(it.off, it.line, ErrNotObject)
		return nil
	}
	// Raw is data compacted, or data itself when it is a slice of its own
	// (a message), or else a copy of it.
	own := it.in == logEvents
	rec.Raw = rec.data
	if own || it.spaced {
		rec.Raw = compact(rec.data)
	}
	rec.spaced = len(rec.Raw) < len(rec.data)
	if !rec.spaced && !own {
		rec.Raw = bytes.Clone(rec.data)
	}
	return p.h.Record(rec)
}
