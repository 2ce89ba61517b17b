// Package demo bundles the demo logs of this directory into the binary, so
// that `vigil run --demo` works from anywhere with nothing installed.
package demo

import "embed"

// FS holds the demo logs, one directory per log type: cloudtrail, vpcflow,
// k8s and auditd (README.md tells their story).
//
//go:embed cloudtrail vpcflow k8s auditd
var FS embed.FS
