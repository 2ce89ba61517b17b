package k8saudit

import (
	"bytes"
	"regexp"
)

// sniffWindow is how far into the head Sniff looks for event keys.
const sniffWindow = 16 << 10

// kindEvent matches the kind of an audit event or event list.
var kindEvent = regexp.MustCompile(`"kind"\s*:\s*"Event(List)?"`)

// Sniff reports whether head, the first bytes of a decompressed stream,
// looks like Kubernetes audit events: a JSON object or array whose start
// holds "auditID", "audit.k8s.io/", or kind Event or EventList together
// with "verb" or "objectRef". The bare words are searched, so events
// escaped in the messages of a CloudWatch Logs envelope match too.
func Sniff(head []byte) bool {
	t := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(t) == 0 || t[0] != '{' && t[0] != '[' {
		return false
	}
	if len(t) > sniffWindow {
		t = t[:sniffWindow]
	}
	if bytes.Contains(t, []byte("auditID")) || bytes.Contains(t, []byte("audit.k8s.io/")) {
		return true
	}
	return kindEvent.Match(t) && (bytes.Contains(t, []byte(`"verb"`)) || bytes.Contains(t, []byte(`"objectRef"`)))
}
