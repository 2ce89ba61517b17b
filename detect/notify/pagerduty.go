package notify

import (
	"context"
	"encoding/json"
	"net/url"
	"time"
)

// DefaultPagerDutyURL is the PagerDuty Events API v2 endpoint.
const DefaultPagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// PagerDuty triggers incidents through the PagerDuty Events API v2. The
// dedup_key is the alert ID, so a repeated trigger for the same alert
// joins the open incident instead of paging again.
type PagerDuty struct {
	name       string
	url        *url.URL
	routingKey Secret
	link       *linkTemplate
	c          *client
	now        func() time.Time
}

var _ Destination = (*PagerDuty)(nil)

// Name returns the destination's name.
func (p *PagerDuty) Name() string { return p.name }

// pdSeverity maps vigil severities onto PagerDuty's four.
func pdSeverity(s string) string {
	switch s {
	case "critical":
		return "critical"
	case "high":
		return "error"
	case "medium":
		return "warning"
	default:
		return "info"
	}
}

type pdLink struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

type pdPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

type pdEvent struct {
	RoutingKey  string    `json:"routing_key"`
	EventAction string    `json:"event_action"`
	DedupKey    string    `json:"dedup_key"`
	Payload     pdPayload `json:"payload"`
	Client      string    `json:"client,omitempty"`
	Links       []pdLink  `json:"links,omitempty"`
}

// event builds the trigger event.
func (p *PagerDuty) event(n *Notification) (pdEvent, error) {
	a := n.Alert
	link, err := p.link.render(a)
	if err != nil {
		return pdEvent{}, err
	}
	summary := a.Title
	if a.Summary != "" {
		summary += ": " + a.Summary
	}
	if r := []rune(summary); len(r) > 1024 { // the API's limit
		summary = string(r[:1023]) + "…"
	}
	source := "vigil"
	if n.Account != "" {
		source = "aws:" + n.Account
	}
	details := map[string]any{
		"alert_id":     a.AlertID,
		"rule_id":      a.RuleID,
		"rule_version": a.RuleVersion,
		"severity":     a.Severity,
		"group_key":    a.GroupKey,
		"count":        n.Count,
		"alerts":       len(n.AlertIDs),
		"first_time":   a.FirstTime.UTC().Format(time.RFC3339Nano),
		"last_time":    n.LastTime.UTC().Format(time.RFC3339Nano),
		"event_ids":    a.EventIDs,
		"tags":         a.Tags,
		"log_type":     a.LogType,
		"route":        n.Route,
	}
	if n.Runbook != "" {
		details["runbook"] = n.Runbook
	}
	if n.Account != "" {
		details["account"] = n.Account
	}
	e := pdEvent{
		RoutingKey:  string(p.routingKey.key),
		EventAction: "trigger",
		DedupKey:    a.AlertID,
		Client:      "vigil",
		Payload: pdPayload{
			Summary:       summary,
			Source:        source,
			Severity:      pdSeverity(a.Severity),
			Timestamp:     a.FirstTime.UTC().Format(time.RFC3339Nano),
			Component:     a.RuleID,
			Group:         a.GroupKey,
			Class:         a.LogType,
			CustomDetails: details,
		},
	}
	if link != "" {
		e.Links = []pdLink{{Href: link, Text: "vigil alert"}}
	}
	return e, nil
}

// Send triggers the incident once.
func (p *PagerDuty) Send(ctx context.Context, n *Notification) error {
	e, err := p.event(n)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return p.c.post(ctx, p.url, nil, raw, p.now())
}
