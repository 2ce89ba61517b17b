package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/detect/correlate"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/logtype"
)

// runReplay decodes recorded logs, runs them through the rules (the
// correlation rules through a correlator) and prints the alerts, sorted by
// first event time, once each in its final state. A
// summary goes to stderr. Bad records and undetectable files are counted
// and reported; they do not change the exit status.
func runReplay(ctx context.Context, args []string, s stdio) error {
	fl := newFlags("replay", s.err,
		"usage: vigil replay [--format text|json] [--rules DIR]... [--type T] PATH...",
		"PATH is a file, a directory (read recursively) or - for stdin; .gz is read transparently.")
	format := fl.String("format", "text", "output format: text or json (one alert object per line)")
	var ruleDirs stringList
	fl.Var(&ruleDirs, "rules", "rule file or directory (repeatable); default: the built-in pack")
	typ := fl.String("type", "", "log type of every input (cloudtrail, vpcflow, k8saudit, auditd); default: detected per file")
	flowFormat := fl.String("flow-format", "", "VPC flow log format for files without a header line; default: the v2 default format")
	maxShown := fl.Int("show-errors", 20, "how many decode errors to print (all are counted)")
	lateness := fl.Duration("lateness", 0, "how late an event may arrive and still be correlated; 0: any (correlation waits for the whole input, so file order does not matter)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return fmt.Errorf("--format must be text or json, not %q", *format)
	}
	if *typ != "" && !slices.Contains(ingest.Types, *typ) {
		return fmt.Errorf("--type must be one of %s, not %q", strings.Join(ingest.Types, ", "), *typ)
	}
	if *lateness < 0 {
		return fmt.Errorf("--lateness must not be negative")
	}
	if fl.NArg() == 0 {
		fl.Usage()
		return exitError(2)
	}
	inputs, err := expandInputs(fl.Args())
	if err != nil {
		return err
	}
	set, err := loadRules(ruleDirs)
	if err != nil {
		return fmt.Errorf("loading rules:\n%w", err)
	}
	ccfg := correlate.Config{Lateness: *lateness}
	if *lateness == 0 {
		ccfg.Lateness = -1 // unbounded
	}
	co, err := correlate.New(set.Rules, ccfg)
	if err != nil {
		return err
	}
	var sigErr error
	m, err := detect.New(set.Rules, detect.Config{Signal: func(s detect.Signal) {
		if err := co.Add(s); err != nil && sigErr == nil {
			sigErr = err
		}
	}})
	if err != nil {
		return err
	}
	decoders, err := logtype.Decoders(logtype.Config{FlowFormat: *flowFormat})
	if err != nil {
		return err
	}

	r := &replayer{matcher: m, correlator: co, sigErr: &sigErr, decoders: decoders, typ: *typ, stdin: s.in, errw: s.err,
		maxShown: *maxShown, events: map[string]int{}}
	for _, in := range inputs {
		if err := r.file(ctx, in); err != nil {
			return err
		}
	}
	r.alerts = append(r.alerts, m.Flush()...)
	_, closed := co.Flush()
	r.alerts = append(r.alerts, closed...)
	sort.SliceStable(r.alerts, func(i, j int) bool {
		a, b := r.alerts[i], r.alerts[j]
		if !a.FirstTime.Equal(b.FirstTime) {
			return a.FirstTime.Before(b.FirstTime)
		}
		if a.RuleID != b.RuleID {
			return a.RuleID < b.RuleID
		}
		return a.AlertID < b.AlertID
	})
	if err := printAlerts(s.out, *format, r.alerts); err != nil {
		return err
	}
	r.summary(m.Stats(), co.Stats())
	return nil
}

// replayer carries the state of one replay.
type replayer struct {
	matcher    *detect.Matcher
	correlator *correlate.Correlator
	sigErr     *error // the first signal the correlator refused
	decoders   map[string]ingest.Decoder
	typ        string
	stdin      io.Reader
	errw       io.Writer
	maxShown   int

	events    map[string]int // per log type
	bad       int            // malformed records
	failed    int            // inputs that could not be read to the end
	watermark time.Time      // newest event time seen
	alerts    []*detect.Alert
}

