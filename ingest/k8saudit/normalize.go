package k8saudit

import (
	"strings"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/jsonstream"
)

// normalize derives the common fields of audit event m.
func normalize(m map[string]any) ingest.Normalized {
	user, _ := m["user"].(map[string]any)
	n := ingest.Normalized{
		Actor:     jsonstream.Str(user, "username"),
		Action:    jsonstream.Str(m, "verb"),
		Target:    target(m),
		UserAgent: jsonstream.Str(m, "userAgent"),
	}
	if ips, ok := m["sourceIPs"].([]any); ok && len(ips) > 0 {
		s, _ := ips[0].(string)
		n.SrcIP = jsonstream.IP(s)
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
		return jsonstream.Str(m, "requestURI")
	}
	t := jsonstream.Str(ref, "resource")
	if sub := jsonstream.Str(ref, "subresource"); sub != "" {
		t += "/" + sub
	}
	ns, name := jsonstream.Str(ref, "namespace"), jsonstream.Str(ref, "name")
	switch {
	case ns != "":
		t += " " + ns + "/" + name
	case name != "":
		t += " " + name
	}
	return strings.TrimSpace(t)
}
