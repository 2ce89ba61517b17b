// Package notify routes alerts to on-call and delivers them: generic
// webhooks signed the Standard Webhooks way, Slack incoming webhooks
// (Block Kit), PagerDuty Events API v2 and Prometheus Alertmanager (API
// v2).
//
// A Config names destinations and routes. Routes match alerts on
// severity, rule ID, tags and log type (a default route takes the rest),
// may fold alerts of the same rule and group key within a window into one
// notification with a count, and each destination may be rate-limited.
//
// Delivery is retried with exponential backoff and jitter on 5xx, 429
// (honouring Retry-After), 408 and network errors, bounded by attempts and
// age; then the notification is dead-lettered with the reason. Every
// attempt is recorded in a DeliveryLog (the alert_deliveries table), and
// an alert is never sent again to a destination that accepted it, across
// restarts when the log is durable (see DeliveryLog for why the state
// lives there).
//
// Outbound requests follow a safety policy (Outbound): https only, no
// redirects, no proxy, a request timeout, and only public addresses,
// checked after resolution and pinned for the connection, unless allowed
// in the configuration. Response bodies are drained and discarded, never
// logged. Alert text comes from logs an attacker may write: every text
// field is stripped of ANSI escape sequences, control and bidirectional
// characters before it is sent, and escaped for Slack.
//
// README.md documents the configuration of each destination and how a
// webhook receiver verifies signatures.
package notify
