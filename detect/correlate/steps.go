package correlate

import (
	"sort"

	"github.com/vigilsec/vigil/detect"
)

// seenState learns the values of a first_seen rule per key.
type seenState struct {
	rc      *ruleCorr
	learn   int64
	forget  int64
	refresh int64 // see rules.Correlate.Refresh
	start   int64 // event time of the first signal; learning ends at start+learn
	begun   bool
	seen    map[uint64]int64 // hash of key and value → last seen
	queue   fifo[hashAt]
}

func newSeenState(rc *ruleCorr) *seenState {
	c := rc.rule.Correlate
	return &seenState{rc: rc, learn: int64(c.Learn), forget: int64(c.Forget),
		refresh: int64(c.Refresh()), seen: map[uint64]int64{}}
}

func (s *seenState) add(sig *detect.Signal, t int64) {
	if !s.begun {
		s.start, s.begun = t, true
	}
	h := hashKey(sig.GroupKey + "\x00" + sig.Value)
	last, known := s.seen[h]
	if known && t >= last && t-last < s.refresh {
		return // seen lately: nothing to learn, and no queue entry per signal
	}
	if !known && len(s.seen) >= s.rc.c.cfg.maxValues() {
		s.evictOne()
	}
	if !known || t > last {
		s.seen[h] = t
		s.queue.push(hashAt{h, t})
	}
	if known || t < s.start+s.learn {
		return
	}
	ev := []evRef{{t: t, id: s.rc.c.ids.ref(sig.EventID)}}
	a := s.rc.newAlert(sig, ev, 1)
	s.rc.c.ids.release(ev[0].id)
	s.rc.fire(a)
	s.rc.close(a)
}

func (s *seenState) evictOne() {
	for s.queue.len() > 0 {
		e := s.queue.pop()
		if last, ok := s.seen[e.hash]; ok && last == e.t {
			delete(s.seen, e.hash)
			s.rc.evicted++
			return
		}
	}
}

func (s *seenState) expire(now int64) {
	for s.queue.len() > 0 && s.queue.front().t+s.forget < now {
		e := s.queue.pop()
		if last, ok := s.seen[e.hash]; ok && last == e.t {
			delete(s.seen, e.hash)
		}
	}
}

// flush keeps what was learned: it is not partial state.
func (s *seenState) flush() {}

func (s *seenState) size() int { return len(s.seen) }

// partial is a sequence matched up to some step: the first event's time
// and the events so far.
type partial struct {
	first int64
	evs   []evRef
	last  string // ID of the latest event, so one event is not two steps
}

// seqKey is the sequence state of one key: partials[i] has matched steps
// 0..i. Of two partials at the same step the later one is kept: it has
// more time left.
type seqKey struct {
	key      string
	partials []*partial
	last     int64 // time of the latest update, for expiry
}

// seqState holds the partial sequences of a sequence rule per key.
type seqState struct {
	rc     *ruleCorr
	within int64
	steps  int
	keys   map[string]*seqKey
	queue  fifo[keyAt]
}

// keyAt is an expiry entry of a keyed state.
type keyAt struct {
	key string
	t   int64
}

func newSeqState(rc *ruleCorr) *seqState {
	c := rc.rule.Correlate
	return &seqState{rc: rc, within: int64(c.Within), steps: len(c.Steps), keys: map[string]*seqKey{}}
}

func (s *seqState) add(sig *detect.Signal, t int64) {
	k := s.keys[sig.GroupKey]
	if k == nil {
		if sig.Step != 0 {
			return
		}
		if len(s.keys) >= s.rc.c.cfg.maxWindows() {
			s.evictOne()
		}
		k = &seqKey{key: sig.GroupKey, partials: make([]*partial, s.steps-1)}
		s.keys[sig.GroupKey] = k
	}
	s.prune(k, t)
	ids := &s.rc.c.ids
	switch {
	case sig.Step == 0:
		if p := k.partials[0]; p != nil {
			s.release(p)
		}
		k.partials[0] = &partial{first: t, evs: []evRef{{t, ids.ref(sig.EventID)}}, last: sig.EventID}
	default:
		prev := k.partials[sig.Step-1]
		if prev == nil || prev.last == sig.EventID {
			break
		}
		evs := make([]evRef, len(prev.evs), len(prev.evs)+1)
		for i, e := range prev.evs {
			evs[i] = evRef{e.t, ids.ref(ids.str(e.id))}
		}
		evs = append(evs, evRef{t, ids.ref(sig.EventID)})
		if sig.Step == s.steps-1 {
			a := s.rc.newAlert(sig, evs, len(evs))
			for _, e := range evs {
				ids.release(e.id)
			}
			s.rc.fire(a)
			s.rc.close(a)
			s.drop(k)
			return
		}
		if cur := k.partials[sig.Step]; cur != nil {
			if cur.first > prev.first {
				for _, e := range evs {
					ids.release(e.id)
				}
				break
			}
			s.release(cur)
		}
		k.partials[sig.Step] = &partial{first: prev.first, evs: evs, last: sig.EventID}
	}
	if s.empty(k) {
		s.drop(k)
		return
	}
	k.last = t
	s.queue.push(keyAt{k.key, t})
}

