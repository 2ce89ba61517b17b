package correlate

import (
	"cmp"
	"encoding/gob"
	"fmt"
	"io"
	"slices"

	"github.com/vigilsec/vigil/detect"
)

// snapshotFormat is the version of the snapshot encoding.
const snapshotFormat = 1

// snapshot is the encoded state of a correlator.
type snapshot struct {
	Format   int
	Started  bool
	MaxSeen  int64
	Frontier int64
	ClosedTo int64
	Signals  uint64
	Late     uint64
	Pending  []detect.Signal
	Rules    []ruleSnap
}

// ruleSnap is the state of one rule; the fields used depend on its type.
type ruleSnap struct {
	ID      string
	Version int
	Type    string
	Signals uint64
	Late    uint64
	Evicted uint64
	Alerts  uint64
	Windows []winSnap  // count, distinct
	Open    []openSnap // count, distinct
	Learned []hashLast // first_seen
	Start   int64      // first_seen
	Begun   bool       // first_seen
	Seqs    []seqSnap  // sequence
	Absent  []absentSnap
	Periods []periodSnap // suppressed rules
}

type evSnap struct {
	T  int64
	ID string
}

type winSnap struct {
	Hash   uint64
	Events []evSnap
	Values []uint64 // distinct: the value hash of each event
}

type openSnap struct {
	Hash  uint64
	Last  int64
	Alert detect.Alert
}

type hashLast struct {
	Hash uint64
	Last int64
}

type partialSnap struct {
	Step   int
	First  int64
	Events []evSnap
	LastID string
}

type seqSnap struct {
	Key      string
	Last     int64
	Partials []partialSnap
}

type absentSnap struct {
	Key   string
	First int64
	Alert detect.Alert
}

// Snapshot writes the correlator's state: pending signals, windows, open
// alerts, partial sequences, pending absences and learned values. Take it
// together with the input position it reflects (after the alerts returned
// so far are delivered); Restore continues from there.
func (c *Correlator) Snapshot(w io.Writer) error {
	s := snapshot{Format: snapshotFormat, Started: c.started, MaxSeen: c.maxSeen, Frontier: c.frontier,
		ClosedTo: c.closedTo, Signals: c.signals, Late: c.late}
	for _, it := range c.pending {
		s.Pending = append(s.Pending, it.ps.Signal)
	}
	for _, rc := range c.rules {
		rs := ruleSnap{ID: rc.rule.ID, Version: rc.rule.Version, Type: stateType(rc),
			Signals: rc.signals, Late: rc.late, Evicted: rc.evicted, Alerts: rc.alerts}
		rc.st.save(&rs)
		s.Rules = append(s.Rules, rs)
	}
	if err := gob.NewEncoder(w).Encode(&s); err != nil {
		return fmt.Errorf("correlate: snapshot: %w", err)
	}
	return nil
}

