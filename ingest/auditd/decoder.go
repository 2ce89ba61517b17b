package auditd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/vigilsec/vigil/ingest"
)

// Defaults of Config.
const (
	DefaultReorderWindow = 500
	DefaultMaxAge        = 2 * time.Second
	DefaultMaxOpen       = 10000
)

// Config configures a Decoder. The zero value is valid.
type Config struct {
	// Limits caps the line length (Limits.RecordBytes()).
	Limits ingest.Limits
	// ReorderWindow is how many serials an open event may lag behind the
	// newest serial seen on its node before it is emitted without its EOE.
	// Default DefaultReorderWindow (500).
	ReorderWindow int
	// MaxAge is how far, in audit time, an open event may lag behind the
	// newest record before it is emitted without its EOE. Default
	// DefaultMaxAge (2s).
	MaxAge time.Duration
	// MaxOpen caps the events held open at once; beyond it the oldest is
	// emitted as it is. Default DefaultMaxOpen (10000).
	MaxOpen int
}

func (c Config) reorderWindow() int {
	if c.ReorderWindow > 0 {
		return c.ReorderWindow
	}
	return DefaultReorderWindow
}

func (c Config) maxAge() time.Duration {
	if c.MaxAge > 0 {
		return c.MaxAge
	}
	return DefaultMaxAge
}

func (c Config) maxOpen() int {
	if c.MaxOpen > 0 {
		return c.MaxOpen
	}
	return DefaultMaxOpen
}

// Validate reports settings that cannot work: negative values, and a
// reorder window of 2^31 serials or more (serials wrap at 2^32).
func (c Config) Validate() error {
	switch {
	case c.ReorderWindow < 0 || c.ReorderWindow >= 1<<31:
		return fmt.Errorf("auditd: ReorderWindow %d out of range [0, 2^31)", c.ReorderWindow)
	case c.MaxAge < 0:
		return fmt.Errorf("auditd: negative MaxAge %v", c.MaxAge)
	case c.MaxOpen < 0:
		return fmt.Errorf("auditd: negative MaxOpen %d", c.MaxOpen)
	}
	return nil
}

// Decoder decodes raw Linux audit logs (audit.log lines) into one Event per
// audit event. It holds only configuration; each Decode call has its own
// state, so one Decoder may serve concurrent streams.
type Decoder struct {
	c Config
}

var _ ingest.Decoder = (*Decoder)(nil)

// New returns a Decoder for c.
func New(c Config) (*Decoder, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Decoder{c: c}, nil
}

// ctxCheckEvery is how many lines Decode reads between context checks.
const ctxCheckEvery = 256

// Decode reads audit.log lines from r and calls h.Event once per coalesced
// event. Events leave in completion order: when their EOE arrives, at once
// for user-space record types that never get one, or when the reorder
// window (Config.ReorderWindow, Config.MaxAge, Config.MaxOpen) pushes them
// out; at EOF the remaining events are emitted by (audit time, serial).
// Malformed lines, over-long lines and records arriving after their event
// was emitted are reported to h.Bad with their line number and skipped.
func (d *Decoder) Decode(ctx context.Context, r io.Reader, src string, h ingest.Handler) error {
	asm := newAssembler(uint32(d.c.reorderWindow()), int64(d.c.maxAge()), d.c.maxOpen())
	lines := ingest.NewLines(r, d.c.Limits)
	var done []*pending
	emit := func() error {
		for i, p := range done {
			done[i] = nil
			if err := h.Event(build(p, src)); err != nil {
				return err
			}
		}
		done = done[:0]
		return nil
	}
	for n := 0; ; n++ {
		if n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		line, num, off, err := lines.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, ingest.ErrRecordTooLarge) {
			h.Report(&ingest.DecodeError{Source: src, Line: num, Offset: off, Err: err})
			continue
		}
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		rec, err := parseLine(line)
		if err != nil {
			h.Report(&ingest.DecodeError{Source: src, Line: num, Offset: off, Err: err})
			continue
		}
		done, err = asm.add(rec, done)
		if err != nil {
			h.Report(&ingest.DecodeError{Source: src, Line: num, Offset: off, Err: err})
		}
		if err := emit(); err != nil {
			return err
		}
	}
	done = asm.drain(done)
	return emit()
}

// Sniff reports whether head, the first bytes of a decompressed stream,
// looks like a raw audit log: its first non-blank line starts with "type="
// (optionally after a "node=NAME " prefix) and contains "msg=audit(".
func Sniff(head []byte) bool {
	for len(head) > 0 {
		line, rest, _ := bytes.Cut(head, []byte("\n"))
		head = rest
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if bytes.HasPrefix(line, []byte("node=")) {
			if i := bytes.IndexByte(line, ' '); i >= 0 {
				line = bytes.TrimLeft(line[i:], " ")
			}
		}
		return bytes.HasPrefix(line, []byte("type=")) && bytes.Contains(line, []byte("msg=audit("))
	}
	return false
}