// file replays one input. Only a failure of the matcher's own plumbing is
// returned; problems of the input are reported and counted.
func (r *replayer) file(ctx context.Context, path string) error {
	var rc io.Reader
	src := "stdin"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			r.inputFailed(err)
			return nil
		}
		defer f.Close()
		rc, src = f, path
	} else {
		rc = r.stdin
	}
	typ, body, err := logtype.Prepare(rc, ingest.Limits{}, r.typ)
	switch {
	case errors.Is(err, logtype.ErrEmpty):
		return nil // an empty file holds no events
	case errors.Is(err, logtype.ErrUnknownType):
		r.inputFailed(fmt.Errorf("%s: %w; give --type", src, err))
		return nil
	case err != nil:
		r.inputFailed(fmt.Errorf("%s: %w", src, err))
		return nil
	}
	h := ingest.Handler{
		Event: func(ev *ingest.Event) error {
			r.events[ev.Type]++
			r.matcher.Match(ev)
			if *r.sigErr != nil {
				return *r.sigErr
			}
			if ev.Time.After(r.watermark) {
				r.watermark = ev.Time
				r.alerts = append(r.alerts, r.matcher.Advance(r.watermark)...)
				_, closed := r.correlator.Advance(r.watermark)
				r.alerts = append(r.alerts, closed...)
			}
			return nil
		},
		Bad: func(e *ingest.DecodeError) {
			r.bad++
			if r.bad <= r.maxShown {
				fmt.Fprintf(r.errw, "decode error: %v\n", e)
			}
		},
	}
	if err := r.decoders[typ].Decode(ctx, body, src, h); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.inputFailed(fmt.Errorf("%s: %w", src, err))
	}
	return nil
}

func (r *replayer) inputFailed(err error) {
	r.failed++
	fmt.Fprintf(r.errw, "input error: %v\n", err)
}

// summary prints the counts of the replay to stderr.
func (r *replayer) summary(st detect.Stats, cst correlate.Stats) {
	total, detail := eventCounts(r.events)
	if r.bad > r.maxShown {
		fmt.Fprintf(r.errw, "… %d more decode errors not shown\n", r.bad-r.maxShown)
	}
	printRuleErrors(r.errw, st)
	if len(cst.Rules) > 0 {
		fmt.Fprintf(r.errw, "correlation: %d signals, %d late (not correlated), %d windows evicted\n", cst.Signals, cst.Late, cst.Evicted)
	}
	fmt.Fprintf(r.errw, "replay: %d events%s, %d decode errors, %d unreadable inputs, %d alerts\n",
		total, detail, r.bad, r.failed, len(r.alerts))
}

// eventCounts returns the total of events, by log type, and the counts as
// " (cloudtrail 12, k8saudit 3)", empty when there are none.
func eventCounts(byType map[string]int) (total int, detail string) {
	var parts []string
	for _, t := range ingest.Types {
		if n := byType[t]; n > 0 {
			total += n
			parts = append(parts, fmt.Sprintf("%s %d", t, n))
		}
	}
	if len(parts) > 0 {
		detail = " (" + strings.Join(parts, ", ") + ")"
	}
	return total, detail
}

// printRuleErrors prints the rules that failed to evaluate, with their last
// error.
func printRuleErrors(w io.Writer, st detect.Stats) {
	for _, rs := range st.Rules {
		if rs.Errors > 0 {
			fmt.Fprintf(w, "rule %s: %d evaluation errors (last: %s)\n", rs.ID, rs.Errors, rs.LastError)
		}
	}
}

// expandInputs turns command-line paths into a list of files: directories
// are walked recursively in lexical order, hidden files skipped. A path
// that does not exist is an error before anything runs.
func expandInputs(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		if p == "-" {
			out = append(out, p)
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if path != p && strings.HasPrefix(name, ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() && !isDocFile(name) {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// isDocFile reports files that sit beside recorded logs but are not logs:
// READMEs and Go sources (a generator next to its output).
func isDocFile(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".md" || ext == ".go" || strings.EqualFold(name, "LICENSE")
}

// printAlerts writes alerts as text lines or as JSON objects, one per line.
// A staging rule's alert is marked "[staging]" after its rule ID (in JSON,
// "mode": "staging").
func printAlerts(w io.Writer, format string, alerts []*detect.Alert) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		for _, a := range alerts {
			if err := enc.Encode(a); err != nil {
				return err
			}
		}
		return nil
	}
	for _, a := range alerts {
		rule := a.RuleID
		if a.Staging() {
			rule += " [staging]" // stored, not notified
		}
		line := fmt.Sprintf("%s  %-8s %s  %s", a.FirstTime.Format(time.RFC3339), a.Severity, rule, a.Summary)
		if a.Count > 1 {
			line += fmt.Sprintf("  (×%d until %s)", a.Count, a.LastTime.Format(time.RFC3339))
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}
