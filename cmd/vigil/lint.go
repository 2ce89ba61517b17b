package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/vigilsec/vigil/rules"
)

// runLint loads and type-checks rules and prints every problem at
// file:line:col: errors (the rule set would not load) and warnings (unknown
// field names for the rule's log types, costly regular expressions). It
// exits 1 when there are errors, 0 when there are only warnings.
func runLint(_ context.Context, args []string, s stdio) error {
	fl := newFlags("lint", s.err,
		"usage: vigil lint [PATH...]",
		"With no PATH, lints the built-in rule pack.")
	if err := fl.Parse(args); err != nil {
		return err
	}
	set, err := loadRules(fl.Args())
	var diags rules.Diagnostics
	if err != nil && !errors.As(err, &diags) {
		return err
	}
	diags = append(diags, rules.Lint(set)...)
	errs, warns := 0, 0
	for _, d := range diags {
		fmt.Fprintln(s.out, d)
		if d.Level == rules.LevelError {
			errs++
		} else {
			warns++
		}
	}
	fmt.Fprintf(s.out, "%d rules, %d errors, %d warnings\n", len(set.Rules), errs, warns)
	if errs > 0 {
		return exitError(1)
	}
	return nil
}
