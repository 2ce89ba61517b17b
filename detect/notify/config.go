package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"regexp"
	"slices"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vigilsec/vigil/rules"
)

// Destination types.
const (
	TypeWebhook      = "webhook"
	TypeSlack        = "slack"
	TypePagerDuty    = "pagerduty"
	TypeAlertmanager = "alertmanager"
)

// Retry defaults.
const (
	DefaultMaxAttempts = 8
	DefaultMaxAge      = time.Hour
	DefaultInitial     = time.Second
	DefaultMaxBackoff  = 5 * time.Minute
)

// DefaultQueue is the default of Config.Queue.
const DefaultQueue = 100

// Config configures a Notifier: routes, destinations, retries and the
// outbound policy (decoded from YAML, see README.md), plus what the
// program wires in.
type Config struct {
	// Destinations are the receivers routes send to.
	Destinations []DestinationConfig `yaml:"destinations"`
	// Routes are tried in order; see Route.
	Routes []Route `yaml:"routes"`
	// Outbound is the outbound safety policy.
	Outbound Outbound `yaml:"outbound"`
	// Retry bounds the retries of a failed delivery.
	Retry Retry `yaml:"retry"`
	// Templates replace the summary of notifications per rule; the first
	// template naming an alert's rule is used. Default: the rule's own
	// summary, rendered from the event fields by the rule engine.
	Templates []Template `yaml:"templates"`

	// Extra are destinations built by the program (e.g. a terminal
	// printer); routes name them like configured ones.
	Extra []Destination `yaml:"-"`
	// Log is the delivery state. Default: a MemoryLog, which is not
	// durable — set a FileLog or a store for exactly-once across restarts.
	Log DeliveryLog `yaml:"-"`
	// DeadLetters receives what could not be delivered. Default: none (the
	// dead-letter row in Log is the record).
	DeadLetters DeadLetterSink `yaml:"-"`
	// Logger receives delivery failures (never response bodies or
	// secrets). Default: discard.
	Logger *slog.Logger `yaml:"-"`
	// Now is the clock. Default time.Now.
	Now func() time.Time `yaml:"-"`
	// Sleep waits d or until ctx ends, returning ctx.Err() then. Default:
	// a timer.
	Sleep func(ctx context.Context, d time.Duration) error `yaml:"-"`
	// Jitter returns a number in [0, 1) spreading retry delays. Default:
	// math/rand/v2.
	Jitter func() float64 `yaml:"-"`
	// Getenv reads the environment variables that hold secrets. Default
	// os.Getenv.
	Getenv func(string) string `yaml:"-"`
	// ShutdownTimeout bounds how long Run, once stopped, keeps sending
	// what it had read (held groups and queued notifications). Default 10s.
	ShutdownTimeout time.Duration `yaml:"-"`
	// Queue is how many notifications may wait per destination in Run
	// before Run stops reading. Default DefaultQueue.
	Queue int `yaml:"-"`
}

// DestinationConfig configures one destination. Secrets are never read
// from the file: fields ending in _env name environment variables.
type DestinationConfig struct {
	// Name identifies the destination in routes and alert_deliveries.
	Name string `yaml:"name"`
	// Type is webhook, slack, pagerduty or alertmanager.
	Type string `yaml:"type"`
	// URL is the receiver: the webhook URL; the Alertmanager base URL
	// (/api/v2/alerts is appended); the PagerDuty events URL (default
	// DefaultPagerDutyURL). Slack takes URLEnv instead.
	URL string `yaml:"url"`
	// URLEnv names the variable holding the URL when the URL is itself a
	// secret (a Slack incoming webhook). Used when URL is empty.
	URLEnv string `yaml:"url_env"`
	// SecretEnv names one or two variables holding webhook secrets
	// (whsec_<base64>); with two, each message carries both signatures,
	// so a receiver may switch secrets at any time during a rotation.
	SecretEnv []string `yaml:"secret_env"`
	// RoutingKeyEnv names the variable holding the PagerDuty integration
	// (routing) key.
	RoutingKeyEnv string `yaml:"routing_key_env"`
	// Link is a text/template rendered with the alert (fields of
	// detect.Alert: {{ .AlertID }}, {{ .RuleID }}, ...), e.g. a link to
	// the alert in an analyst UI. Default: none.
	Link string `yaml:"link"`
	// Rate limits the notifications sent to this destination. Default:
	// unlimited.
	Rate Rate `yaml:"rate"`
}

