package vpcflow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/ingest"
)

// ErrFieldCount is reported for a line whose number of fields differs from
// the format's.
var ErrFieldCount = errors.New("wrong number of fields")

// ErrBadInteger is reported for a line with a value that is neither "-" nor
// an integer in an integer field.
var ErrBadInteger = errors.New("invalid integer")

// Config configures a Decoder. The zero value is valid.
type Config struct {
	// Limits caps the size of a line (Limits.MaxRecordBytes, default 1 MiB).
	Limits ingest.Limits
	// Format is the record format of lines before the first header line:
	// the flow log's LogFormat as AWS writes it ("${version} ${vpc-id} ...")
	// or the plain field names separated by spaces. Needed for CloudWatch
	// Logs delivery of custom formats, which carries no header. Default:
	// DefaultFormat.
	Format string
}

// Decoder decodes VPC flow log lines. It is safe for concurrent use.
type Decoder struct {
	limits ingest.Limits
	format *format
}

var _ ingest.Decoder = (*Decoder)(nil)

// New returns a Decoder for c. It fails when c.Format is not a list of
// distinct field names.
func New(c Config) (*Decoder, error) {
	if strings.TrimSpace(c.Format) == "" {
		return &Decoder{limits: c.Limits, format: defaultFormat}, nil
	}
	f, err := parseFormat(strings.Fields(c.Format))
	if err != nil {
		return nil, err
	}
	return &Decoder{limits: c.Limits, format: f}, nil
}

// ctxCheckEvery is how many lines pass between checks of the context.
const ctxCheckEvery = 256

// Decode reads flow log lines from r and passes one event per record to
// h.Event, reporting malformed lines to h.Bad. It returns nil at EOF, the
// first error of h.Event, ctx.Err(), or a read error.
func (d *Decoder) Decode(ctx context.Context, r io.Reader, src string, h ingest.Handler) error {
	lines := ingest.NewLines(r, d.limits)
	f := d.format
	var spans [][2]int
	var toks []string
	for n := 0; ; n++ {
		if n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		line, num, off, err := lines.Next()
		switch {
		case err == io.EOF:
			return nil
		case errors.Is(err, ingest.ErrRecordTooLarge):
			h.Report(&ingest.DecodeError{Source: src, Line: num, Offset: off, Err: err})
			continue
		case err != nil:
			return fmt.Errorf("%s:%d: %w", src, num, err)
		}
		if num == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		spans = split(line, spans)
		if len(spans) == 0 {
			continue
		}
		s := string(line)
		toks = toks[:0]
		for _, sp := range spans {
			toks = append(toks, s[sp[0]:sp[1]])
		}
		if hf := headerFormat(toks); hf != nil {
			f = hf
			continue
		}
		ev, err := f.event(toks)
		if err != nil {
			h.Report(&ingest.DecodeError{Source: src, Line: num, Offset: off, Err: err})
			continue
		}
		ev.ID = ingest.StableID(ingest.TypeVPCFlow, src, strconv.Itoa(num))
		ev.Source = src
		ev.Raw = []byte(s)
		if err := h.Event(ev); err != nil {
			return err
		}
	}
}

// split appends to spans[:0] the [start, end) byte ranges of the fields of
// line: runs of bytes other than ASCII white space, up to a field starting
// with '#' (a comment). At most maxFields+1 ranges are kept; a longer line
// is a field-count error for every format anyway.
func split(line []byte, spans [][2]int) [][2]int {
	spans = spans[:0]
	for i := 0; i < len(line) && len(spans) <= maxFields; {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) || line[i] == '#' {
			break
		}
		j := i
		for j < len(line) && !isSpace(line[j]) {
			j++
		}
		spans = append(spans, [2]int{i, j})
		i = j
	}
	return spans
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'
}

// event builds the event of a record whose fields are toks. ID, Source and
// Raw are left to the caller.
func (f *format) event(toks []string) (*ingest.Event, error) {
	if len(toks) != len(f.cols) {
		n := strconv.Itoa(len(toks))
		if len(toks) > maxFields {
			n = "more than " + strconv.Itoa(maxFields)
		}
		return nil, fmt.Errorf("%w: %s, format has %d", ErrFieldCount, n, len(f.cols))
	}
	var (
		str [numRoles]string // text of role fields, "" when absent
		num [numRoles]int    // value of integer role fields
		has [numRoles]bool   // the role field is present
	)
	m := make(map[string]any, len(toks)+1)
	for i, t := range toks {
		if t == "-" {
			continue
		}
		c := &f.cols[i]
		if c.isInt {
			v, err := strconv.Atoi(t)
			if err != nil {
				return nil, fmt.Errorf("%w in %s: %q", ErrBadInteger, c.key, t)
			}
			m[c.key] = v
			num[c.role] = v
		} else {
			m[c.key] = t
			str[c.role] = t
		}
		has[c.role] = true
	}
	ev := &ingest.Event{Type: ingest.TypeVPCFlow, Fields: m}
	if has[roleProtocol] {
		p := protocolName(num[roleProtocol])
		m["protocol_name"] = p
		ev.Norm.Protocol = p
	}
	switch {
	case has[roleStart]:
		ev.Time = time.Unix(int64(num[roleStart]), 0).UTC()
	case has[roleEnd]:
		ev.Time = time.Unix(int64(num[roleEnd]), 0).UTC()
	}
	n := &ev.Norm
	n.Account = str[roleAccount]
	n.Region = str[roleRegion]
	n.Actor = str[roleInstance]
	if n.Actor == "" {
		n.Actor = str[roleInterface]
	}
	n.Action = str[roleAction]
	switch n.Action {
	case "ACCEPT":
		n.Outcome = "success"
	case "REJECT":
		n.Outcome = "failure"
	}
	n.SrcIP = normIP(str[roleSrcaddr])
	n.DstIP = normIP(str[roleDstaddr])
	n.SrcPort = num[roleSrcport]
	n.DstPort = num[roleDstport]
	n.Target = n.DstIP
	if n.DstIP != "" && has[roleDstport] {
		n.Target = hostPort(n.DstIP, n.DstPort)
	}
	return ev, nil
}

// hostPort is net.JoinHostPort with an int port, in one allocation.
func hostPort(host string, port int) string {
	var buf [64]byte
	b := buf[:0]
	if strings.IndexByte(host, ':') >= 0 {
		b = append(append(append(b, '['), host...), ']')
	} else {
		b = append(b, host...)
	}
	b = strconv.AppendInt(append(b, ':'), int64(port), 10)
	return string(b)
}

// protocolName names the common IANA protocol numbers and writes others as
// decimal text.
func protocolName(p int) string {
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "icmpv6"
	}
	return strconv.Itoa(p)
}

// normIP writes a valid IPv6 address in its canonical form; anything else
// (IPv4, which has a single form, and text that is not an address, such as
// an IPv4 address with leading zeros) is returned as is.
func normIP(s string) string {
	if strings.IndexByte(s, ':') < 0 {
		return s
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return s
	}
	return a.String()
}
