package auditd

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/ingest"
)

// Architectures with a syscall name table (the arch= field of SYSCALL).
const (
	archX86_64  = "c000003e"
	archAarch64 = "c00000b7"
)

// syscallName returns the name of syscall number num on arch, or "".
func syscallName(arch, num string) string {
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 {
		return ""
	}
	var table []string
	switch strings.ToLower(arch) {
	case archX86_64:
		table = syscallsX86_64[:]
	case archAarch64:
		table = syscallsAarch64[:]
	}
	if n >= len(table) {
		return ""
	}
	return table[n]
}

// build turns a completed event into an ingest.Event.
func build(p *pending, src string) *ingest.Event {
	var primary *record
	types := make([]any, 0, len(p.records))
	records := make(map[string]any, len(p.records))
	size := len(p.records) - 1
	for _, r := range p.records {
		size += len(r.raw)
	}
	raw := make([]byte, 0, size)
	for i, r := range p.records {
		if i > 0 {
			raw = append(raw, '\n')
		}
		raw = append(raw, r.raw...)
		if r.typ == "EOE" {
			continue
		}
		if primary == nil || r.typ == "SYSCALL" && primary.typ != "SYSCALL" {
			primary = r
		}
		types = append(types, r.typ)
		list, _ := records[r.typ].([]any)
		records[r.typ] = append(list, r.fields)
	}
	f := make(map[string]any, len(primary.fields)+12)
	for k, v := range primary.fields {
		f[k] = v
	}
	f["type"] = primary.typ
	f["types"] = types
	f["records"] = records
	f["sequence"] = int(p.key.serial)
	if p.key.node != "" {
		f["node"] = p.key.node
	}
	if primary.typ == "SYSCALL" {
		arch, _ := f["arch"].(string)
		num, _ := f["syscall"].(string)
		if name := syscallName(arch, num); name != "" {
			f["syscall"] = name
		}
	}
	if key, ok := f["key"].(string); ok {
		// Some auditctl versions stored the rule key with its "key=" prefix.
		f["key"] = strings.TrimPrefix(key, "key=")
	}
	if key, ok := f["key"].(string); ok && strings.Contains(key, "\x01") {
		keys := strings.Split(key, "\x01")
		f["key"] = keys[0]
		list := make([]any, len(keys))
		for i, k := range keys {
			list[i] = k
		}
		f["keys"] = list
	}
	argv := execArgs(records["EXECVE"])
	if argv != nil {
		f["argv"] = argv
	}
	if pt := firstValue(records, "PROCTITLE", "proctitle"); pt != "" {
		f["proctitle"] = pt
	}
	switch {
	case len(argv) > 0:
		f["cmdline"] = joinArgs(argv)
	case f["proctitle"] != nil:
		f["cmdline"] = f["proctitle"]
	}
	if cwd := firstValue(records, "CWD", "cwd"); cwd != "" {
		f["cwd"] = cwd
	}
	var paths []any
	if list, ok := records["PATH"].([]any); ok {
		paths = make([]any, len(list))
		for i, m := range list {
			name, _ := m.(map[string]any)["name"].(string)
			paths[i] = name
		}
		f["paths"] = paths
	}
	var sa map[string]any
	if list, ok := records["SOCKADDR"].([]any); ok {
		for _, m := range list {
			m := m.(map[string]any)
			if s, ok := m["saddr"].(string); ok {
				if d := decodeSockaddr(s); d != nil {
					for k, v := range d {
						m[k] = v
					}
					if sa == nil {
						sa = d
					}
				}
			}
		}
		if sa != nil {
			f["sockaddr"] = sa
		}
	}
	return &ingest.Event{
		ID:     ingest.StableID("auditd", p.key.node, p.key.stamp+":"+strconv.FormatUint(p.key.serial, 10)),
		Type:   ingest.TypeAuditd,
		Time:   time.Unix(p.sec, p.nsec).UTC(),
		Source: src,
		Fields: f,
		Raw:    raw,
		Norm:   normalize(f, records, sa),
	}
}

// firstValue returns key of the first record of type typ, or "".
func firstValue(records map[string]any, typ, key string) string {
	list, _ := records[typ].([]any)
	if len(list) == 0 {
		return ""
	}
	v, _ := list[0].(map[string]any)[key].(string)
	return v
}

// execArgs collects the arguments of the EXECVE records: a0, a1, … in
// order, an argument logged in chunks (aN_len=, aN[0]=, aN[1]=, … possibly
// spread over several EXECVE records) joined. It stops at the first missing
// argument (a record lost) and never reads past argc.
func execArgs(list any) []any {
	recs, _ := list.([]any)
	if len(recs) == 0 {
		return nil
	}
	all := make(map[string]string)
	for _, m := range recs {
		for k, v := range m.(map[string]any) {
			all[k] = v.(string)
		}
	}
	argc, err := strconv.Atoi(all["argc"])
	if err != nil || argc < 0 || argc > len(all) {
		argc = len(all)
	}
	argv := make([]any, 0, min(argc, 64))
	for i := 0; i < argc; i++ {
		name := "a" + strconv.Itoa(i)
		if v, ok := all[name]; ok {
			argv = append(argv, v)
			continue
		}
		var b strings.Builder
		j := 0
		for ; ; j++ {
			chunk, ok := all[name+"["+strconv.Itoa(j)+"]"]
			if !ok {
				break
			}
			b.WriteString(chunk)
		}
		if j == 0 {
			break
		}
		argv = append(argv, b.String())
	}
	return argv
}

