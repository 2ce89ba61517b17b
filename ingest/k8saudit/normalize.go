package k8saudit

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/ingest"
)

// normalize derives the common fields of audit event m.
func normalize(m map[string]any) ingest.Normalized {
	user, _ := m["user"].(map[string]any)
	n := ingest.Normalized{
		Actor:     str(user, "username"),
		Action:    str(m, "verb"),
		Target:    target(m),
		UserAgent: str(m, "userAgent"),
	}
	if ips, ok := m["sourceIPs"].([]any); ok && len(ips) > 0 {
		s, _ := ips[0].(string)
		n.SrcIP = ip(s)
	}
	if rs, ok := m["responseStatus"].(map[string]any); ok {
		if code, ok := rs["code"].(float64); ok && code > 0 {
			n.Outcome = "success"
			if code >= 400 {
				n.Outcome = "failure"
			}
		}
	}
	return n
}

// target names the object of the request: "resource[/subresource]", then a
// space and "namespace/name" for a namespaced object, "name" for a
// cluster-scoped one, "namespace/" for a collection in a namespace, and
// nothing for a cluster-wide collection. Without objectRef (non-resource
// requests such as /healthz) it is the requestURI.
func target(m map[string]any) string {
	ref, ok := m["objectRef"].(map[string]any)
	if !ok {
		return str(m, "requestURI")
	}
	t := str(ref, "resource")
	if sub := str(ref, "subresource"); sub != "" {
		t += "/" + sub
	}
	ns, name := str(ref, "namespace"), str(ref, "name")
	switch {
	case ns != "":
		t += " " + ns + "/" + name
	case name != "":
		t += " " + name
	}
	return strings.TrimSpace(t)
}

// str returns m[k] when it is a string.
func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// ip returns s in canonical form when it is an IP address, tolerating
// leading zeros in IPv4 octets; else "".
func ip(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
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

// timeLayouts are the layouts tried by parseTime after RFC 3339. Layouts
// without a zone are read as UTC.
var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
}

// parseTime reads a timestamp: RFC 3339 (Kubernetes MicroTime included) or
// "2022-11-29 00:09:04.38" (with or without fraction and zone). The result
// is UTC.
func parseTime(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
