// Package builtin embeds vigil's built-in rule pack: the YAML rule files
// in the subdirectories of this package (aws/, k8s/, linux/, network/...),
// the list files they name (lists/) and their test fixtures.
package builtin

import (
	"embed"
	"io/fs"
)

// files holds every file below this directory, this Go file included
// (rules.Load only reads *.yaml and *.yml files and what they refer to).
//
//go:embed *
var files embed.FS

// FS is the built-in rule pack, rooted at this directory: pass it to
// rules.Load(builtin.FS).
var FS fs.FS = files
