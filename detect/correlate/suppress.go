package correlate

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"

	"github.com/vigilsec/vigil/detect"
)

// typeSuppress is the state type recorded in snapshots for the rules with
// a suppress block (single-event rules, which have no correlation type).
const typeSuppress = "suppress"

// suppKey identifies a suppression period: a rule and a suppress key.
type suppKey struct {
	rule string
	key  string
}

// period is the open suppression period of one rule and key: the alert
// that opened it and folds the later matches in.
type period struct {
	rc       *ruleCorr
	key      suppKey
	alert    *detect.Alert
	deadline int64 // first match's event time + suppress.for, unix ns
	index    int   // in the queue
}

// suppressor holds the open suppression periods of every suppressed rule
// of a correlator, with one cap over all of them (Config.MaxOpen).
type suppressor struct {
	open  map[suppKey]*period
	queue periodQueue // by deadline
}

// suppressState is the state interface of a suppressed rule; the periods
// themselves live in the correlator's suppressor.
type suppressState struct {
	rc   *ruleCorr
	open int // the rule's periods in the suppressor
}

// suppress folds a signal of a suppressed rule in, at once, in arrival
// order, as the matcher did when it held the periods: a match within the
// open period of its key counts into that alert; a match at or after the
// period's end closes it and opens a new one, as does a match of a key
// with no open period. Lateness does not apply: a match never comes too
// late to alert.
func (c *Correlator) suppress(rc *ruleCorr, s *detect.Signal, t int64) {
	k := suppKey{rule: rc.rule.ID, key: s.GroupKey}
	if p := c.supp.open[k]; p != nil {
		if t < p.deadline {
			// An event delivered twice (a redelivery after a crash) counts
			// once, exactly while the alert lists all its event IDs.
			if !slices.Contains(p.alert.EventIDs, s.EventID) {
				rc.addEvidence(p.alert, s)
				if t < p.alert.FirstTime.UnixNano() {
					p.alert.FirstTime = s.Time.UTC()
				}
			}
			return
		}
		c.closePeriod(p)
	}
	if len(c.supp.open) >= c.cfg.maxOpen() {
		p := c.supp.queue[0]
		c.closePeriod(p)
		p.rc.evicted++
	}
	// The alert's group key is the rule's group_by, when it differs from
	// the suppress key.
	sig := *s
	if s.AlertKey != "" {
		sig.GroupKey = s.AlertKey
	}
	id := c.ids.ref(s.EventID)
	a := rc.newAlert(&sig, []evRef{{t: t, id: id}}, 1)
	c.ids.release(id)
	c.openPeriod(&period{rc: rc, key: k, alert: a, deadline: t + int64(rc.rule.Suppress.For)}, true)
}

// openPeriod adds a period; fire says whether it is a new alert to emit
// (false when a snapshot is loaded).
func (c *Correlator) openPeriod(p *period, fire bool) {
	c.supp.open[p.key] = p
	heap.Push(&c.supp.queue, p)
	p.rc.st.(*suppressState).open++
	if fire {
		p.rc.fire(p.alert)
	}
}

// closePeriod ends a period and emits its alert in its final state.
func (c *Correlator) closePeriod(p *period) {
	heap.Remove(&c.supp.queue, p.index)
	delete(c.supp.open, p.key)
	p.rc.st.(*suppressState).open--
	p.rc.close(p.alert)
}

// closePeriods closes the periods whose end is at or before now.
func (c *Correlator) closePeriods(now int64) {
	for len(c.supp.queue) > 0 && c.supp.queue[0].deadline <= now {
		c.closePeriod(c.supp.queue[0])
	}
}

// The state interface: signals of suppressed rules do not wait for the
// watermark (Correlator.Add folds them in at once) and their periods close
// by the newest event time, not the watermark (Correlator.Advance), so
// add, expire and flush have nothing to do.

func (s *suppressState) add(*detect.Signal, int64) {}
func (s *suppressState) expire(int64)              {}
func (s *suppressState) flush()                    {}
func (s *suppressState) size() int                 { return s.open }

func (s *suppressState) save(rs *ruleSnap) {
	for _, p := range s.rc.c.supp.open {
		if p.rc == s.rc {
			rs.Periods = append(rs.Periods, periodSnap{Key: p.key.key, Deadline: p.deadline, Alert: *p.alert})
		}
	}
	slices.SortFunc(rs.Periods, func(a, b periodSnap) int {
		return cmp.Or(cmp.Compare(a.Deadline, b.Deadline), cmp.Compare(a.Alert.AlertID, b.Alert.AlertID))
	})
}

func (s *suppressState) load(rs *ruleSnap) error {
	for _, x := range rs.Periods {
		if x.Alert.AlertID == "" || x.Alert.Count < 1 {
			return fmt.Errorf("malformed suppression period of key %q", x.Key)
		}
		a := x.Alert
		a.EventIDs = slices.Clone(x.Alert.EventIDs)
		s.rc.c.openPeriod(&period{rc: s.rc, key: suppKey{rule: s.rc.rule.ID, key: x.Key}, alert: &a, deadline: x.Deadline}, false)
	}
	return nil
}

// periodSnap is an open suppression period in a snapshot.
type periodSnap struct {
	Key      string
	Deadline int64
	Alert    detect.Alert
}

// periodQueue is a min-heap of open periods by deadline, ties broken by
// alert ID (the order the matcher closed them in).
type periodQueue []*period

func (q periodQueue) Len() int { return len(q) }
func (q periodQueue) Less(i, j int) bool {
	if q[i].deadline != q[j].deadline {
		return q[i].deadline < q[j].deadline
	}
	return q[i].alert.AlertID < q[j].alert.AlertID
}
func (q periodQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}

func (q *periodQueue) Push(x any) {
	p := x.(*period)
	p.index = len(*q)
	*q = append(*q, p)
}

func (q *periodQueue) Pop() any {
	old := *q
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return p
}
