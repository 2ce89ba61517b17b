package correlate

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/rules"
)

// Defaults of Config.
const (
	DefaultLateness    = 15 * time.Minute
	DefaultMaxWindows  = 1 << 20
	DefaultMaxValues   = 1 << 20
	DefaultMaxEventIDs = 100
	DefaultMaxOpen     = 100000
)

// Config configures a Correlator. The zero value is valid.
type Config struct {
	// Lateness is how far behind the newest event time an event may
	// arrive and still be correlated: the watermark is the newest event
	// time seen minus Lateness. Default 15m (CloudTrail delivers files
	// late and out of order). A negative Lateness is unbounded: nothing
	// is correlated before Flush, so the arrival order of the whole input
	// does not matter (for replays of recorded files and tests).
	Lateness time.Duration
	// MaxWindows caps the open windows (count, distinct), partial
	// sequences and pending absences of each rule; when a new one would
	// exceed it, the one due to close first is dropped and counted in
	// Stats.Evicted. Default 1,048,576.
	MaxWindows int
	// MaxValues caps the values first_seen remembers per rule; when full,
	// the value seen longest ago is forgotten and counted in
	// Stats.Evicted. Default 1,048,576.
	MaxValues int
	// MaxEventIDs caps Alert.EventIDs; Count keeps the true number.
	// Default 100.
	MaxEventIDs int
	// MaxOpen caps the suppression periods open at once, over all the
	// suppressed rules; when a new one would exceed it, the one due to
	// close first is closed early (and counted in Stats.Evicted of its
	// rule). Default 100000.
	MaxOpen int
}

// unbounded stands for a negative Lateness: longer than any event-time
// span, short enough not to overflow when subtracted from an event time.
const unbounded = time.Duration(1 << 62)

func (c Config) lateness() time.Duration {
	if c.Lateness < 0 {
		return unbounded
	}
	if c.Lateness > 0 {
		return c.Lateness
	}
	return DefaultLateness
}

func (c Config) maxWindows() int {
	if c.MaxWindows > 0 {
		return c.MaxWindows
	}
	return DefaultMaxWindows
}

func (c Config) maxValues() int {
	if c.MaxValues > 0 {
		return c.MaxValues
	}
	return DefaultMaxValues
}

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

// Correlator holds the windows of a fixed set of correlation rules. It is
// not safe for concurrent use.
type Correlator struct {
	cfg      Config
	byID     map[string]*ruleCorr
	rules    []*ruleCorr // in set order
	pending  pendingHeap
	maxSeen  int64 // newest event time seen, unix ns
	frontier int64 // watermark: signals before it are late
	started  bool
	quiet    bool
	last     *detect.Signal // last signal released, to drop duplicates
	ids      idTable
	opened   []*detect.Alert
	closed   []*detect.Alert
	supp     suppressor
	closedTo int64 // newest event time the suppression periods were closed by
	signals  uint64
	late     uint64
}

// ruleCorr is one rule's correlation state and counters.
type ruleCorr struct {
	c       *Correlator
	rule    *rules.Rule
	st      state
	signals uint64
	late    uint64
	evicted uint64
	alerts  uint64
}

// state is the window state of one correlation type.
type state interface {
	// add processes a signal released in event-time order.
	add(s *detect.Signal, t int64)
	// expire closes what is due strictly before now.
	expire(now int64)
	// flush ends the input: open alerts close, partial state is dropped.
	flush()
	// size returns the number of open windows, partial matches or learned
	// values.
	size() int
	save(*ruleSnap)
	load(*ruleSnap) error
}

// New returns a correlator of the enabled correlation rules and suppressed
// rules (single-event rules with a suppress block) among rs; other rules are
// left out. Every rule must come from a successful rules.Load.
func New(rs []*rules.Rule, c Config) (*Correlator, error) {
	co := &Correlator{cfg: c, byID: map[string]*ruleCorr{}, ids: newIDTable(),
		supp: suppressor{open: map[suppKey]*period{}}, closedTo: math.MinInt64}
	for _, r := range rs {
		if !r.Enabled || (r.Correlate == nil && r.Suppress == nil) {
			continue
		}
		if co.byID[r.ID] != nil {
			return nil, fmt.Errorf("correlate: rule %s given twice", r.ID)
		}
		if !r.Compiled() {
			return nil, fmt.Errorf("correlate: rule %s is not compiled", r.ID)
		}
		rc := &ruleCorr{c: co, rule: r}
		if r.Correlate == nil {
			rc.st = &suppressState{rc: rc}
			co.byID[r.ID] = rc
			co.rules = append(co.rules, rc)
			continue
		}
		switch r.Correlate.Type {
		case rules.CorrelateCount:
			rc.st = newCountState(rc)
		case rules.CorrelateDistinct:
			rc.st = newDistinctState(rc)
		case rules.CorrelateFirstSeen:
			rc.st = newSeenState(rc)
		case rules.CorrelateSequence:
			rc.st = newSeqState(rc)
		case rules.CorrelateAbsence:
			rc.st = newAbsenceState(rc)
		default:
			return nil, fmt.Errorf("correlate: rule %s: unknown correlation type %q", r.ID, r.Correlate.Type)
		}
		co.byID[r.ID] = rc
		co.rules = append(co.rules, rc)
	}
	return co, nil
}