// Restore replaces the state of a correlator built from the same rules by
// a snapshot. The state of a rule that is no longer held, or whose version
// or correlation type changed, is dropped, except that its open
// suppression periods close: the next Advance or Flush returns their
// alerts in their final state. Rules new since the snapshot start empty.
func (c *Correlator) Restore(r io.Reader) error {
	var s snapshot
	if err := gob.NewDecoder(r).Decode(&s); err != nil {
		return fmt.Errorf("correlate: restore: %w", err)
	}
	if s.Format != snapshotFormat {
		return fmt.Errorf("correlate: restore: snapshot format %d, want %d", s.Format, snapshotFormat)
	}
	fresh, err := New(nil, c.cfg)
	if err != nil {
		return err
	}
	for _, rc := range c.rules {
		n := &ruleCorr{c: fresh, rule: rc.rule}
		switch rc.st.(type) {
		case *countState:
			n.st = newCountState(n)
		case *distinctState:
			n.st = newDistinctState(n)
		case *seenState:
			n.st = newSeenState(n)
		case *seqState:
			n.st = newSeqState(n)
		case *absenceState:
			n.st = newAbsenceState(n)
		case *suppressState:
			n.st = &suppressState{rc: n}
		}
		fresh.byID[n.rule.ID] = n
		fresh.rules = append(fresh.rules, n)
	}
	fresh.started, fresh.maxSeen, fresh.frontier, fresh.closedTo = s.Started, s.MaxSeen, s.Frontier, s.ClosedTo
	fresh.signals, fresh.late = s.Signals, s.Late
	for _, sig := range s.Pending {
		if rc := fresh.byID[sig.RuleID]; rc != nil {
			t := sig.Time.UnixNano()
			fresh.pending.push(pendingItem{t, &pendingSignal{Signal: sig, t: t, rule: rc}})
		}
	}
	for i := range s.Rules {
		rs := &s.Rules[i]
		rc := fresh.byID[rs.ID]
		if rc == nil || rc.rule.Version != rs.Version || stateType(rc) != rs.Type {
			for _, x := range rs.Periods {
				a := x.Alert
				fresh.closed = append(fresh.closed, &a)
			}
			continue
		}
		rc.signals, rc.late, rc.evicted, rc.alerts = rs.Signals, rs.Late, rs.Evicted, rs.Alerts
		if err := rc.st.load(rs); err != nil {
			return fmt.Errorf("correlate: restore rule %s: %w", rs.ID, err)
		}
	}
	*c = *fresh
	for _, rc := range c.rules {
		rc.c = c
	}
	return nil
}

// stateType names the kind of state of a rule in snapshots: its
// correlation type, or "suppress".
func stateType(rc *ruleCorr) string {
	if rc.rule.Correlate == nil {
		return typeSuppress
	}
	return rc.rule.Correlate.Type
}

func (c *Correlator) evSnaps(evs []evRef) []evSnap {
	out := make([]evSnap, len(evs))
	for i, e := range evs {
		out[i] = evSnap{e.t, c.ids.str(e.id)}
	}
	return out
}

func (c *Correlator) evRefs(evs []evSnap) []evRef {
	out := make([]evRef, len(evs))
	for i, e := range evs {
		out[i] = evRef{e.T, c.ids.ref(e.ID)}
	}
	return out
}

func (o *openSet) save(rs *ruleSnap) {
	for h, x := range o.m {
		rs.Open = append(rs.Open, openSnap{Hash: h, Last: x.last, Alert: *x.a})
	}
	slices.SortFunc(rs.Open, func(a, b openSnap) int { return cmp.Compare(a.Last, b.Last) })
}

func (o *openSet) load(rs *ruleSnap) {
	for _, x := range rs.Open {
		a := x.Alert
		o.m[x.Hash] = &openAlert{a: &a, last: x.Last}
		o.queue.push(hashAt{x.Hash, x.Last})
	}
}

func (s *countState) save(rs *ruleSnap) {
	s.slots.each(func(_ uint64, slot int32) {
		w := s.win(slot)
		rs.Windows = append(rs.Windows, winSnap{Hash: w.hash, Events: s.rc.c.evSnaps(w.events())})
	})
	sortWindows(rs.Windows)
	s.open.save(rs)
}

func (s *countState) load(rs *ruleSnap) error {
	for _, w := range rs.Windows {
		if len(w.Events) == 0 {
			return fmt.Errorf("empty window")
		}
		slot := s.alloc()
		s.slots.put(w.Hash, slot)
		evs := s.rc.c.evRefs(w.Events)
		*s.win(slot) = countWin{hash: w.Hash, first: evs[0], more: evs[1:]}
		s.queue.push(slotAt{slot, w.Events[len(w.Events)-1].T})
	}
	s.open.load(rs)
	return nil
}

