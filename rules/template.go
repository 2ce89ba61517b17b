package rules

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// MaxSummaryBytes caps a rendered summary; longer ones are cut and end
// with "…".
const MaxSummaryBytes = 2048

// template is a parsed summary template.
type template struct {
	parts []tplPart
}

// tplPart is literal text, or a field reference with an optional default.
type tplPart struct {
	text  string
	field []string
	def   string
}

// fp.template parses a summary: text with {{ path }} and
// {{ path | default "text" }} references.
func (fp *fileParser) template(n *yaml.Node, s string) (template, bool) {
	t, msg := parseTemplate(s)
	if msg != "" {
		fp.errorf(n, "summary: %s", msg)
		return template{}, false
	}
	return t, true
}

func parseTemplate(s string) (template, string) {
	var t template
	for s != "" {
		i := strings.Index(s, "{{")
		if i < 0 {
			t.parts = append(t.parts, tplPart{text: s})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tplPart{text: s[:i]})
		}
		s = s[i+2:]
		j := strings.Index(s, "}}")
		if j < 0 {
			return t, "unclosed {{"
		}
		inner := s[:j]
		s = s[j+2:]
		p, filter, hasFilter := strings.Cut(inner, "|")
		p = strings.TrimSpace(p)
		if !pathRe.MatchString(p) {
			return t, "{{" + inner + "}}: expected a field path"
		}
		part := tplPart{field: strings.Split(p, ".")}
		if hasFilter {
			arg, ok := strings.CutPrefix(strings.TrimSpace(filter), "default")
			if !ok {
				return t, "{{" + inner + "}}: the only filter is default \"text\""
			}
			def, err := strconv.Unquote(strings.TrimSpace(arg))
			if err != nil {
				return t, "{{" + inner + "}}: default needs a quoted string"
			}
			part.def = def
		}
		t.parts = append(t.parts, part)
	}
	return t, ""
}

// RenderSummary renders the rule's summary from an event's fields. A
// missing (nil) field renders as its default, or as the empty string; maps
// and lists render as JSON. ANSI escape sequences, control characters and
// bidirectional overrides are removed and the result is capped at
// MaxSummaryBytes. A rule without summary renders its title.
func (r *Rule) RenderSummary(fields map[string]any) string {
	if len(r.summary.parts) == 0 {
		return sanitize(r.Title)
	}
	var b strings.Builder
	b.Grow(r.summary.sizeHint())
	for _, p := range r.summary.parts {
		if p.field == nil {
			b.WriteString(p.text)
			continue
		}
		v := lookup(fields, p.field)
		if v == nil {
			b.WriteString(p.def)
			continue
		}
		if s, ok := stringify(v); ok {
			b.WriteString(s)
			continue
		}
		js, err := json.Marshal(v)
		if err != nil {
			continue
		}
		b.Write(js)
		if b.Len() > 4*MaxSummaryBytes {
			break
		}
	}
	return sanitize(b.String())
}

// sizeHint estimates the length of a rendered summary, so that rendering
// allocates its buffer once in most cases: the literal text plus 32 bytes
// per field reference.
func (t *template) sizeHint() int {
	n := 0
	for _, p := range t.parts {
		n += len(p.text)
		if p.field != nil {
			n += 32
		}
	}
	return n
}

// printableASCII reports whether s is all printable ASCII (0x20 to 0x7e),
// which sanitize leaves as it is: no escape, control or bidi character,
// nothing to decode. Most summaries are, and this test is much cheaper than
// mapping them rune by rune.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

var ansiRe = regexp.MustCompile(`\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)?|\x1b[@-_]?`)

// sanitize removes ANSI escapes, control characters (tabs and newlines
// become spaces) and bidi controls, and caps the length.
func sanitize(s string) string {
	if !printableASCII(s) {
		if strings.IndexByte(s, 0x1b) >= 0 {
			s = ansiRe.ReplaceAllString(s, "")
		}
		s = strings.Map(func(r rune) rune {
			switch {
			case r == '\t' || r == '\n' || r == '\r':
				return ' '
			case unicode.IsControl(r), r == utf8.RuneError,
				r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
				return -1
			}
			return r
		}, s)
	}
	if len(s) > MaxSummaryBytes {
		cut := MaxSummaryBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
