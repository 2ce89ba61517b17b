package detect

import (
	"slices"
	"time"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/rules"
)

// Alert is what a rule match produces: one per match, or one per
// suppression period and key when the rule suppresses.
type Alert struct {
	// AlertID is ingest.StableID(rule id, group key, first event's ID).
	AlertID  string `json:"alert_id"`
	RuleID   string `json:"rule_id"`
	Title    string `json:"title"`
	Severity string `json:"severity"`
	// Summary is the rule's summary rendered from the first event.
	Summary string `json:"summary"`
	// GroupKey is "path=value" for each group_by path, joined by commas.
	GroupKey  string    `json:"group_key"`
	FirstTime time.Time `json:"first_time"`
	LastTime  time.Time `json:"last_time"`
	// Count is the number of matching events.
	Count int `json:"count"`
	// EventIDs are the IDs of the first matching events, at most the
	// correlator's Config.MaxEventIDs of them (package correlate).
	EventIDs    []string `json:"event_ids"`
	Tags        []string `json:"tags"`
	LogType     string   `json:"log_type"`
	RuleVersion int      `json:"rule_version"`
	// Mode is rules.ModeStaging for an alert of a staging rule, which is
	// stored but not notified, and empty for an enabled rule's alert (so
	// the JSON of ordinary alerts is unchanged).
	Mode string `json:"mode,omitempty"`
	// Runbook is the rule's runbook, for the people the alert reaches;
	// empty when the rule has none.
	Runbook string `json:"runbook,omitempty"`
}

// Staging reports whether the alert comes from a rule in mode: staging:
// it is stored and shown, never notified.
func (a *Alert) Staging() bool { return a.Mode == rules.ModeStaging }

// StoredMode is the mode stores record for the alert: its rule's mode,
// rules.ModeEnabled for an alert with none.
func (a *Alert) StoredMode() string {
	if a.Mode == "" {
		return rules.ModeEnabled
	}
	return a.Mode
}

// AlertMode is the Alert.Mode of r's alerts: rules.ModeStaging for a
// staging rule, empty otherwise.
func AlertMode(r *rules.Rule) string {
	if r.Mode == rules.ModeStaging {
		return rules.ModeStaging
	}
	return ""
}

// newAlert opens an alert for a match of r on ev.
func newAlert(r *rules.Rule, ev *ingest.Event) *Alert {
	group := r.GroupKey(ev.Fields)
	t := ev.Time.UTC()
	return &Alert{
		AlertID:     ingest.StableID(r.ID, group, ev.ID),
		RuleID:      r.ID,
		Title:       r.Title,
		Severity:    r.Severity,
		Summary:     r.RenderSummary(ev.Fields),
		GroupKey:    group,
		FirstTime:   t,
		LastTime:    t,
		Count:       1,
		EventIDs:    []string{ev.ID},
		Tags:        slices.Clone(r.Tags),
		LogType:     ev.Type,
		RuleVersion: r.Version,
		Mode:        AlertMode(r),
		Runbook:     r.Runbook,
	}
}

// clone returns a copy that later updates of a do not change.
func (a *Alert) clone() *Alert {
	c := *a
	c.EventIDs = slices.Clone(a.EventIDs)
	return &c
}
