package detect

import (
	"slices"
	"time"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/rules"
)

// Signal is a match of a correlation rule (of one of its steps, for
// sequence and absence), keyed by the rule's group key, or a match of a
// suppressed rule (a single-event rule with a suppress block), keyed by its
// suppress key: what the matcher hands to a correlator, which holds the
// windows and the suppression periods. An event yields one signal per
// group key (a key expression that returns a list yields several). A
// Signal with an empty RuleID is a time mark: it tells a correlator that
// reads only signals that the input has reached Time (see
// correlate.Correlator.Add).
type Signal struct {
	RuleID string `json:"rule_id"`
	// Step is the index of the matched step; 0 for rules without steps.
	Step int `json:"step"`
	// GroupKey is "name=value" for each key part, joined by commas: the
	// group key of a correlation rule, the suppress key of a suppressed
	// rule.
	GroupKey string `json:"group_key"`
	// AlertKey is, for a suppressed rule whose group_by differs from its
	// suppress key, the group key of the alert the match would open;
	// empty when it is GroupKey.
	AlertKey string `json:"alert_key,omitempty"`
	// Value is the value of correlate.field (distinct, first_seen).
	Value   string    `json:"value,omitempty"`
	EventID string    `json:"event_id"`
	Time    time.Time `json:"time"`
	LogType string    `json:"log_type"`
	// Summary is the rule's summary rendered from the event.
	Summary string `json:"summary"`
}

// send hands a signal to Config.Signal, or keeps it for Signals.
func (m *Matcher) send(s Signal) {
	switch {
	case m.cfg.Signal != nil:
		m.cfg.Signal(s)
	case len(m.signals) < MaxPendingSignals:
		if m.signals == nil && m.sigHint > 0 {
			m.signals = make([]Signal, 0, m.sigHint)
		}
		m.signals = append(m.signals, s)
	default:
		m.dropped.Add(1)
	}
}

// suppressed turns a match of suppressed rule r into its signal, keyed by
// the suppress key: the correlator holds the suppression periods, so that
// they survive a restart (snapshots, rebuilds by replay) like windows do.
func (m *Matcher) suppressed(r *rules.Rule, ev *ingest.Event) {
	s := Signal{RuleID: r.ID, GroupKey: r.SuppressKey(ev.Fields), EventID: ev.ID, Time: ev.Time.UTC(),
		LogType: ev.Type, Summary: r.RenderSummary(ev.Fields)}
	if g := r.GroupKey(ev.Fields); g != s.GroupKey {
		s.AlertKey = g
	}
	m.send(s)
}

// signal turns a match of correlation rule st into signals.
func (m *Matcher) signal(st *ruleState, ev *ingest.Event) {
	r := st.rule
	c := r.Correlate
	base := Signal{RuleID: r.ID, EventID: ev.ID, Time: ev.Time.UTC(), LogType: ev.Type}
	emit := func(step int, keys []string, value string) {
		if len(keys) == 0 {
			return
		}
		if base.Summary == "" {
			base.Summary = r.RenderSummary(ev.Fields)
		}
		for _, k := range keys {
			s := base
			s.Step, s.GroupKey, s.Value = step, k, value
			m.send(s)
		}
	}
	if len(c.Steps) == 0 {
		value := ""
		if c.Field != "" {
			v, ok, err := c.Value(ev.Fields)
			if err != nil {
				st.fail(err)
				return
			}
			if !ok {
				return
			}
			value = v
		}
		keys, err := r.GroupKeys(ev.Fields)
		if err != nil {
			st.fail(err)
			return
		}
		if c.Type == rules.CorrelateFirstSeen {
			keys = st.firstSeenNew(keys, value, base.Time.UnixNano(), int64(c.Refresh()))
		}
		emit(0, keys, value)
		return
	}
	for i := range c.Steps {
		s := &c.Steps[i]
		if !slices.Contains(s.LogTypes, ev.Type) {
			continue
		}
		ok, err := s.Eval(ev.Fields)
		if err == nil && ok {
			var keys []string
			keys, err = s.Keys(ev.Fields)
			emit(i, keys, "")
		}
		if err != nil {
			st.fail(err)
		}
	}
}

// MaxPendingSignals caps the signals a matcher without Config.Signal keeps
// for Signals.
const MaxPendingSignals = 1 << 16

// Signals returns the signals of correlation and suppressed rules produced by Match since
// the last call, in match order, and forgets them. It returns nil when
// Config.Signal is set.
func (m *Matcher) Signals() []Signal {
	out := m.signals
	m.signals = nil
	m.sigHint = len(out)
	return out
}

// maxSent caps the (group key, value) pairs a first_seen rule's sent set
// holds; when full it starts again, which only sends more signals.
const maxSent = 1 << 16

// firstSeenNew returns the keys whose signal for value the correlator needs:
// those whose pair was not sent within the last refresh of event time
// (rules.Correlate.Refresh). A first_seen correlator learns nothing from a
// value it saw lately (it refreshes a value's last sighting at most that
// often itself), so
// the matcher leaves those signals out, which for a busy principal is
// nearly all of them. A signal earlier than the last sent one is always
// sent, so that the correlator still sees a value's first sighting.
func (st *ruleState) firstSeenNew(keys []string, value string, t, refresh int64) []string {
	if st.sent == nil || len(st.sent) >= maxSent {
		st.sent = make(map[string]int64, min(len(st.sent), maxSent))
	}
	out := keys[:0]
	for _, k := range keys {
		pair := k + "\x00" + value
		if last, ok := st.sent[pair]; ok && t >= last && t-last < refresh {
			continue
		}
		st.sent[pair] = t
		out = append(out, k)
	}
	return out
}
