package detect

import (
	"cmp"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/rules"
)

// Config configures a Matcher. The zero value is valid.
type Config struct {
	// Signal, when set, receives the signals of correlation rules (rules
	// with a correlate block) and of suppressed rules (single-event rules
	// with a suppress block) during Match, in match order. When nil they
	// are kept for Signals, at most MaxPendingSignals of them (more are
	// dropped and counted in Stats.DroppedSignals).
	Signal func(Signal)
}

// Matcher evaluates a fixed set of rules on events. It is not safe for
// concurrent use, except Stats, which may be called at any time.
type Matcher struct {
	cfg     Config
	rules   []*ruleState // enabled rules, in set order
	types   map[string]*typeIndex
	closed  []*Alert // fired since the last Advance or Flush
	signals []Signal // produced since the last Signals
	// sigHint is the number of signals the last Signals returned: the
	// next batch's slice is made that large at once.
	sigHint int
	ev      rules.Evaluator // evaluates the rules (Match is not concurrent)
	hits    []*ruleState    // Match's buffer, kept between calls

	events  atomic.Uint64
	dropped atomic.Uint64 // signals beyond MaxPendingSignals

	timeMask uint64 // an evaluation n is timed when (n-1)&timeMask == 0
}

// EvalSampleEvery is how often the matcher times a rule's evaluation: the
// first and then every 64th evaluation of each rule is timed, and its
// duration counted 64 times in RuleStats.EvalTime, an estimate. Timing
// every evaluation (two clock reads, about 40ns) added 12 to 15% to the
// match time per event of BenchmarkEvalTiming (about 3µs per event over
// rules shaped like the built-in pack); timing one in 64 is within the
// noise of the same run.
const EvalSampleEvery = 64

// ruleState is a rule and its counters.
type ruleState struct {
	rule    *rules.Rule
	order   int
	evals   atomic.Uint64
	matches atomic.Uint64
	errors  atomic.Uint64
	lastErr atomic.Pointer[string]
	// evalNanos is the estimated evaluation time: each timed evaluation
	// counted EvalSampleEvery times.
	evalNanos atomic.Uint64
	// sent holds, for a first_seen rule, when the signal of each group key
	// and value was last sent (Unix nanoseconds of event time); see
	// firstSeenNew.
	sent map[string]int64
}

// typeIndex holds the rules of one log type.
type typeIndex struct {
	fields   []string                           // indexed fields, in rules.IndexFields order
	byValue  map[string]map[string][]*ruleState // field → value → rules
	catchAll []*ruleState                       // rules without an indexable constraint
}

// New returns a matcher of the enabled rules among rs; disabled rules are
// left out. Every rule must come from a successful rules.Load.
func New(rs []*rules.Rule, c Config) (*Matcher, error) {
	m := &Matcher{cfg: c, types: map[string]*typeIndex{}, timeMask: EvalSampleEvery - 1}
	seen := map[string]bool{}
	for _, r := range rs {
		if !r.Enabled {
			continue
		}
		if seen[r.ID] {
			return nil, fmt.Errorf("detect: rule %s given twice", r.ID)
		}
		seen[r.ID] = true
		if !r.Compiled() {
			return nil, fmt.Errorf("detect: rule %s is not compiled", r.ID)
		}
		st := &ruleState{rule: r, order: len(m.rules)}
		m.rules = append(m.rules, st)
		con, indexed := r.Constraint()
		for _, t := range r.LogTypes {
			ti := m.types[t]
			if ti == nil {
				ti = &typeIndex{byValue: map[string]map[string][]*ruleState{}}
				m.types[t] = ti
			}
			if !indexed {
				ti.catchAll = append(ti.catchAll, st)
				continue
			}
			byVal := ti.byValue[con.Field]
			if byVal == nil {
				byVal = map[string][]*ruleState{}
				ti.byValue[con.Field] = byVal
			}
			for _, v := range con.Values {
				byVal[v] = append(byVal[v], st)
			}
		}
	}
	for _, ti := range m.types {
		for _, f := range rules.IndexFields {
			if _, ok := ti.byValue[f]; ok {
				ti.fields = append(ti.fields, f)
			}
		}
	}
	return m, nil
}

