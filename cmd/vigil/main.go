// Command vigil is a security detection pipeline for AWS and Kubernetes
// logs. One binary holds every role; each role is a subcommand.
//
//	vigil run [--config FILE] [--demo] [--source URL]... [--store URL] [--webhook URL]...
//	vigil replay [--format text|json] [--rules DIR]... [--type T] PATH...
//	vigil test [--strict] [PATH...]
//	vigil lint [PATH...]
//	vigil query [--store URL] [--format table|json] SQL
//	vigil ingest --source URL... [--since T] [--until T]   (NDJSON to stdout)
//	vigil ingest|detect|store|notify (--config FILE | --bus kafka://… [--store URL])
//	vigil notify test --route NAME [--config FILE]
//	vigil migrate (--config FILE | --store clickhouse://…)
//	vigil config check [--config FILE]
//
// See README.md for the whole picture.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, stop := stopOnSignals(sigs, os.Stderr, os.Exit)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errStopped is returned by a command stopped by a signal before it read
// anything; it exits 0 like a stop after reading.
var errStopped = errors.New("stopped before starting")

// exitError carries a process exit code without printing anything more.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// command is one subcommand.
type command struct {
	name  string
	usage string
	run   func(ctx context.Context, args []string, io stdio) error
}

// stdio bundles the process's standard streams so commands are testable.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

func commands() []command {
	return []command{
		{"replay", "decode recorded logs, run the rules, print alerts", runReplay},
		{"test", "run rule tests (the built-in pack when no path is given)", runTest},
		{"lint", "validate and type-check rules, report problems at file:line:col", runLint},
		{"run", "run every role in one process: sources, rules, store; alerts printed as they fire", runRun},
		{"query", "run a read-only SQL query on the store and print the rows", runQuery},
		{"ingest", "read sources onto the bus (--bus kafka://…), or print AWS sources' events as NDJSON", runIngestCommand},
		{"detect", "match rules on vigil.events and correlate vigil.signals, alerts to vigil.alerts (Kafka)", runDetect},
		{"store", "write vigil.events and vigil.alerts to ClickHouse (Kafka)", runStore},
		{"notify", "deliver vigil.alerts to on-call destinations (Kafka); notify test --route NAME checks a route", runNotify},
		{"migrate", "create or upgrade the ClickHouse schema", runMigrate},
		{"config", "check a configuration file and print the effective configuration, secrets redacted", runConfigCommand},
	}
}

// run executes the command line and returns the process exit code: 0 on
// success, 1 when the command ran and found failures, 2 on usage errors or
// when the command could not run.
func run(ctx context.Context, args []string, in io.Reader, out, errw io.Writer) int {
	s := stdio{in: in, out: out, err: errw}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(errw)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], s)
		var code exitError
		switch {
		case err == nil, errors.Is(err, errStopped):
			return 0
		case errors.As(err, &code):
			return int(code)
		case errors.Is(err, flag.ErrHelp):
			return 0
		default:
			fmt.Fprintf(errw, "vigil %s: %v\n", c.name, err)
			return 2
		}
	}
	fmt.Fprintf(errw, "vigil: unknown command %q\n", args[0])
	usage(errw)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: vigil <command> [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.usage)
	}
	fmt.Fprintln(w, "\nRun 'vigil <command> -h' for a command's flags.")
}

// newFlags returns a flag set that reports errors to w instead of exiting,
// and whose usage is the lines usage followed by the flags' defaults.
func newFlags(name string, w io.Writer, usage ...string) *flag.FlagSet {
	fs := flag.NewFlagSet("vigil "+name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		for _, l := range usage {
			fmt.Fprintln(w, l)
		}
		fs.PrintDefaults()
	}
	return fs
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return fmt.Sprint([]string(*l)) }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }
