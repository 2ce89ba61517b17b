package auditd

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
)

// record is one parsed audit.log line.
type record struct {
	typ    string // record type name, e.g. "SYSCALL"
	node   string // node= prefix, "" when absent
	stamp  string // "seconds.millis" as logged
	sec    int64
	nsec   int64
	serial uint64
	fields map[string]any // decoded key=value pairs (values are strings)
	raw    string         // the line
}

// Errors reported for malformed lines.
var (
	errNoType   = errors.New("no type= field")
	errNoAudit  = errors.New("no msg=audit(timestamp:serial) header")
	errBadStamp = errors.New("malformed audit(timestamp:serial) header")
)

// numericTypes names the record types that kernel console output
// ("audit: type=1300 audit(...)") gives as numbers.
var numericTypes = map[string]string{
	"1006": "LOGIN", "1100": "USER_AUTH", "1101": "USER_ACCT", "1103": "CRED_ACQ",
	"1104": "CRED_DISP", "1105": "USER_START", "1106": "USER_END", "1112": "USER_LOGIN",
	"1123": "USER_CMD", "1300": "SYSCALL", "1302": "PATH", "1305": "CONFIG_CHANGE",
	"1306": "SOCKADDR", "1307": "CWD", "1309": "EXECVE", "1320": "EOE",
	"1326": "SECCOMP", "1327": "PROCTITLE", "1400": "AVC",
}

// parseLine parses one raw audit.log line:
//
//	[syslog prefix ][node=NAME ]type=TYPE msg=audit(SEC.MS:SERIAL): key=value ...
//
// The "msg=" before "audit(" and the colon after it are optional, so the
// kernel console form and the few records auditd writes without the colon
// are accepted. line is copied once; the record's strings share that copy.
func parseLine(line []byte) (*record, error) {
	i := indexField(line, "type=")
	if i < 0 {
		return nil, errNoType
	}
	s := string(line)
	r := &record{raw: s, node: prefixNode(s[:i])}
	rest := s[i+len("type="):]
	end := strings.IndexAny(rest, " \t")
	if end == 0 {
		return nil, errNoType
	}
	if end < 0 {
		return nil, errNoAudit
	}
	r.typ = rest[:end]
	if r.typ[0] >= '0' && r.typ[0] <= '9' {
		if name, ok := numericTypes[r.typ]; ok {
			r.typ = name
		}
	}
	rest = strings.TrimLeft(rest[end:], " \t")
	rest = strings.TrimPrefix(rest, "msg=")
	rest, ok := strings.CutPrefix(rest, "audit(")
	if !ok {
		return nil, errNoAudit
	}
	end = strings.IndexByte(rest, ')')
	if end < 0 {
		return nil, errBadStamp
	}
	if err := r.parseStamp(rest[:end]); err != nil {
		return nil, err
	}
	body := strings.TrimPrefix(rest[end+1:], ":")
	r.fields = make(map[string]any, strings.Count(body, "="))
	parsePairs(body, r.fields, r.typ == "EXECVE")
	if r.typ == "AVC" || r.typ == "USER_AVC" {
		parseAVC(body, r.fields)
	}
	return r, nil
}

// parseAVC adds seresult ("denied", "granted") and seperms (the permissions,
// comma separated) from an SELinux "avc:  denied  { read write } for ..."
// message (the body of AVC, the msg='...' of USER_AVC).
func parseAVC(body string, dst map[string]any) {
	i := strings.Index(body, "avc:")
	if i < 0 {
		return
	}
	words := strings.Fields(body[i+len("avc:"):])
	if len(words) < 3 || words[1] != "{" {
		return
	}
	var perms []string
	for _, w := range words[2:] {
		if w == "}" {
			dst["seresult"] = words[0]
			dst["seperms"] = strings.Join(perms, ",")
			return
		}
		perms = append(perms, w)
	}
}

// indexField returns the index of name in line where it starts the line or
// follows a blank, or -1.
func indexField(line []byte, name string) int {
	off := 0
	for {
		i := bytes.Index(line[off:], []byte(name))
		if i < 0 {
			return -1
		}
		i += off
		if i == 0 || line[i-1] == ' ' || line[i-1] == '\t' {
			return i
		}
		off = i + 1
	}
}

// prefixNode returns the value of the last node= word before type=.
func prefixNode(prefix string) string {
	node := ""
	for _, w := range strings.Fields(prefix) {
		if v, ok := strings.CutPrefix(w, "node="); ok {
			node = v
		}
	}
	return node
}

// maxSeconds bounds audit timestamps so that nanosecond arithmetic cannot
// overflow (about the year 2255).
const maxSeconds = 9e9

