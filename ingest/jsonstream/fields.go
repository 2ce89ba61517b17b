package jsonstream

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Str returns m[k] when it is a string, else "". A nil m is empty.
func Str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// IP returns s in canonical form when it is an IP address, tolerating
// leading zeros in IPv4 octets ("010.000.000.001" is "10.0.0.1"); else "".
// An address already in canonical form is returned as is, without an
// allocation.
func IP(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		var buf [64]byte
		if string(a.AppendTo(buf[:0])) == s {
			return s
		}
		return a.String()
	}
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return ""
	}
	var b [4]byte
	for i, p := range parts {
		if len(p) == 0 || len(p) > 3 {
			return ""
		}
		v, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return ""
		}
		b[i] = byte(v)
	}
	return netip.AddrFrom4(b).String()
}

// Layouts tried by ParseTime, by the byte between date and time. Layouts
// without a zone are read as UTC.
var (
	tLayouts     = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"}
	spaceLayouts = []string{"2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"}
)

// ParseTime reads a timestamp in RFC 3339 (Kubernetes MicroTime included)
// or "2022-11-29 00:09:04.38" form, with or without fraction and zone, a
// time without zone being UTC. The result is UTC; ok is false when s is in
// none of these forms.
func ParseTime(s string) (t time.Time, ok bool) {
	// Every layout has its date in the first 10 bytes: the byte after them
	// tells which layouts can match, so that the others are not tried (a
	// failed time.Parse allocates its error).
	var layouts []string
	switch {
	case len(s) <= 10:
		return time.Time{}, false
	case s[10] == 'T':
		layouts = tLayouts
	case s[10] == ' ':
		layouts = spaceLayouts
	default:
		return time.Time{}, false
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
