package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Log types understood by vigil.
const (
	TypeCloudTrail = "cloudtrail"
	TypeVPCFlow    = "vpcflow"
	TypeK8sAudit   = "k8saudit"
	TypeAuditd     = "auditd"
)

// Types lists every log type in a stable order.
var Types = []string{TypeCloudTrail, TypeVPCFlow, TypeK8sAudit, TypeAuditd}

// Event is one log record in vigil's envelope. Fields holds the record under
// its native field names and is what rules see; Norm holds the common fields
// derived once at ingest, for storage columns and cross-log-type correlation.
type Event struct {
	// ID is stable across re-deliveries of the same record: the CloudTrail
	// eventID, the Kubernetes auditID, otherwise a hash of source and
	// position (see StableID).
	ID string
	// Type is one of the Type* constants.
	Type string
	// Time is the event time in UTC.
	Time time.Time
	// Source names where the record came from: file://path, s3://bucket/key,
	// cloudwatch://group/stream.
	Source string
	// Fields is the record under its native field names. For the JSON log
	// types (cloudtrail, k8saudit) it is exactly Raw decoded, numbers as
	// float64: the Kafka bus sends such an event as its Raw record alone
	// and rebuilds Fields from it.
	Fields map[string]any
	// Raw is the original record, stored verbatim.
	Raw []byte
	// Norm holds the normalized common fields.
	Norm Normalized
}

// Normalized are the common fields derived from a record of any log type.
// Empty strings and zero ports mean "not present in this record".
type Normalized struct {
	Account   string `json:"account,omitempty"`    // AWS account ID (recipient account for CloudTrail)
	Region    string `json:"region,omitempty"`     // AWS region
	Actor     string `json:"actor,omitempty"`      // who acted: principal ARN, Kubernetes user, auid/uid
	Action    string `json:"action,omitempty"`     // what was done: eventName, verb, syscall, flow action
	Target    string `json:"target,omitempty"`     // what it was done to: resource name, object ref, path
	SrcIP     string `json:"src_ip,omitempty"`     // source address
	DstIP     string `json:"dst_ip,omitempty"`     // destination address
	SrcPort   int    `json:"src_port,omitempty"`   // source port
	DstPort   int    `json:"dst_port,omitempty"`   // destination port
	Protocol  string `json:"protocol,omitempty"`   // "tcp", "udp", "icmp", … or the IANA number as text
	Outcome   string `json:"outcome,omitempty"`    // "success", "failure" or ""
	UserAgent string `json:"user_agent,omitempty"` // HTTP user agent of the caller
}

// StableID returns a deterministic identifier built from parts: the first 16
// bytes of the SHA-256 of the parts, each terminated by a zero byte, in hex.
// Decoders use it when the record carries no ID of its own, with the log
// type, the source and the record's position (or its natural key).
func StableID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}