// Rules returns the number of rules the correlator holds: correlation rules
// and suppressed rules.
func (c *Correlator) Rules() int { return len(c.rules) }

// Span returns how far back a rebuild must replay input before the first
// position it has not processed: the longest window or within of the rules,
// or twice the longest suppression period, plus the allowed lateness.
// first_seen learning is not rebuilt; it needs a snapshot.
//
// Why twice: a period opens at the first match after the previous one
// ended, so a replay that starts inside a period that began before it
// opens a period at a later match than the live run did, and the error
// carries on to the following periods of the key until its matches leave a
// gap of a whole period (which ends every period, live and replayed alike).
// Replaying one period would re-phase the open period of a key that matched
// twice, more than the lateness apart, across the replay's start; replaying
// two, only a key that matched with no gap of a period for more than a
// period plus the lateness before the restart is re-phased (its alert after
// the restart gets a new ID). Snapshot and Restore carry every key exactly.
func (c *Correlator) Span() time.Duration {
	var d time.Duration
	for _, rc := range c.rules {
		if rc.rule.Correlate == nil {
			d = max(d, 2*rc.rule.Suppress.For)
			continue
		}
		d = max(d, rc.rule.Correlate.Span())
	}
	return d + c.cfg.lateness()
}

// Add takes a signal from the matcher. It is correlated once the watermark
// passes its event time, in event-time order (ties broken by event ID), so
// that any arrival order within the allowed lateness gives the same
// alerts. A signal older than the watermark is late: it is counted in
// Stats.Late and not correlated. A signal without RuleID is a time mark: it
// only says that the input has reached s.Time (a matcher stage publishes
// marks so that a correlator reading only signals sees time pass, which
// closes windows and absences). A signal of a rule the correlator does not
// hold is an error.
//
// A signal of a suppressed rule is not held back: it opens an alert (one
// Advance or Flush returns among those opened) or folds into the open one
// of its rule and suppress key at once, in arrival order, and is never
// late; its period closes when the newest event time reaches its end.
func (c *Correlator) Add(s detect.Signal) error {
	if s.RuleID == "" {
		c.seen(s.Time.UnixNano())
		return nil
	}
	rc := c.byID[s.RuleID]
	if rc == nil {
		return fmt.Errorf("correlate: signal of unknown rule %q", s.RuleID)
	}
	c.signals++
	rc.signals++
	t := s.Time.UnixNano()
	if rc.rule.Correlate == nil {
		c.seen(t)
		c.suppress(rc, &s, t)
		return nil
	}
	if c.started && t < c.frontier {
		c.late++
		rc.late++
		return nil
	}
	c.seen(t)
	c.pending.push(pendingItem{t, &pendingSignal{Signal: s, t: t, rule: rc}})
	return nil
}

// seen records an event time.
func (c *Correlator) seen(t int64) {
	if !c.started || t > c.maxSeen {
		c.maxSeen = t
	}
	if !c.started {
		c.started = true
		c.frontier = t - int64(c.cfg.lateness())
	}
}

// Advance tells the correlator that event time has reached t (the newest
// event time of the input, matching or not). When the newest event time
// has moved since the last call, it closes the suppression periods that end
// at or before it (a period a late match opened behind the newest time
// stays open until time moves again, so that the matches right after it
// still fold in); it correlates the
// signals older than the watermark (t minus the lateness), closes what is
// due, and returns the alerts that opened and those that closed, in their
// final state, since the last call. Opened alerts are copies.
func (c *Correlator) Advance(t time.Time) (opened, closed []*detect.Alert) {
	c.seen(t.UnixNano())
	if c.maxSeen > c.closedTo {
		c.closePeriods(c.maxSeen)
		c.closedTo = c.maxSeen
	}
	w := c.maxSeen - int64(c.cfg.lateness())
	if w > c.frontier {
		c.release(func(ps *pendingSignal) bool { return ps.t < w })
		c.frontier = w
		for _, rc := range c.rules {
			rc.st.expire(w)
		}
	}
	return c.drain()
}

