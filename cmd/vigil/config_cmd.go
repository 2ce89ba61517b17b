package main

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// runConfigCommand holds the config subcommands; today: check.
func runConfigCommand(ctx context.Context, args []string, s stdio) error {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(s.err, "usage: vigil config check [--config FILE]")
		return exitError(2)
	}
	return runConfigCheck(ctx, args[1:], s)
}

// runConfigCheck prints the effective configuration (defaults, the file,
// the VIGIL_* variables, the flags) with credentials redacted, after
// checking it: every problem is reported with its key, and the command
// exits 1. It also checks that the secrets it names can be read and that
// the rules load.
func runConfigCheck(_ context.Context, args []string, s stdio) error {
	fl := newFlags("config check", s.err,
		"usage: vigil config check [--config FILE] [flags]",
		"Prints the effective configuration with credentials redacted; exits 1 when it has problems.")
	path := addConfigFlags(fl)
	var sources, ruleDirs stringList
	fl.Var(&sources, "source", "input URL (repeatable); overrides sources")
	fl.Var(&ruleDirs, "rules", "rule file or directory (repeatable); overrides rules.paths")
	fl.String("store", "", "store URL; overrides store.url")
	fl.Duration("lateness", 0, "overrides detect.lateness")
	fl.String("flow-format", "", "overrides detect.flow_format")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		fl.Usage()
		return exitError(2)
	}
	cfg, applied, err := runConfigOf(fl, *path, os.LookupEnv)
	if err != nil {
		fmt.Fprintf(s.err, "configuration problems:\n%s\n", indent(err.Error()))
		return exitError(1)
	}
	out, err := cfg.Redacted()
	if err != nil {
		return err
	}
	if *path != "" {
		fmt.Fprintf(s.out, "# effective configuration of %s\n", *path)
	} else {
		fmt.Fprintln(s.out, "# effective configuration (no file: defaults)")
	}
	if len(applied) > 0 {
		fmt.Fprintf(s.out, "# overridden by the environment: %s\n", strings.Join(applied, ", "))
	}
	s.out.Write(out)
	failed := false
	if err := cfg.CheckSecrets(os.Getenv); err != nil {
		fmt.Fprintf(s.err, "secrets that cannot be read here:\n%s\n", indent(err.Error()))
		failed = true
	}
	if _, err := loadRules(cfg.Rules.Paths); err != nil {
		fmt.Fprintf(s.err, "rules.paths: the rules do not load:\n%s\n", indent(err.Error()))
		failed = true
	}
	if failed {
		return exitError(1)
	}
	return nil
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