// prune drops the partials of k that can no longer complete by t.
func (s *seqState) prune(k *seqKey, t int64) {
	for i, p := range k.partials {
		if p != nil && p.first+s.within < t {
			s.release(p)
			k.partials[i] = nil
		}
	}
}

func (s *seqState) empty(k *seqKey) bool {
	for _, p := range k.partials {
		if p != nil {
			return false
		}
	}
	return true
}

func (s *seqState) release(p *partial) {
	for _, e := range p.evs {
		s.rc.c.ids.release(e.id)
	}
}

func (s *seqState) drop(k *seqKey) {
	for _, p := range k.partials {
		if p != nil {
			s.release(p)
		}
	}
	delete(s.keys, k.key)
}

func (s *seqState) evictOne() {
	for s.queue.len() > 0 {
		e := s.queue.pop()
		if k := s.keys[e.key]; k != nil && k.last == e.t {
			s.drop(k)
			s.rc.evicted++
			return
		}
	}
}

func (s *seqState) expire(now int64) {
	for s.queue.len() > 0 && s.queue.front().t+s.within < now {
		e := s.queue.pop()
		if k := s.keys[e.key]; k != nil && k.last == e.t {
			s.prune(k, now)
			if s.empty(k) {
				s.drop(k)
			}
		}
	}
}

func (s *seqState) flush() {
	for _, k := range s.keys {
		s.drop(k)
	}
	s.queue = fifo[keyAt]{}
}

func (s *seqState) size() int { return len(s.keys) }

// pendingAbsence is a first step waiting for its follow-up.
type pendingAbsence struct {
	alert *detect.Alert
	first int64
}

// absenceState holds the first steps of an absence rule awaiting the
// second, per key.
type absenceState struct {
	rc      *ruleCorr
	within  int64
	pending map[string]*pendingAbsence
	queue   fifo[keyAt]
}

func newAbsenceState(rc *ruleCorr) *absenceState {
	return &absenceState{rc: rc, within: int64(rc.rule.Correlate.Within), pending: map[string]*pendingAbsence{}}
}

func (s *absenceState) add(sig *detect.Signal, t int64) {
	p := s.pending[sig.GroupKey]
	if sig.Step == 1 {
		if p != nil {
			delete(s.pending, sig.GroupKey) // followed in time
		}
		return
	}
	if p != nil {
		s.rc.addEvidence(p.alert, sig)
		return
	}
	if len(s.pending) >= s.rc.c.cfg.maxWindows() {
		s.evictOne()
	}
	ev := []evRef{{t: t, id: s.rc.c.ids.ref(sig.EventID)}}
	a := s.rc.newAlert(sig, ev, 1)
	s.rc.c.ids.release(ev[0].id)
	s.pending[sig.GroupKey] = &pendingAbsence{alert: a, first: t}
	s.queue.push(keyAt{sig.GroupKey, t})
}

func (s *absenceState) evictOne() {
	for s.queue.len() > 0 {
		e := s.queue.pop()
		if p := s.pending[e.key]; p != nil && p.first == e.t {
			delete(s.pending, e.key)
			s.rc.evicted++
			return
		}
	}
}

// expire fires the first steps whose time to be followed is up.
func (s *absenceState) expire(now int64) {
	for s.queue.len() > 0 && s.queue.front().t+s.within < now {
		e := s.queue.pop()
		if p := s.pending[e.key]; p != nil && p.first == e.t {
			delete(s.pending, e.key)
			s.rc.fire(p.alert)
			s.rc.close(p.alert)
		}
	}
}

// flush drops the first steps whose time is not up: whether they will be
// followed is unknown.
func (s *absenceState) flush() {
	clear(s.pending)
	s.queue = fifo[keyAt]{}
}

func (s *absenceState) size() int { return len(s.pending) }

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