// Flush ends the input: it correlates every pending signal, closes what is
// due by the newest event time seen, closes every open alert (suppression
// periods first, by their end) and drops partial state (windows below their
// threshold, sequences not completed, absences whose time is not up). It
// returns what opened and closed.
func (c *Correlator) Flush() (opened, closed []*detect.Alert) {
	for len(c.supp.queue) > 0 {
		c.closePeriod(c.supp.queue[0])
	}
	c.release(func(*pendingSignal) bool { return true })
	for _, rc := range c.rules {
		rc.st.expire(c.maxSeen)
		rc.st.flush()
	}
	c.frontier = max(c.frontier, c.maxSeen)
	return c.drain()
}

// release correlates pending signals in order while ok says so.
func (c *Correlator) release(ok func(*pendingSignal) bool) {
	for len(c.pending) > 0 && ok(c.pending[0].ps) {
		ps := c.pending.pop().ps
		if c.last != nil && sameSignal(c.last, &ps.Signal) {
			continue // the same event delivered twice
		}
		c.last = &ps.Signal
		ps.rule.st.expire(ps.t)
		ps.rule.st.add(&ps.Signal, ps.t)
	}
}

// Replaying switches rebuild mode on or off. While on, alerts are
// correlated but not returned: the input is being replayed to rebuild
// state after a restart, and its alerts were emitted before.
func (c *Correlator) Replaying(on bool) { c.quiet = on }

func (c *Correlator) drain() (opened, closed []*detect.Alert) {
	opened, closed = c.opened, c.closed
	c.opened, c.closed = nil, nil
	return opened, closed
}

// fire records a newly opened alert.
func (rc *ruleCorr) fire(a *detect.Alert) {
	rc.alerts++
	if !rc.c.quiet {
		c := *a
		c.EventIDs = slices.Clone(a.EventIDs)
		rc.c.opened = append(rc.c.opened, &c)
	}
}

// close records an alert in its final state.
func (rc *ruleCorr) close(a *detect.Alert) {
	if !rc.c.quiet {
		rc.c.closed = append(rc.c.closed, a)
	}
}

// newAlert builds an alert of the rule whose evidence is evs (at least
// one, in event-time order), completed by signal s.
func (rc *ruleCorr) newAlert(s *detect.Signal, evs []evRef, count int) *detect.Alert {
	r := rc.rule
	ids := make([]string, 0, min(len(evs), rc.c.cfg.maxEventIDs()))
	for _, e := range evs[:min(len(evs), rc.c.cfg.maxEventIDs())] {
		ids = append(ids, rc.c.ids.str(e.id))
	}
	return &detect.Alert{
		AlertID:     ingest.StableID(r.ID, s.GroupKey, ids[0]),
		RuleID:      r.ID,
		Title:       r.Title,
		Severity:    r.Severity,
		Summary:     s.Summary,
		GroupKey:    s.GroupKey,
		FirstTime:   time.Unix(0, evs[0].t).UTC(),
		LastTime:    time.Unix(0, evs[len(evs)-1].t).UTC(),
		Count:       count,
		EventIDs:    ids,
		Tags:        slices.Clone(r.Tags),
		LogType:     s.LogType,
		RuleVersion: r.Version,
		Mode:        detect.AlertMode(r),
		Runbook:     r.Runbook,
	}
}

// addEvidence folds one more contributing event into an alert.
func (rc *ruleCorr) addEvidence(a *detect.Alert, s *detect.Signal) {
	a.Count++
	if s.Time.After(a.LastTime) {
		a.LastTime = s.Time.UTC()
	}
	if len(a.EventIDs) < rc.c.cfg.maxEventIDs() {
		a.EventIDs = append(a.EventIDs, s.EventID)
	}
}

// RuleStats are the counters of one correlation rule.
type RuleStats struct {
	ID      string
	Signals uint64 // signals given to Add
	Late    uint64 // signals older than the watermark, not correlated
	Evicted uint64 // windows or values dropped because a cap was reached
	Alerts  uint64 // alerts opened
	// Open is the number of open windows, partial sequences, pending
	// absences or learned values.
	Open int
}

// AddCounts returns r with the counters of o (Signals, Late, Evicted,
// Alerts) added; ID and Open are r's.
func (r RuleStats) AddCounts(o RuleStats) RuleStats {
	r.Signals, r.Late, r.Evicted, r.Alerts = r.Signals+o.Signals, r.Late+o.Late, r.Evicted+o.Evicted, r.Alerts+o.Alerts
	return r
}

