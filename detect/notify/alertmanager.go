package notify

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"time"
)

// Alertmanager posts alerts to a Prometheus Alertmanager (API v2, POST
// /api/v2/alerts), for teams that already route pages with it.
//
// Labels: alertname and rule_id (the rule ID), severity, log_type,
// alert_id, tags (comma-separated, in the rule's order) and
// account (when the group key names one). The alert_id label makes each
// vigil alert its own Alertmanager alert, so posting it twice updates it
// instead of duplicating it. Annotations: title, summary, runbook, link.
type Alertmanager struct {
	name string
	url  *url.URL // base URL + /api/v2/alerts
	link *linkTemplate
	c    *client
	now  func() time.Time
	// resolve is how long after the last event Alertmanager should keep
	// the alert firing (endsAt); default 1h.
	resolve time.Duration
}

var _ Destination = (*Alertmanager)(nil)

// Name returns the destination's name.
func (m *Alertmanager) Name() string { return m.name }

// amAlert is one postableAlert of the Alertmanager API v2.
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// alerts builds the request body.
func (m *Alertmanager) alerts(n *Notification) ([]amAlert, error) {
	a := n.Alert
	link, err := m.link.render(a)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{
		"alertname": a.RuleID,
		"rule_id":   a.RuleID,
		"severity":  a.Severity,
		"alert_id":  a.AlertID,
		"source":    "vigil",
	}
	if a.LogType != "" {
		labels["log_type"] = a.LogType
	}
	if len(a.Tags) > 0 {
		labels["tags"] = strings.Join(a.Tags, ",")
	}
	if n.Account != "" {
		labels["account"] = n.Account
	}
	ann := map[string]string{"title": a.Title, "summary": a.Summary}
	if n.Runbook != "" {
		ann["runbook"] = n.Runbook
	}
	if link != "" {
		ann["link"] = link
	}
	if a.GroupKey != "" {
		ann["group_key"] = a.GroupKey
	}
	// endsAt counts from now, not from the event: replayed or late alerts
	// must still show as firing.
	starts, ends := a.FirstTime, m.now().Add(m.resolve)
	if starts.IsZero() || starts.After(ends) {
		starts = m.now()
	}
	al := amAlert{Labels: labels, Annotations: ann, StartsAt: starts.UTC(), EndsAt: ends.UTC()}
	if strings.HasPrefix(link, "https://") || strings.HasPrefix(link, "http://") {
		al.GeneratorURL = link
	}
	return []amAlert{al}, nil
}

// Send posts the alert once.
func (m *Alertmanager) Send(ctx context.Context, n *Notification) error {
	body, err := m.alerts(n)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	return m.c.post(ctx, m.url, nil, raw, m.now())
}
