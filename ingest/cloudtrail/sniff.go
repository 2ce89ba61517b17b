package cloudtrail

import (
	"bytes"
	"regexp"
)

// sniffWindow is how far into the head Sniff looks for record keys.
const sniffWindow = 16 << 10

// recordsStart matches a Records object at the start of a stream.
var recordsStart = regexp.MustCompile(`^\s*\{\s*"Records"\s*:`)

// Sniff reports whether head, the first bytes of a decompressed stream,
// looks like CloudTrail: a `{"Records":` object; a JSON object or array
// with "eventVersion" or "eventSource" and "awsRegion" near the start
// (bare records, NDJSON, or records escaped in the messages of a
// CloudWatch Logs envelope); or a digest file.
func Sniff(head []byte) bool {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	if recordsStart.Match(head) {
		return true
	}
	t := bytes.TrimLeft(head, " \t\r\n")
	if len(t) == 0 || t[0] != '{' && t[0] != '[' {
		return false
	}
	if len(t) > sniffWindow {
		t = t[:sniffWindow]
	}
	if bytes.Contains(t, []byte(`digestPublicKeyFingerprint`)) || bytes.Contains(t, []byte(`digestStartTime`)) {
		return true
	}
	return bytes.Contains(t, []byte(`awsRegion`)) &&
		(bytes.Contains(t, []byte(`eventVersion`)) || bytes.Contains(t, []byte(`eventSource`)))
}
