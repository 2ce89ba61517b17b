package cloudtrail

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/ingest"
)

// targetKeys are requestParameters keys naming the resource acted on, most
// specific first.
var targetKeys = []string{
	"bucketName", "roleName", "userName", "groupName", "policyArn", "policyName",
	"functionName", "instanceId", "trailName", "name", "secretId", "keyId",
	"dBInstanceIdentifier", "dBClusterIdentifier", "clusterName", "repositoryName",
	"tableName", "queueUrl", "topicArn", "stackName", "logGroupName", "detectorId",
	"snapshotId", "volumeId", "imageId", "groupId", "vpcId", "resourceArn",
}

// normalize derives the common fields of record m.
func normalize(m map[string]any) ingest.Normalized {
	uid, _ := m["userIdentity"].(map[string]any)
	n := ingest.Normalized{
		Account:   first(str(m, "recipientAccountId"), str(uid, "accountId")),
		Region:    str(m, "awsRegion"),
		Actor:     actor(uid),
		Action:    action(str(m, "eventSource"), str(m, "eventName")),
		Target:    target(m),
		SrcIP:     ip(str(m, "sourceIPAddress")),
		Outcome:   "success",
		UserAgent: str(m, "userAgent"),
	}
	resp, _ := m["responseElements"].(map[string]any)
	if str(m, "errorCode") != "" || str(resp, "ConsoleLogin") == "Failure" {
		n.Outcome = "failure"
	}
	return n
}

// actor returns the principal of userIdentity uid: its ARN, else its
// principal ID, user name, "root" for the root user, else the invoking
// service.
func actor(uid map[string]any) string {
	if a := first(str(uid, "arn"), str(uid, "principalId"), str(uid, "userName")); a != "" {
		return a
	}
	if str(uid, "type") == "Root" {
		return "root"
	}
	return str(uid, "invokedBy")
}

// action returns "service:eventName", the service being eventSource
// without ".amazonaws.com" (as in IAM actions: "iam:CreateUser"), or the
// bare eventName when eventSource is absent.
func action(source, name string) string {
	if name == "" {
		return ""
	}
	if source == "" {
		return name
	}
	return strings.TrimSuffix(source, ".amazonaws.com") + ":" + name
}

// target returns a best-effort name of the resource acted on.
func target(m map[string]any) string {
	if req, ok := m["requestParameters"].(map[string]any); ok {
		for _, k := range targetKeys {
			if v := str(req, k); v != "" {
				return v
			}
		}
		if set, ok := req["instancesSet"].(map[string]any); ok {
			if items, ok := set["items"].([]any); ok && len(items) > 0 {
				if it, ok := items[0].(map[string]any); ok {
					if v := str(it, "instanceId"); v != "" {
						return v
					}
				}
			}
		}
	}
	if res, ok := m["resources"].([]any); ok && len(res) > 0 {
		if r, ok := res[0].(map[string]any); ok {
			return first(str(r, "ARN"), str(r, "arn"))
		}
	}
	return ""
}

// str returns m[k] when it is a string.
func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func first(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
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

// parseTime reads a timestamp: RFC 3339, "2022-11-29 00:09:04.38" (with or
// without fraction and zone), or Unix seconds or milliseconds as a number.
// The result is UTC.
func parseTime(v any) (time.Time, bool) {
	switch v := v.(type) {
	case string:
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t.UTC(), true
		}
		for _, l := range timeLayouts {
			if t, err := time.Parse(l, v); err == nil {
				return t.UTC(), true
			}
		}
	case float64:
		switch {
		case v > 1e11: // milliseconds: seconds would be after year 5000
			return time.UnixMilli(int64(v)).UTC(), true
		case v > 0:
			sec := int64(v)
			return time.Unix(sec, int64((v-float64(sec))*1e9)).UTC(), true
		}
	}
	return time.Time{}, false
}
