package notify

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/vigilsec/vigil/detect"
)

// Notification is what a destination sends: one alert, or several alerts
// of the same rule and group key folded together by a route's grouping
// window. Text fields are already cleaned (see the package doc).
type Notification struct {
	// Alert is the first alert of the group, with cleaned text; its
	// AlertID identifies the notification (webhook-id, dedup_key).
	Alert *detect.Alert
	// AlertIDs are the IDs of every alert folded in, first one first.
	AlertIDs []string
	// Count is the number of matching events over all the alerts.
	Count int
	// LastTime is the latest event time over all the alerts.
	LastTime time.Time
	// Route is the name of the route that sent it.
	Route string
	// Runbook is the rule's runbook, when known.
	Runbook string
	// Account is the cloud account the alert is about, when its group key
	// names one (see accountKeys).
	Account string
}

// Destination sends notifications to one receiver. Send makes one
// attempt; the Notifier retries. A failed attempt returns a *SendError
// saying whether a retry may succeed; any other error is final.
type Destination interface {
	Name() string
	Send(ctx context.Context, n *Notification) error
}

// accountKeys are group-by paths that hold a cloud account ID.
var accountKeys = []string{"recipientAccountId", "userIdentity.accountId", "account_id", "account", "awsAccountId"}

// accountOf extracts an account from a group key "path=value,path=value".
func accountOf(groupKey string) string {
	for part := range strings.SplitSeq(groupKey, ",") {
		k, v, ok := strings.Cut(part, "=")
		if ok && slices.Contains(accountKeys, k) {
			return v
		}
	}
	return ""
}

// cleanAlert returns a copy of a with every text field cleaned.
func cleanAlert(a *detect.Alert) *detect.Alert {
	c := *a
	c.AlertID = clean(a.AlertID)
	c.RuleID = clean(a.RuleID)
	c.Title = clean(a.Title)
	c.Severity = clean(a.Severity)
	c.Summary = clean(a.Summary)
	c.GroupKey = clean(a.GroupKey)
	c.LogType = clean(a.LogType)
	c.Runbook = clean(a.Runbook)
	c.EventIDs = make([]string, len(a.EventIDs))
	for i, id := range a.EventIDs {
		c.EventIDs[i] = clean(id)
	}
	c.Tags = make([]string, len(a.Tags))
	for i, t := range a.Tags {
		c.Tags[i] = clean(t)
	}
	return &c
}

// sampleAlert is the alert `vigil notify test` sends, and what templates
// are checked against at load.
func sampleAlert(id string) *detect.Alert {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return &detect.Alert{
		AlertID:     id,
		RuleID:      "vigil-notify-test",
		Title:       "vigil notification test",
		Severity:    "info",
		Summary:     "A test notification sent by `vigil notify test`; no action needed.",
		GroupKey:    "recipientAccountId=111122223333",
		FirstTime:   t,
		LastTime:    t,
		Count:       1,
		EventIDs:    []string{"sample-event"},
		Tags:        []string{"vigil.test"},
		LogType:     "cloudtrail",
		RuleVersion: 1,
	}
}
