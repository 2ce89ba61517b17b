// Package ruletest runs the tests written in rule files: each test's
// records are decoded by the real decoder of the rule's log type, matched
// by a matcher holding only the rule under test (and, for a correlation
// rule, correlated in event time by a correlator), and the alerts counted
// against the test's expect, or compared with its list of expected alerts
// (group key, count) in order of first event time.
package ruletest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/detect/correlate"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/rules"
)

// Config configures a test run.
type Config struct {
	// Decoders maps each log type to its decoder. Required for every log
	// type that a tested rule names first (or that Detect returns).
	Decoders map[string]ingest.Decoder
	// Detect, when set, tells the log type of a test input from its first
	// bytes (logtype.Detect); it chooses among the rule's log types. When
	// nil, or when it returns a type the rule does not name, the rule's
	// first log type is used.
	Detect func(head []byte) string
	// Limits caps each test input (decompressed size, record size).
	// Default: ingest's defaults.
	Limits ingest.Limits
	// Strict also fails a rule without tests, or without at least one
	// test that expects alerts and one that expects none. The built-in
	// pack is tested strictly.
	Strict bool
}

// Result is the outcome of one test, or of a rule-level check in strict
// mode (then Test is "").
type Result struct {
	RuleID   string
	Test     string
	Pos      rules.Pos
	Expected int
	Got      int
	// Err is why the test could not run or the rule failed a check; nil
	// when the test ran cleanly.
	Err error
	// Alerts are the alerts the test produced, in their final state.
	Alerts []*detect.Alert
}

// Passed reports whether the test ran without error and produced the
// expected number of alerts.
func (r Result) Passed() bool { return r.Err == nil && r.Got == r.Expected }

// String formats the result as "PASS|FAIL file:line:col rule/test: detail".
func (r Result) String() string {
	verdict := "PASS"
	if !r.Passed() {
		verdict = "FAIL"
	}
	name := r.RuleID
	if r.Test != "" {
		name += "/" + r.Test
	}
	switch {
	case r.Err != nil:
		return fmt.Sprintf("%s %s %s: %v", verdict, r.Pos, name, r.Err)
	case r.Test == "":
		return fmt.Sprintf("%s %s %s", verdict, r.Pos, name)
	}
	return fmt.Sprintf("%s %s %s: expected %d alerts, got %d", verdict, r.Pos, name, r.Expected, r.Got)
}

// Report is the outcome of a test run.
type Report struct {
	Results []Result
	Passed  int
	Failed  int
}

// Summary returns "N passed, N failed".
func (r *Report) Summary() string {
	return fmt.Sprintf("%d passed, %d failed", r.Passed, r.Failed)
}

// OK reports whether nothing failed.
func (r *Report) OK() bool { return r.Failed == 0 }

// Run runs the tests of every rule of set, in set order. It stops early
// only when ctx ends, returning what ran and ctx's error.
func Run(ctx context.Context, set *rules.Set, c Config) (*Report, error) {
	rep := &Report{}
	for _, r := range set.Rules {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		for _, res := range RunRule(ctx, r, c) {
			rep.Results = append(rep.Results, res)
			if res.Passed() {
				rep.Passed++
			} else {
				rep.Failed++
			}
		}
	}
	return rep, nil
}

// RunRule runs the tests of one rule (disabled rules are tested too) and,
// in strict mode, checks that it has a firing and a non-firing test.
func RunRule(ctx context.Context, r *rules.Rule, c Config) []Result {
	var out []Result
	if c.Strict {
		var fires, quiet bool
		for _, t := range r.Tests {
			fires = fires || t.Expect > 0
			quiet = quiet || t.Expect == 0
		}
		res := Result{RuleID: r.ID, Pos: r.Pos}
		switch {
		case len(r.Tests) == 0:
			res.Err = errors.New("rule has no tests")
		case !fires:
			res.Err = errors.New("rule has no test that expects an alert (expect > 0)")
		case !quiet:
			res.Err = errors.New("rule has no test that expects no alert (expect: 0)")
		}
		if res.Err != nil {
			out = append(out, res)
		}
	}
	for i := range r.Tests {
		out = append(out, runTest(ctx, r, &r.Tests[i], c))
	}
	return out
}

