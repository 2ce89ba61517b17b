package correlate

import (
	"cmp"
	"slices"

	"github.com/vigilsec/vigil/detect"
)

// distinctVal is one value of a distinct window and its latest event.
type distinctVal struct {
	hash uint64
	ev   evRef
}

// distinctWin holds the distinct values of one key within the window.
type distinctWin struct {
	vals []distinctVal
	last int64
}

// distinctState holds the windows of a distinct rule.
type distinctState struct {
	rc        *ruleCorr
	window    int64
	threshold int
	wins      map[uint64]*distinctWin
	queue     fifo[hashAt]
	open      openSet
}

func newDistinctState(rc *ruleCorr) *distinctState {
	c := rc.rule.Correlate
	return &distinctState{rc: rc, window: int64(c.Window), threshold: c.Threshold, wins: map[uint64]*distinctWin{},
		open: newOpenSet(rc, int64(c.Window))}
}

func (s *distinctState) add(sig *detect.Signal, t int64) {
	h := hashKey(sig.GroupKey)
	if s.open.fold(h, sig, t) {
		return
	}
	w := s.wins[h]
	if w == nil {
		if len(s.wins) >= s.rc.c.cfg.maxWindows() {
			s.evictOne()
		}
		w = &distinctWin{}
		s.wins[h] = w
	}
	ids := &s.rc.c.ids
	w.vals = slices.DeleteFunc(w.vals, func(v distinctVal) bool {
		if v.ev.t < t-s.window {
			ids.release(v.ev.id)
			return true
		}
		return false
	})
	vh := hashKey(sig.Value)
	ev := evRef{t: t, id: ids.ref(sig.EventID)}
	if i := slices.IndexFunc(w.vals, func(v distinctVal) bool { return v.hash == vh }); i >= 0 {
		ids.release(w.vals[i].ev.id)
		w.vals = append(slices.Delete(w.vals, i, i+1), distinctVal{vh, ev})
	} else {
		w.vals = append(w.vals, distinctVal{vh, ev})
	}
	w.last = t
	if len(w.vals) < s.threshold {
		s.queue.push(hashAt{h, t})
		return
	}
	evs := make([]evRef, len(w.vals))
	for i, v := range w.vals {
		evs[i] = v.ev
	}
	slices.SortStableFunc(evs, func(a, b evRef) int { return cmp.Compare(a.t, b.t) })
	a := s.rc.newAlert(sig, evs, len(evs))
	s.drop(h)
	s.open.open(h, a, t)
}

func (s *distinctState) drop(h uint64) {
	if w := s.wins[h]; w != nil {
		for _, v := range w.vals {
			s.rc.c.ids.release(v.ev.id)
		}
		delete(s.wins, h)
	}
}

func (s *distinctState) evictOne() {
	for s.queue.len() > 0 {
		e := s.queue.pop()
		if w := s.wins[e.hash]; w != nil && w.last == e.t {
			s.drop(e.hash)
			s.rc.evicted++
			return
		}
	}
}

func (s *distinctState) expire(now int64) {
	for s.queue.len() > 0 && s.queue.front().t+s.window < now {
		e := s.queue.pop()
		if w := s.wins[e.hash]; w != nil && w.last == e.t {
			s.drop(e.hash)
		}
	}
	s.open.expire(now)
}

func (s *distinctState) flush() {
	for h := range s.wins {
		s.drop(h)
	}
	s.queue = fifo[hashAt]{}
	s.open.flush()
}

func (s *distinctState) size() int { return len(s.wins) + len(s.open.m) }