// Rate is a token-bucket rate limit. Notifications beyond it wait (they
// are never dropped).
type Rate struct {
	// PerMinute is the sustained rate; 0 means unlimited.
	PerMinute float64 `yaml:"per_minute"`
	// Burst is how many may go at once. Default 1.
	Burst int `yaml:"burst"`
}

// Retry bounds the retries of a failed delivery. Retryable failures are
// 5xx, 429 and 408 responses and network errors; a Retry-After header is
// honoured. Other failures dead-letter at once.
type Retry struct {
	// MaxAttempts is the number of attempts, the first included, counting
	// those recorded in the DeliveryLog since the last dead letter (before
	// a restart, or by another replica). Default DefaultMaxAttempts.
	MaxAttempts int `yaml:"max_attempts"`
	// MaxAge is how long after the first attempt retries may go on.
	// Default DefaultMaxAge.
	MaxAge time.Duration `yaml:"max_age"`
	// Initial is the backoff before the second attempt; it doubles for
	// each further one, with jitter (half fixed, half random). Default
	// DefaultInitial.
	Initial time.Duration `yaml:"initial"`
	// Max caps one backoff. Default DefaultMaxBackoff.
	Max time.Duration `yaml:"max"`
}

// Route sends the alerts it matches to its destinations.
//
// Routes are tried in order: an alert goes to the first route that
// matches it, and on to later ones only while the matched routes have
// continue: true. The default route takes alerts no other route matched.
// An alert reaches a destination at most once however many routes name it.
type Route struct {
	// Name identifies the route (vigil notify test --route NAME).
	Name string `yaml:"name"`
	// Match selects alerts; an empty match selects every alert.
	Match Match `yaml:"match"`
	// Default marks the route for alerts no other route matched; at most
	// one route is the default, and its Match must be empty.
	Default bool `yaml:"default"`
	// Continue lets alerts matched here go on to later routes.
	Continue bool `yaml:"continue"`
	// Destinations are names of destinations.
	Destinations []string `yaml:"destinations"`
	// GroupWindow folds alerts of the same rule and group key arriving
	// within the window after the first into one notification with a
	// count. Default 0: every alert is sent on its own, at once.
	GroupWindow time.Duration `yaml:"group_window"`
}

// Template is the notification summary for the rules it names.
type Template struct {
	// Rules are rule IDs or path.Match globs.
	Rules []string `yaml:"rules"`
	// Summary is a text/template rendered with the Notification:
	// {{ .Alert.Title }}, {{ .Alert.Summary }} (the rule's summary),
	// {{ .Alert.GroupKey }}, {{ .Count }}, {{ len .AlertIDs }},
	// {{ .Account }}, {{ .Runbook }}, {{ .Route }}. The result is cleaned
	// like every alert text.
	Summary string `yaml:"summary"`
}

// Match selects alerts. Every non-empty criterion must hold.
type Match struct {
	// Severity lists severities, any of which matches.
	Severity []string `yaml:"severity"`
	// MinSeverity matches this severity and those above it.
	MinSeverity string `yaml:"min_severity"`
	// RuleIDs are rule IDs or path.Match globs ("aws-iam-*").
	RuleIDs []string `yaml:"rule_ids"`
	// Tags are tags or globs ("attack.t1078*"); one alert tag matching one
	// of them is enough.
	Tags []string `yaml:"tags"`
	// LogTypes lists log types (cloudtrail, vpcflow, k8saudit, auditd).
	LogTypes []string `yaml:"log_types"`
}

// Load decodes a notify configuration file strictly (unknown keys are
// errors).
func Load(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return Parse(raw, path)
}