// runTest runs one test.
func runTest(ctx context.Context, r *rules.Rule, t *rules.Test, c Config) Result {
	res := Result{RuleID: r.ID, Test: t.Name, Pos: t.Pos, Expected: t.Expect}
	inputs, err := testInputs(r, t, c)
	if err != nil {
		res.Err = err
		return res
	}
	enabled := *r
	enabled.Enabled = true
	co, err := correlate.New([]*rules.Rule{&enabled}, correlate.Config{Lateness: -1})
	if err != nil {
		res.Err = err
		return res
	}
	var sigErr error
	m, err := detect.New([]*rules.Rule{&enabled}, detect.Config{Signal: func(s detect.Signal) {
		sigErr = cmp.Or(sigErr, co.Add(s))
	}})
	if err != nil {
		res.Err = err
		return res
	}
	var bad []string
	h := ingest.Handler{
		Event: func(ev *ingest.Event) error {
			m.Match(ev)
			if sigErr != nil {
				return sigErr
			}
			_, closed := co.Advance(ev.Time)
			res.Alerts = append(res.Alerts, closed...)
			return nil
		},
		Bad: func(e *ingest.DecodeError) { bad = append(bad, e.Error()) },
	}
	for i, in := range inputs {
		dec := c.Decoders[in.typ]
		if dec == nil {
			res.Err = fmt.Errorf("no decoder for log type %s", in.typ)
			return res
		}
		src := "test:" + t.Pos.String()
		if len(inputs) > 1 {
			src += "#" + strconv.Itoa(i+1)
		}
		if err := dec.Decode(ctx, bytes.NewReader(in.data), src, h); err != nil {
			res.Err = fmt.Errorf("decode: %w", err)
			return res
		}
	}
	if len(bad) > 0 {
		res.Err = fmt.Errorf("decode: %d bad records: %s", len(bad), strings.Join(bad, "; "))
		return res
	}
	res.Alerts = append(res.Alerts, m.Flush()...)
	_, closed := co.Flush()
	res.Alerts = append(res.Alerts, closed...)
	slices.SortStableFunc(res.Alerts, func(a, b *detect.Alert) int {
		return cmp.Or(a.FirstTime.Compare(b.FirstTime), strings.Compare(a.GroupKey, b.GroupKey))
	})
	res.Got = len(res.Alerts)
	if st := m.Stats().Rules[0]; st.Errors > 0 {
		res.Err = fmt.Errorf("%d evaluation errors, last: %s", st.Errors, st.LastError)
	} else if res.Got == res.Expected {
		res.Err = checkAlerts(t.Alerts, res.Alerts)
	}
	return res
}

// checkAlerts compares alerts with the test's expected ones, in order.
func checkAlerts(want []rules.ExpectedAlert, got []*detect.Alert) error {
	for i, w := range want {
		a := got[i]
		switch {
		case w.GroupKey != "" && a.GroupKey != w.GroupKey:
			return fmt.Errorf("alert %d: group key %q, expected %q", i+1, a.GroupKey, w.GroupKey)
		case w.Count > 0 && a.Count != w.Count:
			return fmt.Errorf("alert %d (%s): count %d, expected %d", i+1, a.GroupKey, a.Count, w.Count)
		}
	}
	return nil
}

// input is one decoder input of a test.
type input struct {
	typ  string
	data []byte
}

// testInputs returns what a test feeds to the decoders. Records of a
// correlation rule over several log types are decoded one by one, each by
// the decoder of its own detected type, so one test can hold a CloudTrail
// record followed by flow log lines; otherwise the records form one input
// of one type.
func testInputs(r *rules.Rule, t *rules.Test, c Config) ([]input, error) {
	typeOf := func(data []byte) string {
		if c.Detect != nil {
			if d := c.Detect(data); slices.Contains(r.LogTypes, d) {
				return d
			}
		}
		return r.LogTypes[0]
	}
	if r.Correlate != nil && len(r.LogTypes) > 1 && t.File == "" && c.Detect != nil {
		records := t.Logs
		if t.Log != nil {
			records = []any{t.Log}
		}
		var out []input
		for i, rec := range records {
			data, err := encodeRecords([]any{rec})
			if err != nil {
				return nil, fmt.Errorf("record %d: %w", i+1, err)
			}
			out = append(out, input{typeOf(data), data})
		}
		return out, nil
	}
	data, err := testInput(t, c.Limits)
	if err != nil {
		return nil, err
	}
	return []input{{typeOf(data), data}}, nil
}

// testInput returns the bytes a test feeds to the decoder: mappings as
// JSON, one per line; strings as they are; a fixture file decompressed.
func testInput(t *rules.Test, lim ingest.Limits) ([]byte, error) {
	if t.File != "" {
		f, err := t.Open()
		if err != nil {
			return nil, fmt.Errorf("fixture: %w", err)
		}
		defer f.Close()
		r, err := ingest.Open(f, lim)
		if err != nil {
			return nil, fmt.Errorf("fixture %s: %w", t.File, err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("fixture %s: %w", t.File, err)
		}
		return b, nil
	}
	records := t.Logs
	if t.Log != nil {
		records = []any{t.Log}
	}
	return encodeRecords(records)
}

// encodeRecords writes mappings as JSON, one per line, and strings as
// they are.
func encodeRecords(records []any) ([]byte, error) {
	var buf bytes.Buffer
	for i, rec := range records {
		switch x := rec.(type) {
		case string:
			buf.WriteString(x)
			if !strings.HasSuffix(x, "\n") {
				buf.WriteByte('\n')
			}
		default:
			b, err := json.Marshal(x)
			if err != nil {
				return nil, fmt.Errorf("record %d: %w", i+1, err)
			}
			buf.Write(b)
			buf.WriteByte('\n')
		}
	}
	return buf.Bytes(), nil
}
