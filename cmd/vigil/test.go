package main

import (
	"context"
	"fmt"
	"time"

	"github.com/vigilsec/vigil/ingest/logtype"
	"github.com/vigilsec/vigil/rules/ruletest"
)

// runTest runs the tests written in rule files, like go test for rules. It
// prints each failure with the alerts the test produced (group key and
// count, so a correlation test's expectations can be compared) and ends
// with "N passed, N failed"; any failure, or a rule file that does not
// load, exits 1.
func runTest(ctx context.Context, args []string, s stdio) error {
	fl := newFlags("test", s.err,
		"usage: vigil test [--strict] [-v] [PATH...]",
		"With no PATH, tests the built-in rule pack.")
	strict := fl.Bool("strict", false, "also fail rules without a firing and a non-firing test (always on for the built-in pack)")
	verbose := fl.Bool("v", false, "print passing tests too")
	if err := fl.Parse(args); err != nil {
		return err
	}
	set, loadErr := loadRules(fl.Args())
	if loadErr != nil {
		fmt.Fprintln(s.out, loadErr)
	}
	decoders, err := logtype.Decoders(logtype.Config{})
	if err != nil {
		return err
	}
	rep, err := ruletest.Run(ctx, set, ruletest.Config{
		Decoders: decoders,
		Detect:   logtype.Detect,
		Strict:   *strict || fl.NArg() == 0,
	})
	if err != nil {
		return err
	}
	for _, r := range rep.Results {
		if !r.Passed() || *verbose {
			fmt.Fprintln(s.out, r)
		}
		if !r.Passed() {
			for _, a := range r.Alerts {
				fmt.Fprintf(s.out, "    got %s %s count=%d (%s)\n", a.RuleID, a.GroupKey, a.Count, a.FirstTime.Format(time.RFC3339))
			}
		}
	}
	fmt.Fprintln(s.out, rep.Summary())
	if loadErr != nil || !rep.OK() {
		return exitError(1)
	}
	return nil
}
