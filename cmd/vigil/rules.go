package main

import (
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/rules/builtin"
)

// loadRules loads the rules at paths (files or directories), or the
// built-in pack when there are none. On errors it returns the diagnostics
// and the rules that did compile.
func loadRules(paths []string) (*rules.Set, error) {
	if len(paths) == 0 {
		return rules.Load(builtin.FS)
	}
	return rules.LoadPaths(paths...)
}
