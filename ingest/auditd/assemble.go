package auditd

import (
	"container/heap"
	"errors"
	"sort"
)

// errLateRecord is reported for a record whose event was already emitted
// (it arrived after the reorder window closed on its event).
var errLateRecord = errors.New("record arrived after its event was emitted (outside the reorder window)")

// eventKey identifies one audit event: records sharing it are coalesced.
type eventKey struct {
	node  string
	stamp string
	// serial is the audit serial number.
	serial uint64
}

// pending is an event whose records are still being collected.
type pending struct {
	key     eventKey
	sec     int64
	nsec    int64
	records []*record
	index   int // position in the assembler's heap
}

// singleRecord lists the record types that always form an event on their
// own and never get an EOE: the messages sent by user-space programs (PAM,
// shadow-utils, sudo, systemd, auditd itself). An event whose first record
// has one of these types is emitted at once.
var singleRecord = map[string]bool{
	"ACCT_LOCK": true, "ACCT_UNLOCK": true, "ADD_GROUP": true, "ADD_USER": true,
	"ANOM_LOGIN_ACCT": true, "ANOM_LOGIN_FAILURES": true, "ANOM_LOGIN_LOCATION": true,
	"ANOM_LOGIN_SESSIONS": true, "ANOM_LOGIN_TIME": true, "CHGRP_ID": true,
	"CHUSER_ID": true, "CRED_ACQ": true, "CRED_DISP": true, "CRED_REFR": true,
	"CRYPTO_KEY_USER": true, "CRYPTO_SESSION": true, "DAEMON_ABORT": true,
	"DAEMON_CONFIG": true, "DAEMON_END": true, "DAEMON_RESUME": true,
	"DAEMON_ROTATE": true, "DAEMON_START": true, "DEL_GROUP": true, "DEL_USER": true,
	"GRP_AUTH": true, "GRP_CHAUTHTOK": true, "GRP_MGMT": true, "SERVICE_START": true,
	"SERVICE_STOP": true, "SOFTWARE_UPDATE": true, "SYSTEM_BOOT": true,
	"SYSTEM_RUNLEVEL": true, "SYSTEM_SHUTDOWN": true, "USER_ACCT": true,
	"USER_AUTH": true, "USER_AVC": true, "USER_CHAUTHTOK": true, "USER_CMD": true,
	"USER_DEVICE": true, "USER_END": true, "USER_ERR": true, "USER_LOGIN": true,
	"USER_LOGOUT": true, "USER_MGMT": true, "USER_ROLE_CHANGE": true,
	"USER_SELINUX_ERR": true, "USER_START": true, "USER_TTY": true, "USYS_CONFIG": true,
}

// assembler coalesces records into events. Open events are kept in a map
// and in a heap ordered by (audit time, serial, node), so the oldest open
// event is always at hand for the reorder window and for eviction.
type assembler struct {
	window uint32 // reorder window in serials
	maxAge int64  // nanoseconds of audit time
	max    int    // open events cap

	open   map[eventKey]*pending
	byAge  ageHeap
	newest map[string]uint32 // newest serial per node
	latest int64             // newest audit time seen, ns since epoch
	seen   bool

	// done remembers the keys of recently emitted events (a FIFO ring of
	// up to max keys) so that late records are reported, not turned into
	// a second event with the same ID.
	done     map[eventKey]struct{}
	doneRing []eventKey
	doneNext int
}

func newAssembler(window uint32, maxAge int64, maxOpen int) *assembler {
	return &assembler{
		window: window, maxAge: maxAge, max: maxOpen,
		open:   make(map[eventKey]*pending),
		newest: make(map[string]uint32),
		done:   make(map[eventKey]struct{}),
	}
}