func joinArgs(argv []any) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a.(string))
	}
	return b.String()
}

// Address families decoded from SOCKADDR saddr.
const (
	afUnix    = 1
	afInet    = 2
	afInet6   = 10
	afNetlink = 16
)

// decodeSockaddr decodes the hex struct sockaddr of a SOCKADDR record into
// saddr_fam ("inet", "inet6", "local", "netlink", or the family number),
// laddr and lport for IP families, and path for unix sockets (a leading
// "@" marks an abstract socket). It returns nil when saddr is not hex.
func decodeSockaddr(saddr string) map[string]any {
	b := make([]byte, len(saddr)/2)
	if len(saddr)%2 != 0 || len(b) < 2 {
		return nil
	}
	for i := range b {
		hi, ok1 := unhex(saddr[2*i])
		lo, ok2 := unhex(saddr[2*i+1])
		if !ok1 || !ok2 {
			return nil
		}
		b[i] = hi<<4 | lo
	}
	fam := binary.LittleEndian.Uint16(b) // host order; x86_64 and aarch64 are little-endian
	m := map[string]any{}
	switch fam {
	case afInet:
		m["saddr_fam"] = "inet"
		if len(b) >= 8 {
			m["lport"] = strconv.Itoa(int(binary.BigEndian.Uint16(b[2:])))
			m["laddr"] = netip.AddrFrom4([4]byte(b[4:8])).String()
		}
	case afInet6:
		m["saddr_fam"] = "inet6"
		if len(b) >= 24 {
			m["lport"] = strconv.Itoa(int(binary.BigEndian.Uint16(b[2:])))
			m["laddr"] = netip.AddrFrom16([16]byte(b[8:24])).Unmap().String()
		}
	case afUnix:
		m["saddr_fam"] = "local"
		path := b[2:]
		if len(path) > 0 && path[0] == 0 {
			m["path"] = "@" + string(bytes.TrimRight(path[1:], "\x00"))
		} else {
			if i := bytes.IndexByte(path, 0); i >= 0 {
				path = path[:i]
			}
			m["path"] = string(path)
		}
	case afNetlink:
		m["saddr_fam"] = "netlink"
	default:
		m["saddr_fam"] = strconv.Itoa(int(fam))
	}
	return m
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// inbound lists the syscalls whose socket address is the remote peer that
// reached us (or our own bound address), normalized as the source; for all
// others (connect, sendto, sendmsg, …) the address is the destination.
var inbound = map[string]bool{
	"accept": true, "accept4": true, "bind": true, "recvfrom": true, "recvmsg": true, "recvmmsg": true,
}

// normalize derives the common fields as the package documentation
// describes.
func normalize(f map[string]any, records map[string]any, sa map[string]any) ingest.Normalized {
	var n ingest.Normalized
	str := func(k string) string { s, _ := f[k].(string); return s }
	if auid := str("auid"); auid != "" && auid != "4294967295" && auid != "-1" && auid != "unset" {
		n.Actor = "auid=" + auid
		if name := str("AUID"); name != "" {
			n.Actor += "(" + name + ")"
		}
	} else if uid := str("uid"); uid != "" {
		n.Actor = "uid=" + uid
		if name := str("UID"); name != "" {
			n.Actor += "(" + name + ")"
		}
	}
	if acct := str("acct"); acct != "" {
		n.Actor = strings.TrimSpace(n.Actor + " acct=" + acct)
	}
	if f["type"] == "SYSCALL" {
		n.Action = str("syscall")
	} else {
		n.Action = str("type")
	}
	n.Target = target(records)
	if n.Target == "" {
		n.Target = str("exe")
	}
	if sa != nil {
		ip, _ := sa["laddr"].(string)
		port, _ := strconv.Atoi(strOf(sa["lport"]))
		if inbound[n.Action] {
			n.SrcIP, n.SrcPort = ip, port
		} else {
			n.DstIP, n.DstPort = ip, port
		}
	} else if addr, err := netip.ParseAddr(str("addr")); err == nil {
		n.SrcIP = addr.String()
	}
	switch str("success") {
	case "yes":
		n.Outcome = "success"
	case "no":
		n.Outcome = "failure"
	default:
		switch str("res") {
		case "success", "yes", "1":
			n.Outcome = "success"
		case "failed", "failure", "no", "0":
			n.Outcome = "failure"
		}
	}
	return n
}

func strOf(v any) string { s, _ := v.(string); return s }

// target returns the first PATH name that is not a PARENT item, else the
// first PATH name.
func target(records map[string]any) string {
	list, _ := records["PATH"].([]any)
	first := ""
	for _, m := range list {
		m := m.(map[string]any)
		name, _ := m["name"].(string)
		if name == "" {
			continue
		}
		if first == "" {
			first = name
		}
		if m["nametype"] != "PARENT" && m["objtype"] != "PARENT" {
			return name
		}
	}
	return first
}
