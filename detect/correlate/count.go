package correlate

import (
	"slices"
	"strings"

	"github.com/vigilsec/vigil/detect"
)

// chunkBits sizes the chunks of the window slab: growing by chunks wastes
// at most one chunk, where a doubling slice wastes up to half.
const chunkBits = 10

// countWin is an open count window: the events of one group key within
// the window, oldest first (the first in place, the rest in more). Windows
// live in a slab and are found by the hash of their key, so the key text
// is not kept.
type countWin struct {
	hash  uint64
	first evRef   // first.id.kind == idFree when the slot is free
	more  []evRef // the events after the first
}

// idFree marks a free slot of the slab.
const idFree uint8 = 0xff

func (w *countWin) free() bool { return w.first.id.kind == idFree }

func (w *countWin) len() int { return 1 + len(w.more) }

func (w *countWin) lastT() int64 {
	if n := len(w.more); n > 0 {
		return w.more[n-1].t
	}
	return w.first.t
}

// events returns the window's events in order.
func (w *countWin) events() []evRef {
	return append([]evRef{w.first}, w.more...)
}

// prune drops the events before cut; it reports false when none is left.
func (w *countWin) prune(cut int64, ids *idTable) bool {
	for w.first.t < cut {
		ids.release(w.first.id)
		if len(w.more) == 0 {
			return false
		}
		w.first = w.more[0]
		w.more = w.more[1:]
	}
	if len(w.more) == 0 {
		w.more = nil
	}
	return true
}

// slotAt is an expiry entry: slot's window is due at t plus the window
// unless it received a later event.
type slotAt struct {
	slot int32
	t    int64
}

// countState holds the windows of a count rule.
type countState struct {
	rc        *ruleCorr
	window    int64
	threshold int
	slots     slotTable
	chunks    [][]countWin
	free      []int32
	queue     fifo[slotAt]
	open      openSet
}

func newCountState(rc *ruleCorr) *countState {
	c := rc.rule.Correlate
	return &countState{rc: rc, window: int64(c.Window), threshold: c.Threshold,
		open: newOpenSet(rc, int64(c.Window))}
}

func (s *countState) win(slot int32) *countWin {
	return &s.chunks[slot>>chunkBits][slot&(1<<chunkBits-1)]
}

// alloc returns a free slot.
func (s *countState) alloc() int32 {
	if n := len(s.free); n > 0 {
		slot := s.free[n-1]
		s.free = s.free[:n-1]
		return slot
	}
	n := int32(len(s.chunks)) << chunkBits
	chunk := make([]countWin, 1<<chunkBits)
	for i := range chunk {
		chunk[i].first.id.kind = idFree
	}
	s.chunks = append(s.chunks, chunk)
	for i := int32(1<<chunkBits) - 1; i > 0; i-- {
		s.free = append(s.free, n+i)
	}
	return n
}

// drop frees a window and the IDs it holds.
func (s *countState) drop(slot int32) {
	w := s.win(slot)
	s.rc.c.ids.release(w.first.id)
	for _, e := range w.more {
		s.rc.c.ids.release(e.id)
	}
	s.slots.del(w.hash)
	*w = countWin{first: evRef{id: eventID{kind: idFree}}}
	s.free = append(s.free, slot)
}

func (s *countState) add(sig *detect.Signal, t int64) {
	h := hashKey(sig.GroupKey)
	if s.open.fold(h, sig, t) {
		return
	}
	ev := evRef{t: t, id: s.rc.c.ids.ref(sig.EventID)}
	slot, ok := s.slots.get(h)
	var w *countWin
	if ok {
		w = s.win(slot)
		if w.prune(t-s.window, &s.rc.c.ids) {
			w.more = append(w.more, ev)
		} else {
			w.first = ev
		}
	} else {
		if s.slots.len() >= s.rc.c.cfg.maxWindows() {
			s.evictOne()
		}
		slot = s.alloc()
		s.slots.put(h, slot)
		w = s.win(slot)
		*w = countWin{hash: h, first: ev}
	}
	if w.len() < s.threshold {
		s.queue.push(slotAt{slot, t})
		return
	}
	a := s.rc.newAlert(sig, w.events(), w.len())
	s.drop(slot)
	s.open.open(h, a, t)
}

// evictOne drops the window due to close first.
func (s *countState) evictOne() {
	for s.queue.len() > 0 {
		e := s.queue.pop()
		if w := s.win(e.slot); !w.free() && w.lastT() == e.t {
			s.drop(e.slot)
			s.rc.evicted++
			return
		}
	}
}

func (s *countState) expire(now int64) {
	for s.queue.len() > 0 && s.queue.front().t+s.window < now {
		e := s.queue.pop()
		if w := s.win(e.slot); !w.free() && w.lastT() == e.t {
			s.drop(e.slot)
		}
	}
	s.open.expire(now)
}

func (s *countState) flush() {
	var all []int32
	s.slots.each(func(_ uint64, slot int32) { all = append(all, slot) })
	for _, slot := range all {
		s.drop(slot)
	}
	s.queue = fifo[slotAt]{}
	s.open.flush()
}

func (s *countState) size() int { return s.slots.len() + len(s.open.m) }

// openAlert is an alert that fired and still absorbs events of its key.
type openAlert struct {
	a    *detect.Alert
	last int64
}

// hashAt is an expiry entry of an open alert or a keyed window.
type hashAt struct {
	hash uint64
	t    int64
}

// openSet holds the fired alerts of a count or distinct rule: a further
// matching event of the key within the window of the last one is counted
// into the alert instead of starting a new window.
type openSet struct {
	rc     *ruleCorr
	window int64
	m      map[uint64]*openAlert
	queue  fifo[hashAt]
}

func newOpenSet(rc *ruleCorr, window int64) openSet {
	return openSet{rc: rc, window: window, m: map[uint64]*openAlert{}}
}

func (o *openSet) open(h uint64, a *detect.Alert, t int64) {
	o.rc.fire(a)
	o.m[h] = &openAlert{a: a, last: t}
	o.queue.push(hashAt{h, t})
}

func (o *openSet) fold(h uint64, sig *detect.Signal, t int64) bool {
	x := o.m[h]
	if x == nil {
		return false
	}
	o.rc.addEvidence(x.a, sig)
	x.last = t
	o.queue.push(hashAt{h, t})
	return true
}

func (o *openSet) expire(now int64) {
	for o.queue.len() > 0 && o.queue.front().t+o.window < now {
		e := o.queue.pop()
		if x := o.m[e.hash]; x != nil && x.last == e.t {
			delete(o.m, e.hash)
			o.rc.close(x.a)
		}
	}
}

func (o *openSet) flush() {
	var all []*detect.Alert
	for _, x := range o.m {
		all = append(all, x.a)
	}
	slices.SortFunc(all, func(a, b *detect.Alert) int { return strings.Compare(a.AlertID, b.AlertID) })
	for _, a := range all {
		o.rc.close(a)
	}
	clear(o.m)
	o.queue = fifo[hashAt]{}
}