// Parse decodes a notify configuration from YAML; name is used in errors.
func Parse(raw []byte, name string) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// Validate checks what can be checked without the environment: names,
// types, references, matches and durations. New checks the rest.
func (c *Config) Validate() error {
	var errs []error
	dests := map[string]bool{}
	for i, d := range c.Destinations {
		where := fmt.Sprintf("destinations[%d]", i)
		if !nameRE.MatchString(d.Name) {
			errs = append(errs, fmt.Errorf("%s: name %q must match %s", where, d.Name, nameRE))
		} else if dests[d.Name] {
			errs = append(errs, fmt.Errorf("%s: duplicate name %q", where, d.Name))
		}
		dests[d.Name] = true
		switch d.Type {
		case TypeWebhook:
			if len(d.SecretEnv) == 0 || len(d.SecretEnv) > 2 {
				errs = append(errs, fmt.Errorf("%s (%s): webhook needs one or two secret_env variables", where, d.Name))
			}
		case TypeSlack, TypeAlertmanager, TypePagerDuty:
		default:
			errs = append(errs, fmt.Errorf("%s (%s): type %q must be webhook, slack, pagerduty or alertmanager", where, d.Name, d.Type))
		}
		if d.Type == TypePagerDuty && d.RoutingKeyEnv == "" {
			errs = append(errs, fmt.Errorf("%s (%s): pagerduty needs routing_key_env", where, d.Name))
		}
		if d.Type != TypePagerDuty && d.URL == "" && d.URLEnv == "" {
			errs = append(errs, fmt.Errorf("%s (%s): url or url_env is required", where, d.Name))
		}
		if d.Rate.PerMinute < 0 || d.Rate.Burst < 0 {
			errs = append(errs, fmt.Errorf("%s (%s): rate must not be negative", where, d.Name))
		}
	}
	for _, x := range c.Extra {
		if dests[x.Name()] {
			errs = append(errs, fmt.Errorf("destination %q defined twice", x.Name()))
		}
		dests[x.Name()] = true
	}
	routes := map[string]bool{}
	defaults := 0
	for i, r := range c.Routes {
		where := fmt.Sprintf("routes[%d]", i)
		if !nameRE.MatchString(r.Name) {
			errs = append(errs, fmt.Errorf("%s: name %q must match %s", where, r.Name, nameRE))
		} else if routes[r.Name] {
			errs = append(errs, fmt.Errorf("%s: duplicate name %q", where, r.Name))
		}
		routes[r.Name] = true
		if len(r.Destinations) == 0 {
			errs = append(errs, fmt.Errorf("%s (%s): no destinations", where, r.Name))
		}
		for _, d := range r.Destinations {
			if !dests[d] {
				errs = append(errs, fmt.Errorf("%s (%s): unknown destination %q", where, r.Name, d))
			}
		}
		if r.GroupWindow < 0 {
			errs = append(errs, fmt.Errorf("%s (%s): group_window must not be negative", where, r.Name))
		}
		if r.Default {
			defaults++
			if !r.Match.empty() {
				errs = append(errs, fmt.Errorf("%s (%s): the default route takes no match", where, r.Name))
			}
		}
		if err := r.Match.validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", where, r.Name, err))
		}
	}
	for i, tp := range c.Templates {
		if len(tp.Rules) == 0 {
			errs = append(errs, fmt.Errorf("templates[%d]: no rules", i))
		}
		m := Match{RuleIDs: tp.Rules}
		if err := m.validate(); err != nil {
			errs = append(errs, fmt.Errorf("templates[%d]: %w", i, err))
		}
		if _, err := parseSummary(i, tp.Summary); err != nil {
			errs = append(errs, fmt.Errorf("templates[%d]: %w", i, err))
		}
	}
	if defaults > 1 {
		errs = append(errs, errors.New("more than one default route"))
	}
	if c.Retry.MaxAttempts < 0 || c.Retry.MaxAge < 0 || c.Retry.Initial < 0 || c.Retry.Max < 0 {
		errs = append(errs, errors.New("retry: values must not be negative"))
	}
	if _, err := newPolicy(c.Outbound); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (m *Match) empty() bool {
	return len(m.Severity) == 0 && m.MinSeverity == "" && len(m.RuleIDs) == 0 && len(m.Tags) == 0 && len(m.LogTypes) == 0
}

func (m *Match) validate() error {
	for _, s := range append(slices.Clone(m.Severity), m.MinSeverity) {
		if s != "" && !slices.Contains(rules.Severities, s) {
			return fmt.Errorf("severity %q is not one of %v", s, rules.Severities)
		}
	}
	for _, g := range append(slices.Clone(m.RuleIDs), m.Tags...) {
		if _, err := path.Match(g, ""); err != nil {
			return fmt.Errorf("bad glob %q", g)
		}
	}
	return nil
}

// matches reports whether the alert fields satisfy m.
func (m *Match) matches(severity, ruleID, logType string, tags []string) bool {
	if len(m.Severity) > 0 && !slices.Contains(m.Severity, severity) {
		return false
	}
	if m.MinSeverity != "" && slices.Index(rules.Severities, severity) < slices.Index(rules.Severities, m.MinSeverity) {
		return false
	}
	if len(m.RuleIDs) > 0 && !anyGlob(m.RuleIDs, ruleID) {
		return false
	}
	if len(m.LogTypes) > 0 && !slices.Contains(m.LogTypes, logType) {
		return false
	}
	if len(m.Tags) > 0 && !slices.ContainsFunc(tags, func(t string) bool { return anyGlob(m.Tags, t) }) {
		return false
	}
	return true
}

func anyGlob(globs []string, s string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, s); ok {
			return true
		}
	}
	return false
}