func (s *distinctState) save(rs *ruleSnap) {
	for h, w := range s.wins {
		ws := winSnap{Hash: h}
		for _, v := range w.vals {
			ws.Events = append(ws.Events, evSnap{v.ev.t, s.rc.c.ids.str(v.ev.id)})
			ws.Values = append(ws.Values, v.hash)
		}
		rs.Windows = append(rs.Windows, ws)
	}
	sortWindows(rs.Windows)
	s.open.save(rs)
}

func (s *distinctState) load(rs *ruleSnap) error {
	for _, ws := range rs.Windows {
		if len(ws.Events) == 0 || len(ws.Values) != len(ws.Events) {
			return fmt.Errorf("malformed window")
		}
		w := &distinctWin{}
		for i, e := range s.rc.c.evRefs(ws.Events) {
			w.vals = append(w.vals, distinctVal{ws.Values[i], e})
			w.last = max(w.last, e.t)
		}
		s.wins[ws.Hash] = w
		s.queue.push(hashAt{ws.Hash, w.last})
	}
	s.open.load(rs)
	return nil
}

// sortWindows orders windows by their latest event, the order of their
// expiry entries.
func sortWindows(ws []winSnap) {
	slices.SortFunc(ws, func(a, b winSnap) int {
		return cmp.Or(cmp.Compare(a.Events[len(a.Events)-1].T, b.Events[len(b.Events)-1].T), cmp.Compare(a.Hash, b.Hash))
	})
}

func (s *seenState) save(rs *ruleSnap) {
	rs.Start, rs.Begun = s.start, s.begun
	for h, t := range s.seen {
		rs.Learned = append(rs.Learned, hashLast{h, t})
	}
	slices.SortFunc(rs.Learned, func(a, b hashLast) int { return cmp.Or(cmp.Compare(a.Last, b.Last), cmp.Compare(a.Hash, b.Hash)) })
}

func (s *seenState) load(rs *ruleSnap) error {
	s.start, s.begun = rs.Start, rs.Begun
	for _, x := range rs.Learned {
		s.seen[x.Hash] = x.Last
		s.queue.push(hashAt{x.Hash, x.Last})
	}
	return nil
}

func (s *seqState) save(rs *ruleSnap) {
	for _, key := range sortedKeys(s.keys) {
		k := s.keys[key]
		ss := seqSnap{Key: key, Last: k.last}
		for i, p := range k.partials {
			if p != nil {
				ss.Partials = append(ss.Partials, partialSnap{Step: i, First: p.first, Events: s.rc.c.evSnaps(p.evs), LastID: p.last})
			}
		}
		rs.Seqs = append(rs.Seqs, ss)
	}
	slices.SortStableFunc(rs.Seqs, func(a, b seqSnap) int { return cmp.Compare(a.Last, b.Last) })
}

func (s *seqState) load(rs *ruleSnap) error {
	for _, ss := range rs.Seqs {
		k := &seqKey{key: ss.Key, last: ss.Last, partials: make([]*partial, s.steps-1)}
		for _, p := range ss.Partials {
			if p.Step < 0 || p.Step >= len(k.partials) {
				return fmt.Errorf("partial sequence at step %d of %d", p.Step, s.steps)
			}
			k.partials[p.Step] = &partial{first: p.First, evs: s.rc.c.evRefs(p.Events), last: p.LastID}
		}
		s.keys[ss.Key] = k
		s.queue.push(keyAt{ss.Key, ss.Last})
	}
	return nil
}

func (s *absenceState) save(rs *ruleSnap) {
	for _, key := range sortedKeys(s.pending) {
		p := s.pending[key]
		rs.Absent = append(rs.Absent, absentSnap{Key: key, First: p.first, Alert: *p.alert})
	}
	slices.SortStableFunc(rs.Absent, func(a, b absentSnap) int { return cmp.Compare(a.First, b.First) })
}

func (s *absenceState) load(rs *ruleSnap) error {
	for _, x := range rs.Absent {
		a := x.Alert
		s.pending[x.Key] = &pendingAbsence{alert: &a, first: x.First}
		s.queue.push(keyAt{x.Key, x.First})
	}
	return nil
}
