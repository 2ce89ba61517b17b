package vpcflow

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultFormat is the version 2 default flow log format, used when neither
// a header line nor Config.Format says otherwise.
const DefaultFormat = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"

// maxFields caps the number of fields of a format; no documented format
// comes close.
const maxFields = 256

// role marks the fields that feed Event.Time and Event.Norm.
type role uint8

const (
	roleNone role = iota
	roleAccount
	roleInterface
	roleInstance
	roleRegion
	roleSrcaddr
	roleDstaddr
	roleSrcport
	roleDstport
	roleProtocol
	roleStart
	roleEnd
	roleAction
	numRoles
)

// spec describes a known field.
type spec struct {
	isInt bool
	role  role
}

// known lists every field documented for flow log versions 2 to 8.
var known = map[string]spec{
	// version 2
	"version":      {isInt: true},
	"account-id":   {role: roleAccount},
	"interface-id": {role: roleInterface},
	"srcaddr":      {role: roleSrcaddr},
	"dstaddr":      {role: roleDstaddr},
	"srcport":      {isInt: true, role: roleSrcport},
	"dstport":      {isInt: true, role: roleDstport},
	"protocol":     {isInt: true, role: roleProtocol},
	"packets":      {isInt: true},
	"bytes":        {isInt: true},
	"start":        {isInt: true, role: roleStart},
	"end":          {isInt: true, role: roleEnd},
	"action":       {role: roleAction},
	"log-status":   {},
	// version 3
	"vpc-id":      {},
	"subnet-id":   {},
	"instance-id": {role: roleInstance},
	"tcp-flags":   {isInt: true},
	"type":        {},
	"pkt-srcaddr": {},
	"pkt-dstaddr": {},
	// version 4
	"region":           {role: roleRegion},
	"az-id":            {},
	"sublocation-type": {},
	"sublocation-id":   {},
	// version 5
	"pkt-src-aws-service": {},
	"pkt-dst-aws-service": {},
	"flow-direction":      {},
	"traffic-path":        {isInt: true},
	// version 7
	"ecs-cluster-arn":            {},
	"ecs-cluster-name":           {},
	"ecs-container-instance-arn": {},
	"ecs-container-instance-id":  {},
	"ecs-container-id":           {},
	"ecs-second-container-id":    {},
	"ecs-service-name":           {},
	"ecs-task-definition-arn":    {},
	"ecs-task-arn":               {},
	"ecs-task-id":                {},
	// version 8
	"reject-reason": {},
}

// column is one field of a format.
type column struct {
	key   string // the Fields key: the AWS name with '-' replaced by '_'
	isInt bool
	role  role
}

// format is a parsed record format.
type format struct {
	cols []column
	pos  [numRoles]int // column of each role, -1 when the format lacks it
}

// errFormat wraps every format error.
var errFormat = errors.New("invalid flow log format")

// parseFormat parses the field names of a format, each written plain
// ("srcaddr") or as AWS writes them in a flow log definition ("${srcaddr}").
func parseFormat(names []string) (*format, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: no fields", errFormat)
	}
	if len(names) > maxFields {
		return nil, fmt.Errorf("%w: %d fields, at most %d", errFormat, len(names), maxFields)
	}
	f := &format{cols: make([]column, len(names))}
	for i := range f.pos {
		f.pos[i] = -1
	}
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		n = unwrapName(n)
		if !nameShaped(n) {
			return nil, fmt.Errorf("%w: field %d: %q is not a field name", errFormat, i+1, n)
		}
		if seen[n] {
			return nil, fmt.Errorf("%w: field %q repeated", errFormat, n)
		}
		seen[n] = true
		s := known[n]
		f.cols[i] = column{key: strings.ReplaceAll(n, "-", "_"), isInt: s.isInt, role: s.role}
		if s.role != roleNone {
			f.pos[s.role] = i
		}
	}
	return f, nil
}

// unwrapName strips the "${" and "}" around a name in an AWS format string.
func unwrapName(n string) string {
	if strings.HasPrefix(n, "${") && strings.HasSuffix(n, "}") {
		return n[2 : len(n)-1]
	}
	return n
}

// nameShaped reports whether n looks like a flow log field name: lower-case
// letters, digits and inner hyphens, starting with a letter.
func nameShaped(n string) bool {
	if n == "" || n[0] < 'a' || n[0] > 'z' || n[len(n)-1] == '-' {
		return false
	}
	for i := 1; i < len(n); i++ {
		c := n[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// headerFormat returns the format a header line declares, or nil when toks
// (the line's fields) are not a header. A header is a line of distinct
// field-name-shaped words, more than half of them known field names: data
// values are never all lower-case names, and requiring known names keeps a
// line of identifiers such as "vpc-0abc subnet-0def" a record.
func headerFormat(toks []string) *format {
	if len(toks) == 0 || len(toks) > maxFields {
		return nil
	}
	if c := toks[0][0]; (c < 'a' || c > 'z') && c != '$' {
		return nil // most records start with a digit or '-'
	}
	nknown := 0
	for _, t := range toks {
		t = unwrapName(t)
		if !nameShaped(t) {
			return nil
		}
		if _, ok := known[t]; ok {
			nknown++
		}
	}
	if nknown*2 <= len(toks) {
		return nil
	}
	f, err := parseFormat(toks)
	if err != nil {
		return nil
	}
	return f
}
