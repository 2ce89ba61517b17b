package notify

import (
	"fmt"
	"io"
	"strings"
	"text/template"
	"unicode"
	"unicode/utf8"

	"github.com/vigilsec/vigil/detect"
)

// maxText caps any one text value sent to a destination.
const maxText = 4096

// clean strips ANSI escape sequences, control characters (newlines and
// tabs become spaces) and bidirectional formatting characters from s,
// replaces invalid UTF-8 and caps the result at maxText bytes. Alert text
// comes from log content, which an attacker may write.
func clean(s string) string {
	if s == "" {
		return s
	}
	var b strings.Builder
	b.Grow(min(len(s), maxText))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == 0x1b: // ESC: skip a CSI/OSC/other escape sequence
			i += size + escapeLen(s[i+size:])
			continue
		case r == 0x9b: // C1 CSI
			i += size + csiLen(s[i+size:])
			continue
		case r == '\n' || r == '\t' || r == '\r':
			r = ' '
		case unicode.IsControl(r), isBidi(r):
			i += size
			continue
		}
		// Every rune written counts against the cap, replacements included
		// (an invalid byte becomes the 3-byte U+FFFD).
		if b.Len()+utf8.RuneLen(r) > maxText {
			return b.String()
		}
		b.WriteRune(r)
		i += size
	}
	return b.String()
}

// isBidi reports the bidirectional embedding, override and isolate
// characters, which can make displayed text differ from its bytes.
func isBidi(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c
}

// escapeLen returns the length of the escape sequence body after ESC.
func escapeLen(s string) int {
	if s == "" {
		return 0
	}
	switch s[0] {
	case '[':
		return 1 + csiLen(s[1:])
	case ']', 'P', '_', '^', 'X': // OSC, DCS, APC, PM, SOS: up to BEL or ST
		for i := 1; i < len(s); i++ {
			if s[i] == 0x07 {
				return i + 1
			}
			if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
		}
		return len(s)
	default: // two-byte sequence
		return 1
	}
}

// csiLen returns the length of a CSI sequence's parameters and final byte.
func csiLen(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x40 && s[i] <= 0x7e {
			return i + 1
		}
	}
	return len(s)
}

// linkTemplate is a destination's link template, rendered with the alert.
type linkTemplate struct{ t *template.Template }

func parseLink(name, text string) (*linkTemplate, error) {
	if text == "" {
		return nil, nil
	}
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("link template: %w", err)
	}
	lt := &linkTemplate{t: t}
	if _, err := lt.render(sampleAlert("vigil-template-check")); err != nil {
		return nil, fmt.Errorf("link template: %w", err)
	}
	return lt, nil
}

// render executes the template with the alert (fields of detect.Alert,
// e.g. {{ .AlertID }}, {{ .RuleID | urlquery }}) and cleans the output.
func (lt *linkTemplate) render(a *detect.Alert) (string, error) {
	if lt == nil {
		return "", nil
	}
	var b strings.Builder
	if err := lt.t.Execute(&b, a); err != nil {
		return "", err
	}
	return clean(b.String()), nil
}

// parseSummary parses a Template's summary and renders it once with a
// sample notification, so that mistakes show at load.
func parseSummary(i int, text string) (*template.Template, error) {
	t, err := template.New(fmt.Sprintf("summary%d", i)).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("summary template: %w", err)
	}
	a := sampleAlert("vigil-template-check")
	n := &Notification{Alert: a, AlertIDs: []string{a.AlertID}, Count: 1, LastTime: a.LastTime, Route: "r", Account: "111122223333"}
	if err := t.Execute(io.Discard, n); err != nil {
		return nil, fmt.Errorf("summary template: %w", err)
	}
	return t, nil
}