// add takes one record and appends to out the events it completes, in
// completion order: events pushed out of the reorder window (oldest first),
// then the record's own event if the record ends it, then events evicted
// because too many are open.
func (a *assembler) add(r *record, out []*pending) ([]*pending, error) {
	k := eventKey{node: r.node, stamp: r.stamp, serial: r.serial}
	if _, ok := a.done[k]; ok {
		if r.typ == "EOE" {
			return out, nil
		}
		return out, errLateRecord
	}
	a.observe(r)
	p := a.open[k]
	if r.typ == "EOE" {
		if p == nil {
			return out, nil // an EOE whose event is gone or had no records
		}
		p.records = append(p.records, r)
		out = a.flushOld(out)
		if p.index >= 0 {
			out = append(out, a.finish(p))
		}
		return out, nil
	}
	if p == nil {
		if singleRecord[r.typ] {
			a.remember(k)
			return append(a.flushOld(out), &pending{key: k, sec: r.sec, nsec: r.nsec, records: []*record{r}, index: -1}), nil
		}
		p = &pending{key: k, sec: r.sec, nsec: r.nsec}
		a.open[k] = p
		heap.Push(&a.byAge, p)
	}
	p.records = append(p.records, r)
	out = a.flushOld(out)
	for len(a.open) > a.max {
		out = append(out, a.finish(a.byAge[0]))
	}
	return out, nil
}

// observe advances the newest serial of r's node and the newest audit time.
func (a *assembler) observe(r *record) {
	s := uint32(r.serial)
	if n, ok := a.newest[r.node]; !ok || int32(s-n) > 0 {
		a.newest[r.node] = s
	}
	t := r.sec*1e9 + r.nsec
	if !a.seen || t > a.latest {
		a.latest, a.seen = t, true
	}
}

// flushOld completes open events that fell out of the reorder window:
// older than the newest serial of their node by more than window serials
// (modulo 2^32, as serials wrap), or older than the newest audit time by
// more than maxAge. Only the oldest open event is examined each step, so an
// event is flushed once every event before it in (time, serial) order is.
func (a *assembler) flushOld(out []*pending) []*pending {
	for len(a.byAge) > 0 {
		p := a.byAge[0]
		d := a.newest[p.key.node] - uint32(p.key.serial)
		oldSerial := d > a.window && d < 1<<31
		oldTime := a.latest-(p.sec*1e9+p.nsec) > a.maxAge
		if !oldSerial && !oldTime {
			break
		}
		out = append(out, a.finish(p))
	}
	return out
}

// finish removes p from the open set and remembers its key.
func (a *assembler) finish(p *pending) *pending {
	heap.Remove(&a.byAge, p.index)
	delete(a.open, p.key)
	a.remember(p.key)
	return p
}

func (a *assembler) remember(k eventKey) {
	if len(a.doneRing) < a.max {
		a.doneRing = append(a.doneRing, k)
	} else {
		delete(a.done, a.doneRing[a.doneNext])
		a.doneRing[a.doneNext] = k
		a.doneNext = (a.doneNext + 1) % a.max
	}
	a.done[k] = struct{}{}
}

// drain completes every open event, ordered by (audit time, serial, node).
func (a *assembler) drain(out []*pending) []*pending {
	rest := make([]*pending, len(a.byAge))
	copy(rest, a.byAge)
	sort.Slice(rest, func(i, j int) bool { return older(rest[i], rest[j]) })
	for _, p := range rest {
		out = append(out, a.finish(p))
	}
	return out
}

// older orders events by audit time, then serial (modulo 2^32), then node.
func older(x, y *pending) bool {
	if x.sec != y.sec {
		return x.sec < y.sec
	}
	if x.nsec != y.nsec {
		return x.nsec < y.nsec
	}
	if x.key.serial != y.key.serial {
		return int32(uint32(x.key.serial)-uint32(y.key.serial)) < 0
	}
	if x.key.node != y.key.node {
		return x.key.node < y.key.node
	}
	return x.key.stamp < y.key.stamp
}

// ageHeap is a min-heap of open events by older.
type ageHeap []*pending

func (h ageHeap) Len() int           { return len(h) }
func (h ageHeap) Less(i, j int) bool { return older(h[i], h[j]) }
func (h ageHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *ageHeap) Push(x any) {
	p := x.(*pending)
	p.index = len(*h)
	*h = append(*h, p)
}
func (h *ageHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	p.index = -1
	*h = old[:len(old)-1]
	return p
}
