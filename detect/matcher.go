package detect

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/rules"
)

// Config configures a Matcher. The zero value is valid.
type Config struct {
	// MaxOpen caps the suppressed alerts open at once; when a new one
	// would exceed it, the one due to close first is closed early (and
	// counted in Stats.Evicted). Default 100000.
	MaxOpen int
	// MaxEventIDs caps Alert.EventIDs; Count keeps the true number.
	// Default 100.
	MaxEventIDs int
	// Signal, when set, receives the signals of correlation rules (rules
	// with a correlate block) during Match, in match order. When nil they
	// are kept for Signals, at most MaxPendingSignals of them (more are
	// dropped and counted in Stats.DroppedSignals).
	Signal func(Signal)
}

// Defaults of Config.
const (
	DefaultMaxOpen     = 100000
	DefaultMaxEventIDs = 100
)

func (c Config) maxOpen() int {
	if c.MaxOpen > 0 {
		return c.MaxOpen
	}
	return DefaultMaxOpen
}

func (c Config) maxEventIDs() int {
	if c.MaxEventIDs > 0 {
		return c.MaxEventIDs
	}
	return DefaultMaxEventIDs
}

// Matcher evaluates a fixed set of rules on events. It is not safe for
// concurrent use, except Stats, which may be called at any time.
type Matcher struct {
	cfg     Config
	rules   []*ruleState // enabled rules, in set order
	types   map[string]*typeIndex
	open    map[openKey]*openAlert
	queue   openQueue // open alerts by deadline
	closed  []*Alert  // closed since the last Advance or Flush
	signals []Signal  // produced since the last Signals

	events  atomic.Uint64
	evicted atomic.Uint64
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
}

// typeIndex holds the rules of one log type.
type typeIndex struct {
	fields   []string                           // indexed fields, in rules.IndexFields order
	byValue  map[string]map[string][]*ruleState // field → value → rules
	catchAll []*ruleState                       // rules without an indexable constraint
}

// openKey identifies a suppression bucket.
type openKey struct {
	rule string
	key  string
}

// openAlert is an alert within its suppression period.
type openAlert struct {
	alert    *Alert
	key      openKey
	deadline time.Time
	index    int // in the queue
}

// New returns a matcher of the enabled rules among rs; disabled rules are
// left out. Every rule must come from a successful rules.Load.
func New(rs []*rules.Rule, c Config) (*Matcher, error) {
	m := &Matcher{cfg: c, types: map[string]*typeIndex{}, open: map[openKey]*openAlert{}, timeMask: EvalSampleEvery - 1}
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
// event opened (matches of correlation rules become signals instead, see
// Config.Signal and Signals), each with count 1 (copies: later updates do not show in
// them), in rule order. A match that falls into an open suppression period
// updates that alert instead and returns nothing; a match after the period
// closes the old alert (returned by the next Advance or Flush) and opens a
// new one.
func (m *Matcher) Match(ev *ingest.Event) []*Alert {
	m.events.Add(1)
	ti := m.types[ev.Type]
	if ti == nil {
		return nil
	}
	var hits []*ruleState
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
		if st.rule.Correlate != nil {
			m.signal(st, ev)
			continue
		}
		if a := m.fire(st.rule, ev); a != nil {
			out = append(out, a)
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
	ok, err := st.rule.Eval(ev.Fields)
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

// fire turns a match into a new alert, or folds it into an open one.
func (m *Matcher) fire(r *rules.Rule, ev *ingest.Event) *Alert {
	if r.Suppress == nil {
		a := newAlert(r, ev)
		m.closed = append(m.closed, a)
		return a.clone()
	}
	k := openKey{rule: r.ID, key: r.SuppressKey(ev.Fields)}
	if o := m.open[k]; o != nil {
		if ev.Time.Before(o.deadline) {
			o.alert.add(ev, m.cfg.maxEventIDs())
			return nil
		}
		m.close(o)
	}
	if len(m.open) >= m.cfg.maxOpen() {
		m.close(m.queue[0])
		m.evicted.Add(1)
	}
	a := newAlert(r, ev)
	o := &openAlert{alert: a, key: k, deadline: a.FirstTime.Add(r.Suppress.For)}
	m.open[k] = o
	heap.Push(&m.queue, o)
	return a.clone()
}

// close ends an open alert's period.
func (m *Matcher) close(o *openAlert) {
	heap.Remove(&m.queue, o.index)
	delete(m.open, o.key)
	m.closed = append(m.closed, o.alert)
}

// Advance tells the matcher that event time has reached t: it closes the
// suppressed alerts whose period ended at or before t, and returns them
// with every other alert closed since the last call (unsuppressed alerts
// close as soon as they open), in their final state.
func (m *Matcher) Advance(t time.Time) []*Alert {
	for len(m.queue) > 0 && !m.queue[0].deadline.After(t) {
		m.close(m.queue[0])
	}
	return m.drain()
}

// Flush closes every open alert and returns all alerts closed since the
// last Advance or Flush, in their final state.
func (m *Matcher) Flush() []*Alert {
	for len(m.queue) > 0 {
		m.close(m.queue[0])
	}
	return m.drain()
}

func (m *Matcher) drain() []*Alert {
	out := m.closed
	m.closed = nil
	return out
}

// Open returns the number of suppressed alerts currently open.
func (m *Matcher) Open() int { return len(m.open) }

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

// Stats are a matcher's counters.
type Stats struct {
	Events  uint64 // events given to Match
	Evicted uint64 // alerts closed early because MaxOpen was reached
	// DroppedSignals are signals lost because nobody took them with
	// Signals before MaxPendingSignals piled up.
	DroppedSignals uint64
	Rules          []RuleStats
}

// Stats returns the matcher's counters, rules in set order.
func (m *Matcher) Stats() Stats {
	s := Stats{Events: m.events.Load(), Evicted: m.evicted.Load(), DroppedSignals: m.dropped.Load(), Rules: make([]RuleStats, len(m.rules))}
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

// openQueue is a min-heap of open alerts by deadline.
type openQueue []*openAlert

func (q openQueue) Len() int { return len(q) }
func (q openQueue) Less(i, j int) bool {
	if !q[i].deadline.Equal(q[j].deadline) {
		return q[i].deadline.Before(q[j].deadline)
	}
	return q[i].alert.AlertID < q[j].alert.AlertID
}
func (q openQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}

func (q *openQueue) Push(x any) {
	o := x.(*openAlert)
	o.index = len(*q)
	*q = append(*q, o)
}

func (q *openQueue) Pop() any {
	old := *q
	o := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return o
}
