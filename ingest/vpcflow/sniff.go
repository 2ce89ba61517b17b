package vpcflow

import "bytes"

// defaultFormat is DefaultFormat parsed.
var defaultFormat = mustFormat(DefaultFormat)

func mustFormat(s string) *format {
	f, err := parseFormat(splitFields(s))
	if err != nil {
		panic(err)
	}
	return f
}

// splitFields returns the fields of s as split by Decode.
func splitFields(s string) []string {
	var out []string
	for _, sp := range split([]byte(s), nil) {
		out = append(out, s[sp[0]:sp[1]])
	}
	return out
}

// Sniff reports whether head, the first bytes of a decompressed stream,
// looks like a VPC flow log: its first line that is not blank or a comment
// is a header line of known flow log field names, or a record of the version 2
// default format (14 fields whose integers parse, action ACCEPT, REJECT or
// "-", log status OK, NODATA or SKIPDATA).
func Sniff(head []byte) bool {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		toks := splitFields(string(line))
		if len(toks) == 0 {
			continue
		}
		if headerFormat(toks) != nil {
			for _, t := range toks {
				if _, ok := known[unwrapName(t)]; !ok {
					return false
				}
			}
			return true
		}
		ev, err := defaultFormat.event(toks)
		if err != nil {
			return false
		}
		a, _ := ev.Fields["action"].(string)
		st, _ := ev.Fields["log_status"].(string)
		return (a == "" || a == "ACCEPT" || a == "REJECT") &&
			(st == "OK" || st == "NODATA" || st == "SKIPDATA")
	}
	return false
}