// parseStamp parses "SEC.FRAC:SERIAL".
func (r *record) parseStamp(b string) error {
	ts, serial, ok := strings.Cut(b, ":")
	if !ok {
		return errBadStamp
	}
	secText, frac, _ := strings.Cut(ts, ".")
	sec, err := strconv.ParseInt(secText, 10, 64)
	if err != nil || sec < 0 || sec > maxSeconds || !allDigits(frac) || len(frac) > 9 {
		return errBadStamp
	}
	n, err := strconv.ParseInt(serial, 10, 64)
	if err != nil || n < 0 {
		return errBadStamp
	}
	var nsec int64
	for i := range 9 {
		nsec *= 10
		if i < len(frac) {
			nsec += int64(frac[i] - '0')
		}
	}
	r.stamp, r.sec, r.nsec, r.serial = ts, sec, nsec, uint64(n)
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isSep reports whether c separates key=value pairs. 0x1d (group separator)
// starts the names auditd appends in its ENRICHED log format.
func isSep(c byte) bool { return c == ' ' || c == '\t' || c == 0x1d }

// parsePairs adds the key=value pairs of body to dst. Words without "=" are
// skipped ("user", "avc:  denied  { read } for"). Values may be "double
// quoted", hex encoded (decoded for untrusted-string keys only, see
// decodeValue), {braced} or bare. A single-quoted msg='...' value (user-space
// records) is parsed as nested pairs into dst. "(null)" values are dropped.
func parsePairs(body string, dst map[string]any, execve bool) {
	for i := 0; i < len(body); {
		for i < len(body) && isSep(body[i]) {
			i++
		}
		start := i
		for i < len(body) && !isSep(body[i]) && body[i] != '=' {
			i++
		}
		if i >= len(body) || body[i] != '=' {
			continue // a bare word
		}
		key := strings.TrimLeft(body[start:i], "(")
		i++ // '='
		var val string
		quoted := false
		switch {
		case i < len(body) && (body[i] == '"' || body[i] == '\''):
			q := body[i]
			end := strings.IndexByte(body[i+1:], q)
			if end < 0 {
				val, i = body[i+1:], len(body)
			} else {
				val, i = body[i+1:i+1+end], i+2+end
			}
			if q == '\'' && key == "msg" {
				parsePairs(val, dst, false)
				continue
			}
			quoted = true
		case i < len(body) && body[i] == '{':
			end := strings.IndexByte(body[i:], '}')
			if end < 0 {
				val, i = body[i:], len(body)
			} else {
				val, i = body[i:i+end+1], i+end+1
			}
			quoted = true
		default:
			s := i
			for i < len(body) && !isSep(body[i]) {
				i++
			}
			val = trimBare(body[s:i])
			if len(val) > len(null) && strings.HasPrefix(val, null) {
				// "(null)" glued to the next pair: the 0x1d before the
				// ENRICHED names was lost on the way.
				i = s + len(null)
				val = null
			}
		}
		if key == "" {
			continue
		}
		if !quoted && val == null {
			delete(dst, key)
			continue
		}
		dst[key] = decodeValue(key, val, quoted, execve)
	}
}

// null is the value the kernel logs for an absent string.
const null = "(null)"

// trimBare drops the punctuation that old user-space records put around
// bare values: "res=success)" and "hostname=?,".
func trimBare(v string) string {
	v = strings.TrimSuffix(v, ",")
	if strings.HasSuffix(v, ")") && strings.IndexByte(v, '(') < 0 {
		v = v[:len(v)-1]
	}
	return v
}

// untrusted reports whether key is logged as an untrusted string by the
// kernel or auditd: "quoted" when printable, otherwise hex encoded. Only
// these (and EXECVE arguments) are hex-decoded; numeric and pointer fields
// (pid, uid, arch, a0-a3 of SYSCALL, saddr) never are.
func untrusted(key string) bool {
	switch key {
	case "acct", "cgroup", "cmd", "comm", "cwd", "data", "device", "dir", "exe",
		"file", "grp", "key", "name", "new-chardev", "new-disk", "new-fs", "new-net",
		"new_group", "ocomm", "old-chardev", "old-disk", "old-fs", "old-net", "path",
		"proctitle", "root_dir", "sw", "vm", "watch":
		return true
	}
	return false
}

// decodeValue returns the value of key: quoted values as they are, bare hex
// of an untrusted-string key decoded. A stray closing quote after hex
// (key=6578...74" from some kernels) is tolerated.
func decodeValue(key, val string, quoted, execve bool) string {
	if quoted || !(untrusted(key) || execve && isExecArg(key)) {
		return val
	}
	h := strings.TrimSuffix(val, `"`)
	if len(h) == 0 || len(h)%2 != 0 {
		return val
	}
	out, err := hex.DecodeString(h)
	if err != nil {
		return val
	}
	if key == "proctitle" {
		return nulsToSpaces(out)
	}
	return string(out)
}

// isExecArg reports whether key names an EXECVE argument or argument chunk:
// a0, a12, a3[0].
func isExecArg(key string) bool {
	if len(key) < 2 || key[0] != 'a' {
		return false
	}
	num, chunk, split := strings.Cut(key[1:], "[")
	if !allDigits(num) || num == "" {
		return false
	}
	if !split {
		return true
	}
	idx, ok := strings.CutSuffix(chunk, "]")
	return ok && idx != "" && allDigits(idx)
}

// nulsToSpaces turns the NUL separators of a decoded proctitle into spaces,
// dropping trailing ones.
func nulsToSpaces(b []byte) string {
	b = bytes.TrimRight(b, "\x00")
	for i, c := range b {
		if c == 0 {
			b[i] = ' '
		}
	}
	return string(b)
}
