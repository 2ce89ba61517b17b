package cloudtrail

import (
	"strings"
	"time"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/jsonstream"
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

// targetRank is the position of each key in targetKeys.
var targetRank = func() map[string]int {
	r := make(map[string]int, len(targetKeys))
	for i, k := range targetKeys {
		r[k] = i
	}
	return r
}()

// firstTarget returns the non-empty string value of req under the first
// of targetKeys that has one. It walks the keys of req, which are fewer
// than targetKeys in most records.
func firstTarget(req map[string]any) string {
	best, v := len(targetKeys), ""
	for k, x := range req {
		if r, ok := targetRank[k]; ok && r < best {
			if s, _ := x.(string); s != "" {
				best, v = r, s
			}
		}
	}
	return v
}

// normalize derives the common fields of record m.
func normalize(m map[string]any) ingest.Normalized {
	uid, _ := m["userIdentity"].(map[string]any)
	n := ingest.Normalized{
		Account:   first(jsonstream.Str(m, "recipientAccountId"), jsonstream.Str(uid, "accountId")),
		Region:    jsonstream.Str(m, "awsRegion"),
		Actor:     actor(uid),
		Action:    action(jsonstream.Str(m, "eventSource"), jsonstream.Str(m, "eventName")),
		Target:    target(m),
		SrcIP:     jsonstream.IP(jsonstream.Str(m, "sourceIPAddress")),
		Outcome:   "success",
		UserAgent: jsonstream.Str(m, "userAgent"),
	}
	resp, _ := m["responseElements"].(map[string]any)
	if jsonstream.Str(m, "errorCode") != "" || jsonstream.Str(resp, "ConsoleLogin") == "Failure" {
		n.Outcome = "failure"
	}
	return n
}

// actor returns the principal of userIdentity uid: its ARN, else its
// principal ID, user name, "root" for the root user, else the invoking
// service.
func actor(uid map[string]any) string {
	if a := first(jsonstream.Str(uid, "arn"), jsonstream.Str(uid, "principalId"), jsonstream.Str(uid, "userName")); a != "" {
		return a
	}
	if jsonstream.Str(uid, "type") == "Root" {
		return "root"
	}
	return jsonstream.Str(uid, "invokedBy")
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
		if v := firstTarget(req); v != "" {
			return v
		}
		if set, ok := req["instancesSet"].(map[string]any); ok {
			if items, ok := set["items"].([]any); ok && len(items) > 0 {
				if it, ok := items[0].(map[string]any); ok {
					if v := jsonstream.Str(it, "instanceId"); v != "" {
						return v
					}
				}
			}
		}
	}
	if res, ok := m["resources"].([]any); ok && len(res) > 0 {
		if r, ok := res[0].(map[string]any); ok {
			return first(jsonstream.Str(r, "ARN"), jsonstream.Str(r, "arn"))
		}
	}
	return ""
}

func first(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// parseTime reads a timestamp: a string as jsonstream.ParseTime reads it,
// or Unix seconds or milliseconds as a number. The result is UTC.
func parseTime(v any) (time.Time, bool) {
	switch v := v.(type) {
	case string:
		return jsonstream.ParseTime(v)
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
