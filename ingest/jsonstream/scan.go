package jsonstream

import (
	"encoding/binary"
	"errors"
	"io"
	"math/bits"
)

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
	// spaced is set when white space outside strings was consumed since
	// the recording started: the recording is not compact.
	spaced bool
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
	s.rec, s.mark, s.over, s.spaced = dst, s.r, false, false
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
		if !isSpace(s.buf[s.r]) {
			return true
		}
		s.spaced = true
		for s.r++; s.r < s.w; s.r++ {
			if !isSpace(s.buf[s.r]) {
				return true
			}
		}
	}
	return false
}

// value consumes one JSON value, structurally: brackets are balanced and
// strings skipped, but the content is not validated. It fails with
// ErrTruncated when the input ends first.
func (s *scanner) value() error {
	if !s.fill() {
		return ErrTruncated
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

// plainEnd returns the index of the first quote or backslash in buf at or
// after i, or len(buf): the end of a run of plain string content. It tests
// eight bytes at a time.
func plainEnd(buf []byte, i int) int {
	const (
		ones   = 0x0101010101010101
		highs  = 0x8080808080808080
		quotes = '"' * ones
		slashs = '\\' * ones
	)
	for ; i+8 <= len(buf); i += 8 {
		w := binary.LittleEndian.Uint64(buf[i:])
		q, b := w^quotes, w^slashs
		// A byte of q or b is zero where w has a quote or a backslash; the
		// lowest flagged byte is exact.
		if m := (q-ones)&^q&highs | (b-ones)&^b&highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(buf); i++ {
		if c := buf[i]; c == '"' || c == '\\' {
			return i
		}
	}
	return i
}

// composite consumes an object or array.
func (s *scanner) composite() error {
	depth := 0
	inStr, esc := false, false
	for s.fill() {
		buf := s.buf[:s.w]
		i := s.r
		for i < len(buf) {
			if inStr {
				if esc {
					esc = false
					i++
					continue
				}
				if i = plainEnd(buf, i); i == len(buf) {
					break
				}
				esc = buf[i] == '\\'
				inStr = esc
				i++
				continue
			}
			c := buf[i]
			i++
			switch c {
			case '"':
				inStr = true
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.r = i
					return nil
				}
			case ' ', '\t', '\r', '\n':
				s.spaced = true
			}
		}
		s.r = len(buf)
	}
	return ErrTruncated
}

// maxKey caps the bytes of a string kept by str; longer strings are never
// keys the splitter looks for.
const maxKey = 64

// str consumes the rest of a string whose opening quote was consumed,
// appending up to maxKey bytes of its raw content to *dst when dst is set.
func (s *scanner) str(dst *[]byte) error {
	esc := false
	for s.fill() {
		buf := s.buf[:s.w]
		start, i := s.r, s.r
		for i < len(buf) {
			if esc {
				esc = false
				i++
				continue
			}
			if i = plainEnd(buf, i); i == len(buf) {
				break
			}
			if buf[i] == '"' {
				s.keep(dst, buf[start:i])
				s.r = i + 1
				return nil
			}
			esc = true
			i++
		}
		s.keep(dst, buf[start:])
		s.r = len(buf)
	}
	return ErrTruncated
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

// compact returns the valid JSON b without insignificant white space: b
// itself when it has none, else a new slice.
func compact(b []byte) []byte {
	var out []byte
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
			if out == nil {
				out = make([]byte, 0, len(b)-1)
			}
			out = append(out, b[start:i]...)
			start = i + 1
		}
	}
	if out == nil {
		return b
	}
	return append(out, b[start:]...)
}