// Match evaluates the rules that can match ev and returns the alerts this
// event fired, each with count 1 (copies), in rule order. Matches of
// correlation rules and of suppressed rules become signals instead (see
// Config.Signal and Signals): a correlator (package correlate) holds their
// windows and suppression periods, so that the matcher keeps no state
// between events.
func (m *Matcher) Match(ev *ingest.Event) []*Alert {
	m.events.Add(1)
	ti := m.types[ev.Type]
	if ti == nil {
		return nil
	}
	// the buffer is taken, so that a Match called back from Config.Signal
	// makes its own
	hits := m.hits[:0]
	m.hits = nil
	defer func() { m.hits = hits[:0] }()
	for _, f := range ti.fields {
		v, ok := ev.Fields[f].(string)
		if !ok {
			continue
		}
		for _, st := range ti.byValue[f][v] {
			if m.eval(st, ev) {
				hits = append(hits, st)
			}
		}
	}
	for _, st := range ti.catchAll {
		if m.eval(st, ev) {
			hits = append(hits, st)
		}
	}
	if len(hits) == 0 {
		return nil
	}
	slices.SortFunc(hits, func(a, b *ruleState) int { return cmp.Compare(a.order, b.order) })
	var out []*Alert
	for _, st := range hits {
		switch {
		case st.rule.Correlate != nil:
			m.signal(st, ev)
		case st.rule.Suppress != nil:
			m.suppressed(st.rule, ev)
		default:
			out = append(out, m.fire(st.rule, ev))
		}
	}
	return out
}

// eval evaluates one rule, counting the outcome, and times a sample of
// the evaluations (see EvalSampleEvery).
func (m *Matcher) eval(st *ruleState, ev *ingest.Event) bool {
	var start time.Time
	timed := (st.evals.Add(1)-1)&m.timeMask == 0
	if timed {
		start = time.Now()
	}
	ok, err := m.ev.Eval(st.rule, ev.Fields)
	if timed {
		st.evalNanos.Add(uint64(time.Since(start)) * (m.timeMask + 1))
	}
	if err != nil {
		st.fail(err)
		return false
	}
	if ok {
		st.matches.Add(1)
	}
	return ok
}

// fail counts an evaluation error.
func (st *ruleState) fail(err error) {
	st.errors.Add(1)
	msg := err.Error()
	st.lastErr.Store(&msg)
}

// fire turns a match of a single-event rule without suppression into an
// alert, which opens and closes at once: Match returns a copy, and the
// next Advance or Flush the alert itself.
func (m *Matcher) fire(r *rules.Rule, ev *ingest.Event) *Alert {
	a := newAlert(r, ev)
	m.closed = append(m.closed, a)
	return a.clone()
}

// Advance tells the matcher that event time has reached t. It returns the
// alerts fired since the last Advance or Flush, in their final state (an
// alert of a rule without suppression closes as soon as it opens; the
// periods of suppressed rules are the correlator's, see Match), so that a
// caller sees each alert open and close as it does a correlator's.
func (m *Matcher) Advance(time.Time) []*Alert { return m.drain() }

// Flush returns the alerts fired since the last Advance or Flush, in their
// final state. The matcher holds nothing open.
func (m *Matcher) Flush() []*Alert { return m.drain() }

func (m *Matcher) drain() []*Alert {
	out := m.closed
	m.closed = nil
	return out
}

// RuleStats are the counters of one rule.
type RuleStats struct {
	ID      string
	Evals   uint64 // evaluations
	Matches uint64 // evaluations that returned true
	Errors  uint64 // evaluations that failed
	// EvalTime estimates the time spent evaluating the rule: a sample of
	// the evaluations is timed (one in EvalSampleEvery), each counted for
	// the evaluations it stands for. It only grows.
	EvalTime time.Duration
	// LastError is the message of the latest failed evaluation.
	LastError string
}

// AddCounts returns r with the counters of o (Evals, Matches, Errors,
// EvalTime) added; ID and LastError are r's.
func (r RuleStats) AddCounts(o RuleStats) RuleStats {
	r.Evals, r.Matches, r.Errors, r.EvalTime = r.Evals+o.Evals, r.Matches+o.Matches, r.Errors+o.Errors, r.EvalTime+o.EvalTime
	return r
}

// Stats are a matcher's counters.
type Stats struct {
	Events uint64 // events given to Match
	// DroppedSignals are signals lost because nobody took them with
	// Signals before MaxPendingSignals piled up.
	DroppedSignals uint64
	Rules          []RuleStats
}

// Stats returns the matcher's counters, rules in set order.
func (m *Matcher) Stats() Stats {
	s := Stats{Events: m.events.Load(), DroppedSignals: m.dropped.Load(), Rules: make([]RuleStats, len(m.rules))}
	for i, st := range m.rules {
		rs := RuleStats{ID: st.rule.ID, Evals: st.evals.Load(), Matches: st.matches.Load(), Errors: st.errors.Load(),
			EvalTime: time.Duration(st.evalNanos.Load())}
		if p := st.lastErr.Load(); p != nil {
			rs.LastError = *p
		}
		s.Rules[i] = rs
	}
	return s
}
