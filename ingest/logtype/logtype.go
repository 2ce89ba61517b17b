// Package logtype wires vigil's decoders by log type name and detects the
// log type of a file from its first bytes.
package logtype

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/auditd"
	"github.com/vigilsec/vigil/ingest/cloudtrail"
	"github.com/vigilsec/vigil/ingest/k8saudit"
	"github.com/vigilsec/vigil/ingest/vpcflow"
)

// Config configures the decoders built by Decoders.
type Config struct {
	// Limits caps record and decompressed sizes for every decoder.
	Limits ingest.Limits
	// FlowFormat is the VPC flow log format used when a file has no
	// header line, e.g. "${version} ${vpc-id} ...". Default: the v2
	// default format.
	FlowFormat string
}

// Decoders returns one decoder per log type, keyed by the ingest.Type*
// names.
func Decoders(c Config) (map[string]ingest.Decoder, error) {
	ct, err := cloudtrail.New(cloudtrail.Config{Limits: c.Limits})
	if err != nil {
		return nil, fmt.Errorf("cloudtrail: %w", err)
	}
	vf, err := vpcflow.New(vpcflow.Config{Limits: c.Limits, Format: c.FlowFormat})
	if err != nil {
		return nil, fmt.Errorf("vpcflow: %w", err)
	}
	ka, err := k8saudit.New(k8saudit.Config{Limits: c.Limits})
	if err != nil {
		return nil, fmt.Errorf("k8saudit: %w", err)
	}
	ad, err := auditd.New(auditd.Config{Limits: c.Limits})
	if err != nil {
		return nil, fmt.Errorf("auditd: %w", err)
	}
	return map[string]ingest.Decoder{
		ingest.TypeCloudTrail: ct,
		ingest.TypeVPCFlow:    vf,
		ingest.TypeK8sAudit:   ka,
		ingest.TypeAuditd:     ad,
	}, nil
}

// sniffers are tried in order; the JSON log types come first because their
// tests look at keys, while the line formats look at shapes.
var sniffers = []struct {
	typ   string
	sniff func([]byte) bool
}{
	{ingest.TypeCloudTrail, cloudtrail.Sniff},
	{ingest.TypeK8sAudit, k8saudit.Sniff},
	{ingest.TypeAuditd, auditd.Sniff},
	{ingest.TypeVPCFlow, vpcflow.Sniff},
}

// SniffBytes is how many leading bytes Detect looks at.
const SniffBytes = 64 << 10

// Detect returns the log type whose decoder recognises head, the first
// bytes of a decompressed stream, or "" when none does.
func Detect(head []byte) string {
	for _, s := range sniffers {
		if s.sniff(head) {
			return s.typ
		}
	}
	return ""
}

// Peek wraps r so that its first bytes can be examined without consuming
// them: it returns the head (at most SniffBytes) and a reader that yields
// the whole stream, head included.
func Peek(r io.Reader) ([]byte, io.Reader, error) {
	br := bufio.NewReaderSize(r, SniffBytes)
	head, err := br.Peek(SniffBytes)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, nil, err
	}
	return head, br, nil
}

// Errors of Prepare.
var (
	// ErrEmpty is returned for a stream that holds nothing but white space.
	ErrEmpty = errors.New("empty input")
	// ErrUnknownType is returned when no decoder recognises the stream.
	ErrUnknownType = errors.New("cannot detect the log type")
)

// Prepare readies one input for decoding: it decompresses r when it is
// gzip (ingest.Open, capped by lim) and tells its log type, typ when given,
// else detected from the first bytes. It returns the type and a reader of
// the whole decompressed stream, ErrEmpty for a blank stream whose type
// was not given, ErrUnknownType when no decoder recognises it, or the
// error of decompressing or reading the head.
func Prepare(r io.Reader, lim ingest.Limits, typ string) (string, io.Reader, error) {
	plain, err := ingest.Open(r, lim)
	if err != nil {
		return "", nil, err
	}
	head, body, err := Peek(plain)
	if err != nil {
		return "", nil, err
	}
	if typ != "" {
		return typ, body, nil
	}
	if typ = Detect(head); typ == "" {
		if len(bytes.TrimSpace(head)) == 0 {
			return "", nil, ErrEmpty
		}
		return "", nil, ErrUnknownType
	}
	return typ, body, nil
}