// Stats are a correlator's counters.
type Stats struct {
	Signals uint64
	Late    uint64
	Evicted uint64
	// Pending is the number of signals waiting for the watermark.
	Pending int
	// Watermark is the event time before which signals are late.
	Watermark time.Time
	Rules     []RuleStats
}

// Stats returns the correlator's counters, rules in set order.
func (c *Correlator) Stats() Stats {
	s := Stats{Signals: c.signals, Late: c.late, Pending: len(c.pending), Rules: make([]RuleStats, len(c.rules))}
	if c.started {
		s.Watermark = time.Unix(0, c.frontier).UTC()
	}
	for i, rc := range c.rules {
		s.Evicted += rc.evicted
		s.Rules[i] = RuleStats{ID: rc.rule.ID, Signals: rc.signals, Late: rc.late, Evicted: rc.evicted, Alerts: rc.alerts, Open: rc.st.size()}
	}
	return s
}

// pendingSignal is a signal waiting for the watermark.
type pendingSignal struct {
	detect.Signal
	t    int64
	rule *ruleCorr
}

// pendingItem is a pending signal in the heap, its time beside the
// pointer so that most comparisons do not follow it.
type pendingItem struct {
	t  int64
	ps *pendingSignal
}

// pendingHeap is a min-heap of signals by event time, event ID, rule,
// step and key (container/heap would box every item in an interface).
type pendingHeap []pendingItem

func (h pendingHeap) less(i, j int) bool {
	if h[i].t != h[j].t {
		return h[i].t < h[j].t
	}
	return compareSignals(&h[i].ps.Signal, &h[j].ps.Signal, h[i].t, h[j].t) < 0
}

func (h *pendingHeap) push(x pendingItem) {
	*h = append(*h, x)
	q := *h
	for i := len(q) - 1; i > 0; {
		parent := (i - 1) / 2
		if !q.less(i, parent) {
			break
		}
		q[i], q[parent] = q[parent], q[i]
		i = parent
	}
}

func (h *pendingHeap) pop() pendingItem {
	q := *h
	top := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q[n] = pendingItem{}
	q = q[:n]
	for i := 0; ; {
		m, l, r := i, 2*i+1, 2*i+2
		if l < n && q.less(l, m) {
			m = l
		}
		if r < n && q.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}

func compareSignals(a, b *detect.Signal, ta, tb int64) int {
	if ta != tb { // the usual case: decide without comparing strings
		return cmp.Compare(ta, tb)
	}
	return cmp.Or(strings.Compare(a.EventID, b.EventID), strings.Compare(a.RuleID, b.RuleID),
		cmp.Compare(a.Step, b.Step), strings.Compare(a.GroupKey, b.GroupKey), strings.Compare(a.Value, b.Value))
}

func sameSignal(a, b *detect.Signal) bool {
	return a.EventID == b.EventID && a.RuleID == b.RuleID && a.Step == b.Step && a.GroupKey == b.GroupKey &&
		a.Value == b.Value && a.Time.Equal(b.Time)
}

// hashKey hashes a key 8 bytes at a time (after xxHash64's round and
// avalanche): deterministic across processes, so that snapshots keyed by
// it can be restored anywhere.
func hashKey(s string) uint64 {
	const (
		p1 = 0x9E3779B185EBCA87
		p2 = 0xC2B2AE3D27D4EB4F
		p3 = 0x165667B19E3779F9
	)
	h := uint64(len(s))*p1 + p3
	for len(s) >= 8 {
		w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		h ^= bits.RotateLeft64(w*p2, 31) * p1
		h = bits.RotateLeft64(h, 27)*p1 + p3
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i]) * p1
		h = bits.RotateLeft64(h, 11) * p2
	}
	h ^= h >> 33
	h *= p2
	h ^= h >> 29
	h *= p3
	h ^= h >> 32
	return h
}

// fifo is a queue of expiry entries in nondecreasing time order.
type fifo[T any] struct {
	items []T
	head  int
}

func (q *fifo[T]) push(x T) {
	if q.head > 0 && q.head >= len(q.items)/2 && len(q.items) == cap(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items = q.items[:n]
		q.head = 0
	}
	q.items = append(q.items, x)
}

func (q *fifo[T]) len() int { return len(q.items) - q.head }

func (q *fifo[T]) front() *T { return &q.items[q.head] }

func (q *fifo[T]) pop() T {
	var zero T
	x := q.items[q.head]
	q.items[q.head] = zero
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return x
}

// all returns the queued entries in order.
func (q *fifo[T]) all() []T { return q.items[q.head:] }
