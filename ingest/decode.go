package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Decoder turns a byte stream of one log type into Events.
//
// Decode reads r until EOF. It calls h.Event for every decoded event, in
// input order, and h.Bad for every malformed record, then goes on with the
// next record. It returns nil at EOF, the error of h.Event if that is not
// nil, ctx.Err() when the context ends, or an error that stops the whole
// stream (a read error, a decompression cap exceeded). src names the stream
// in positions and in Event.Source.
type Decoder interface {
	Decode(ctx context.Context, r io.Reader, src string, h Handler) error
}

// Handler receives what a Decoder produces.
type Handler struct {
	// Event receives each decoded event. The decoder does not reuse the
	// event afterwards. A non-nil error stops decoding and is returned.
	Event func(*Event) error
	// Bad receives each malformed record. Nil means ignore.
	Bad func(*DecodeError)
}

// Report passes a malformed-record error to h.Bad, if set.
func (h Handler) Report(e *DecodeError) {
	if h.Bad != nil {
		h.Bad(e)
	}
}

// DecodeError is one malformed record and where it was found.
type DecodeError struct {
	Source string // the stream, as passed to Decode
	Line   int    // 1-based line number; 0 when the input is not line-oriented
	Offset int64  // byte offset of the record's start in the decoded stream; -1 if unknown
	Err    error
}

// Error formats the error as "source:line: err" or "source@offset: err".
func (e *DecodeError) Error() string {
	switch {
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %v", e.Source, e.Line, e.Err)
	case e.Offset >= 0:
		return fmt.Sprintf("%s@%d: %v", e.Source, e.Offset, e.Err)
	default:
		return fmt.Sprintf("%s: %v", e.Source, e.Err)
	}
}

// Unwrap returns the underlying error.
func (e *DecodeError) Unwrap() error { return e.Err }

// ErrRecordTooLarge is reported for a record longer than Limits.MaxRecordBytes.
var ErrRecordTooLarge = errors.New("record exceeds size cap")

// ErrDecompressedTooLarge stops a stream whose decompressed size exceeds
// Limits.MaxDecompressedBytes (a gzip bomb, or a misconfigured cap).
var ErrDecompressedTooLarge = errors.New("decompressed size exceeds cap")
