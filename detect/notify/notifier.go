package notify

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/vigilsec/vigil/detect"
)

// DeadLetter is an alert that could not be delivered to a destination.
type DeadLetter struct {
	// Alert is the notification's first alert.
	Alert *detect.Alert `json:"alert"`
	// AlertIDs are all the alerts the notification carried.
	AlertIDs    []string  `json:"alert_ids"`
	Destination string    `json:"destination"`
	Route       string    `json:"route"`
	Reason      string    `json:"reason"`
	Attempts    int       `json:"attempts"`
	Time        time.Time `json:"time"`
}

// DeadLetterSink takes dead letters, e.g. onto the vigil.deadletter topic.
// It must be durable when it returns nil.
type DeadLetterSink interface {
	DeadLetter(ctx context.Context, d DeadLetter) error
}

// Stats counts delivery outcomes since the Notifier was made.
type Stats struct {
	// Delivered counts notifications a receiver accepted.
	Delivered int64
	// Failed counts failed attempts that were retried.
	Failed int64
	// DeadLettered counts notifications given up on.
	DeadLettered int64
	// Duplicates counts (alert, destination) pairs skipped because they
	// were delivered before.
	Duplicates int64
	// SkippedStaging counts alerts of staging rules (rules with mode:
	// staging), which are never routed nor sent; an alert reported again
	// as it grows or closes is counted each time.
	SkippedStaging int64
}

// Notifier routes alerts and delivers them to destinations.
type Notifier struct {
	c        Config
	routes   []*route
	dests    map[string]*dest
	log      DeliveryLog
	logger   *slog.Logger
	mu       sync.Mutex
	groups   map[groupID]*group
	summary  []summaryTemplate
	stats    struct{ delivered, failed, dead, dups, staging atomic.Int64 }
	sampleID func() string
}

type route struct {
	Route
	dests []*dest
}

// summaryTemplate is a compiled Template.
type summaryTemplate struct {
	rules []string
	t     *template.Template
}

// dest is a destination with its rate limit. mu serialises sends to it, so
// the delivered check and the send are one step per destination.
type dest struct {
	Destination
	mu     sync.Mutex
	bucket *bucket
}

type groupID struct{ route, rule, key string }

// group is a route's open grouping window.
type group struct {
	route    *route
	deadline time.Time
	alerts   []*detect.Alert
	tickets  []*ticket
}

// ticket follows one consumed alert until every part of its delivery is
// done; Run commits a message once its ticket is done.
type ticket struct {
	mu      sync.Mutex
	pending int
	err     error
}

func (t *ticket) add() {
	if t != nil {
		t.mu.Lock()
		t.pending++
		t.mu.Unlock()
	}
}

func (t *ticket) done(err error) {
	if t != nil {
		t.mu.Lock()
		t.pending--
		t.err = errors.Join(t.err, err)
		t.mu.Unlock()
	}
}

func (t *ticket) state() (done bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pending == 0, t.err
}

// New builds a Notifier: it validates c, reads the secrets from the
// environment and builds the destinations.
func New(c Config) (*Notifier, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}
	if c.Jitter == nil {
		c.Jitter = rand.Float64
	}
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	if c.Log == nil {
		c.Log = NewMemoryLog()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.Queue <= 0 {
		c.Queue = DefaultQueue
	}
	r := &c.Retry
	if r.MaxAttempts == 0 {
		r.MaxAttempts = DefaultMaxAttempts
	}
	if r.MaxAge == 0 {
		r.MaxAge = DefaultMaxAge
	}
	if r.Initial == 0 {
		r.Initial = DefaultInitial
	}
	if r.Max == 0 {
		r.Max = DefaultMaxBackoff
	}
	pol, err := newPolicy(c.Outbound)
	if err != nil {
		return nil, err
	}
	cl := newClient(pol)
	n := &Notifier{c: c, dests: map[string]*dest{}, log: c.Log, logger: c.Logger, groups: map[groupID]*group{},
		sampleID: randomID}
	var errs []error
	for _, dc := range c.Destinations {
		d, err := build(dc, pol, cl, c.Now, c.Getenv)
		if err != nil {
			errs = append(errs, fmt.Errorf("destination %s: %w", dc.Name, err))
			continue
		}
		n.dests[dc.Name] = &dest{Destination: d, bucket: newBucket(dc.Rate, c.Now())}
	}
	for _, x := range c.Extra {
		n.dests[x.Name()] = &dest{Destination: x}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i, tp := range c.Templates {
		t, err := parseSummary(i, tp.Summary)
		if err != nil {
			return nil, err
		}
		n.summary = append(n.summary, summaryTemplate{rules: tp.Rules, t: t})
	}
	for _, rc := range c.Routes {
		rt := &route{Route: rc}
		for _, name := range rc.Destinations {
			rt.dests = append(rt.dests, n.dests[name])
		}
		n.routes = append(n.routes, rt)
	}
	return n, nil
}

// build makes one configured destination.
func build(dc DestinationConfig, pol *policy, cl *client, now func() time.Time, getenv func(string) string) (Destination, error) {
	link, err := parseLink(dc.Name, dc.Link)
	if err != nil {
		return nil, err
	}
	raw := dc.URL
	if raw == "" && dc.URLEnv != "" {
		if raw = getenv(dc.URLEnv); raw == "" {
			return nil, fmt.Errorf("%s is not set", dc.URLEnv)
		}
	}
	if raw == "" && dc.Type == TypePagerDuty {
		raw = DefaultPagerDutyURL
	}
	u, err := pol.checkURL(raw)
	if err != nil {
		if dc.URL == "" { // the URL is a secret: do not echo it
			return nil, errors.New("the URL is refused by the outbound policy (https required, public address)")
		}
		return nil, err
	}
	switch dc.Type {
	case TypeWebhook:
		var secrets []Secret
		for _, env := range dc.SecretEnv {
			v := getenv(env)
			if v == "" {
				return nil, fmt.Errorf("%s is not set (want whsec_<base64 key>)", env)
			}
			s, err := ParseSecret(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", env, err)
			}
			secrets = append(secrets, s)
		}
		return &Webhook{name: dc.Name, url: u, secrets: secrets, link: link, c: cl, now: now}, nil
	case TypeSlack:
		return &Slack{name: dc.Name, url: u, link: link, c: cl, now: now}, nil
	case TypePagerDuty:
		key := getenv(dc.RoutingKeyEnv)
		if key == "" {
			return nil, fmt.Errorf("%s is not set", dc.RoutingKeyEnv)
		}
		return &PagerDuty{name: dc.Name, url: u, routingKey: Secret{key: []byte(key)}, link: link, c: cl, now: now}, nil
	case TypeAlertmanager:
		au := *u
		au.Path = strings.TrimSuffix(au.Path, "/") + "/api/v2/alerts"
		return &Alertmanager{name: dc.Name, url: &au, link: link, c: cl, now: now, resolve: time.Hour}, nil
	}
	return nil, fmt.Errorf("unknown type %q", dc.Type)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func randomID() string {
	var b [8]byte
	_, _ = crand.Read(b[:]) // crypto/rand.Read never fails
	return "vigil-test-" + hex.EncodeToString(b[:])
}

// Stats returns the outcome counters.
func (n *Notifier) Stats() Stats {
	return Stats{Delivered: n.stats.delivered.Load(), Failed: n.stats.failed.Load(),
		DeadLettered: n.stats.dead.Load(), Duplicates: n.stats.dups.Load(), SkippedStaging: n.stats.staging.Load()}
}

// match returns the routes an alert goes to.
func (n *Notifier) match(a *detect.Alert) []*route {
	var out []*route
	var def *route
	for _, r := range n.routes {
		if r.Default {
			def = r
			continue
		}
		if r.Match.matches(a.Severity, a.RuleID, a.LogType, a.Tags) {
			out = append(out, r)
			if !r.Continue {
				break
			}
		}
	}
	if len(out) == 0 && def != nil {
		out = append(out, def)
	}
	return out
}

// Deliver routes an alert and delivers it. An alert of a staging rule
// (detect.Alert.Staging) is not sent anywhere, only counted in
// Stats.SkippedStaging. Destinations of ungrouped
// routes are sent to at once, concurrently, and Deliver returns when each
// is delivered or dead-lettered; alerts for routes with a grouping window
// are held until the window ends and are sent by Run or by Flush. An alert
// already delivered to a destination is not sent there again. Deliver
// returns an error only when the delivery state could not be recorded or
// ctx ended; the alert is then to be delivered again.
func (n *Notifier) Deliver(ctx context.Context, a *detect.Alert) error {
	return n.sendJobs(ctx, n.route(a, nil))
}

// Flush sends the groups whose window has ended, or every held group when
// all is true (at shutdown). It returns when they are delivered or
// dead-lettered; an error means some must be delivered again.
func (n *Notifier) Flush(ctx context.Context, all bool) error {
	return n.sendJobs(ctx, n.takeDue(all))
}

// job is one notification for one destination, and the consumed messages
// waiting for it.
type job struct {
	d       *dest
	route   string
	alerts  []*detect.Alert
	tickets []*ticket
}

// finish resolves the job's tickets.
func (j job) finish(err error) {
	for _, t := range j.tickets {
		t.done(err)
	}
}

// route returns the jobs to do at once for a, and holds it in the groups
// of routes with a window. A staging rule's alert has no jobs: it is
// stored, never notified.
func (n *Notifier) route(a *detect.Alert, t *ticket) []job {
	if a.Staging() {
		n.stats.staging.Add(1)
		return nil
	}
	a = cleanAlert(a)
	var jobs []job
	seen := map[*dest]bool{}
	for _, r := range n.match(a) {
		if r.GroupWindow > 0 {
			n.hold(r, a, t)
			continue
		}
		for _, d := range r.dests {
			if !seen[d] {
				seen[d] = true
				t.add()
				j := job{d: d, route: r.Name, alerts: []*detect.Alert{a}}
				if t != nil {
					j.tickets = []*ticket{t}
				}
				jobs = append(jobs, j)
			}
		}
	}
	return jobs
}

// sendJobs sends jobs concurrently (jobs for one destination one after
// the other) and waits for them.
func (n *Notifier) sendJobs(ctx context.Context, jobs []job) error {
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			errs[i] = n.send(ctx, j.d, j.route, j.alerts)
			j.finish(errs[i])
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// hold adds a to its route's open group, opening one if needed. A repeat
// of an alert ID (an alert reported at open and at close) replaces the
// earlier copy. The ticket stays pending until the group is taken.
func (n *Notifier) hold(r *route, a *detect.Alert, t *ticket) {
	t.add()
	n.mu.Lock()
	defer n.mu.Unlock()
	id := groupID{r.Name, a.RuleID, a.GroupKey}
	g := n.groups[id]
	if g == nil {
		g = &group{route: r, deadline: n.c.Now().Add(r.GroupWindow)}
		n.groups[id] = g
	}
	if t != nil {
		g.tickets = append(g.tickets, t)
	}
	if i := slices.IndexFunc(g.alerts, func(b *detect.Alert) bool { return b.AlertID == a.AlertID }); i >= 0 {
		g.alerts[i] = a
		return
	}
	g.alerts = append(g.alerts, a)
}

// nextDeadline returns the earliest end of an open grouping window.
func (n *Notifier) nextDeadline() (time.Time, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var next time.Time
	for _, g := range n.groups {
		if next.IsZero() || g.deadline.Before(next) {
			next = g.deadline
		}
	}
	return next, !next.IsZero()
}

// takeDue closes the groups whose window has ended (all of them when all
// is true) and returns their jobs, oldest group first.
func (n *Notifier) takeDue(all bool) []job {
	now := n.c.Now()
	n.mu.Lock()
	var due []*group
	for id, g := range n.groups {
		if all || !g.deadline.After(now) {
			due = append(due, g)
			delete(n.groups, id)
		}
	}
	n.mu.Unlock()
	slices.SortFunc(due, func(a, b *group) int { return a.deadline.Compare(b.deadline) })
	var jobs []job
	for _, g := range due {
		for _, d := range g.route.dests {
			for _, t := range g.tickets {
				t.add()
			}
			jobs = append(jobs, job{d: d, route: g.route.Name, alerts: g.alerts, tickets: g.tickets})
		}
		for _, t := range g.tickets {
			t.done(nil) // the hold, now replaced by the jobs
		}
	}
	return jobs
}

// send delivers alerts (one, or a group) to d as one notification, with
// retries. It skips the alerts already delivered to d, and goes on from
// the attempts recorded for the others (see prior). It returns nil once
// the notification is delivered or dead-lettered, and an error only when
// ctx ended or the delivery state could not be read or written.
func (n *Notifier) send(ctx context.Context, d *dest, routeName string, alerts []*detect.Alert) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var todo []*detect.Alert
	var p prior
	for _, a := range alerts {
		st, err := n.log.State(ctx, a.AlertID, d.Name())
		if err != nil {
			return fmt.Errorf("delivery state of %s for %s: %w", a.AlertID, d.Name(), err)
		}
		if st.Delivered {
			n.stats.dups.Add(1)
			continue
		}
		todo = append(todo, a)
		p.last = max(p.last, st.Attempts)
		p.spent = max(p.spent, st.Spent())
	}
	if len(todo) == 0 {
		return nil
	}
	note := n.notification(routeName, todo)
	_, err := n.attempt(ctx, n.log, d, note, p)
	return err
}

// prior is what the delivery log holds of a notification's earlier
// attempts (before a restart, or by another replica before a rebalance).
// For a group of alerts, each is the maximum over them.
type prior struct {
	// last is the highest attempt number recorded: the notification's
	// attempts are numbered from last+1, so that no row of an earlier
	// attempt is written again (and replaced when ClickHouse merges).
	last int
	// spent counts the attempts since the last dead letter, which count
	// against Retry.MaxAttempts.
	spent int
}

// notification folds alerts into one.
func (n *Notifier) notification(routeName string, alerts []*detect.Alert) *Notification {
	first := alerts[0]
	note := &Notification{Alert: first, Route: routeName, Runbook: clean(first.Runbook),
		Account: accountOf(first.GroupKey), LastTime: first.LastTime}
	for _, a := range alerts {
		note.AlertIDs = append(note.AlertIDs, a.AlertID)
		note.Count += a.Count
		if a.LastTime.After(note.LastTime) {
			note.LastTime = a.LastTime
		}
	}
	n.render(note)
	return note
}

// render replaces the notification's summary by the first template for
// its rule. A template that fails keeps the rule's summary.
func (n *Notifier) render(note *Notification) {
	for _, st := range n.summary {
		if !anyGlob(st.rules, note.Alert.RuleID) {
			continue
		}
		var b strings.Builder
		if err := st.t.Execute(&b, note); err != nil {
			n.logger.Warn("summary template failed; sending the rule's summary",
				slog.String("rule_id", note.Alert.RuleID), slog.String("error", err.Error()))
			return
		}
		a := *note.Alert
		a.Summary = clean(b.String())
		note.Alert = &a
		return
	}
}

// attempt sends note to d until it is delivered or given up on, recording
// every attempt. Attempts are numbered on from p.last, and the p.spent
// attempts made before count against Retry.MaxAttempts. When those are
// all spent already (max_attempts was lowered since, or another replica
// went on attempting it), the notification is dead-lettered at once
// without being sent: the dead-letter row takes the number p.last of the
// last attempt made. Retry.MaxAge counts from the first attempt made
// here. It returns the final status; the error is non-nil only when ctx
// ended or recording failed.
func (n *Notifier) attempt(ctx context.Context, log DeliveryLog, d *dest, note *Notification, p prior) (Status, error) {
	start := n.c.Now()
	rt := n.c.Retry
	if p.spent >= rt.MaxAttempts {
		reason := fmt.Sprintf("gave up after %d attempts, made before a restart or a rebalance", p.spent)
		return n.deadLetter(ctx, log, d, note, p.last, p.spent, reason, start)
	}
	for try := p.last + 1; ; try++ {
		made := p.spent + try - p.last // attempts in the budget, this one included
		if err := d.bucket.wait(ctx, n.c.Now, n.c.Sleep); err != nil {
			return "", err
		}
		err := d.Send(ctx, note)
		at := n.c.Now()
		if err == nil {
			n.stats.delivered.Add(1)
			return StatusDelivered, n.record(ctx, log, note, d, try, StatusDelivered, "", at)
		}
		if ctx.Err() != nil {
			// Stopping, not failing: the alert stays uncommitted and is
			// delivered again after the restart.
			return "", ctx.Err()
		}
		var se *SendError
		retry := errors.As(err, &se) && se.Retry
		reason := err.Error()
		var wait time.Duration
		if retry {
			wait = n.backoff(made)
			if se.RetryAfter > 0 {
				wait = se.RetryAfter
			}
			switch {
			case made >= rt.MaxAttempts:
				retry, reason = false, fmt.Sprintf("%s; gave up after %d attempts", reason, made)
			case at.Add(wait).Sub(start) > rt.MaxAge:
				retry, reason = false, fmt.Sprintf("%s; next attempt would exceed max age %v", reason, rt.MaxAge)
			}
		}
		if !retry {
			return n.deadLetter(ctx, log, d, note, try, made, reason, at)
		}
		n.stats.failed.Add(1)
		n.logger.LogAttrs(ctx, slog.LevelWarn, "alert delivery failed, retrying",
			slog.String("destination", d.Name()), slog.String("alert_id", note.Alert.AlertID),
			slog.Int("attempt", try), slog.Duration("retry_in", wait), slog.String("error", reason))
		if err := n.record(ctx, log, note, d, try, StatusFailed, reason, at); err != nil {
			return "", err
		}
		if err := n.c.Sleep(ctx, wait); err != nil {
			return "", err
		}
	}
}

// deadLetter gives note up at d: it records attempt try as a dead letter
// and passes it on to Config.DeadLetters. made is the number of attempts
// the budget counted.
func (n *Notifier) deadLetter(ctx context.Context, log DeliveryLog, d *dest, note *Notification, try, made int, reason string, at time.Time) (Status, error) {
	n.stats.dead.Add(1)
	n.logger.LogAttrs(ctx, slog.LevelError, "alert dead-lettered",
		slog.String("destination", d.Name()), slog.String("alert_id", note.Alert.AlertID),
		slog.Int("attempts", made), slog.String("reason", reason))
	if err := n.record(ctx, log, note, d, try, StatusDeadLetter, reason, at); err != nil {
		return "", err
	}
	if n.c.DeadLetters != nil {
		dl := DeadLetter{Alert: note.Alert, AlertIDs: note.AlertIDs, Destination: d.Name(), Route: note.Route,
			Reason: reason, Attempts: made, Time: at}
		if err := n.c.DeadLetters.DeadLetter(ctx, dl); err != nil {
			return "", fmt.Errorf("dead letter: %w", err)
		}
	}
	return StatusDeadLetter, nil
}

// backoff is the delay after the try-th attempt of the budget:
// Initial·2^(try-1) capped at Max, half of it fixed and half random.
func (n *Notifier) backoff(try int) time.Duration {
	d := n.c.Retry.Initial
	for i := 1; i < try && d < n.c.Retry.Max; i++ {
		d *= 2
	}
	d = min(d, n.c.Retry.Max)
	return d/2 + time.Duration(n.c.Jitter()*float64(d/2))
}

// record writes one row per alert the notification carries.
func (n *Notifier) record(ctx context.Context, log DeliveryLog, note *Notification, d *dest, try int, st Status, reason string, at time.Time) error {
	// Recording must survive a cancelled ctx: the receiver already has
	// the notification.
	ctx = context.WithoutCancel(ctx)
	for _, id := range note.AlertIDs {
		a := Attempt{AlertID: id, Destination: d.Name(), Attempt: try, Status: st, Error: reason, AttemptedAt: at.UTC()}
		if err := log.Record(ctx, a); err != nil {
			return fmt.Errorf("recording delivery of %s to %s: %w", id, d.Name(), err)
		}
	}
	return nil
}

// Result is the outcome of sending to one destination in Test.
type Result struct {
	Destination string
	Status      Status
	// Reason is why it was dead-lettered, if it was.
	Reason string
}

// Test sends a sample alert through the named route's destinations, at
// once and without grouping, and reports each outcome. The sample has a
// fresh alert ID each time.
func (n *Notifier) Test(ctx context.Context, routeName string) ([]Result, error) {
	i := slices.IndexFunc(n.routes, func(r *route) bool { return r.Name == routeName })
	if i < 0 {
		var names []string
		for _, r := range n.routes {
			names = append(names, r.Name)
		}
		return nil, fmt.Errorf("no route %q (routes: %s)", routeName, strings.Join(names, ", "))
	}
	r := n.routes[i]
	note := n.notification(r.Name, []*detect.Alert{sampleAlert(n.sampleID())})
	log := NewMemoryLog()
	var out []Result
	for _, d := range r.dests {
		st, err := n.attempt(ctx, log, d, note, prior{})
		if err != nil {
			return out, err
		}
		res := Result{Destination: d.Name(), Status: st}
		if st == StatusDeadLetter {
			as := log.Attempts()
			res.Reason = as[len(as)-1].Error
		}
		out = append(out, res)
	}
	return out, nil
}

// bucket is a token bucket; nil means unlimited.
type bucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(r Rate, now time.Time) *bucket {
	if r.PerMinute <= 0 {
		return nil
	}
	burst := float64(max(r.Burst, 1))
	return &bucket{rate: r.PerMinute / 60, burst: burst, tokens: burst, last: now}
}

// wait takes a token, sleeping until one is there.
func (b *bucket) wait(ctx context.Context, now func() time.Time, sleep func(context.Context, time.Duration) error) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	t := now()
	b.tokens = min(b.burst, b.tokens+t.Sub(b.last).Seconds()*b.rate)
	b.last = t
	b.tokens--
	var d time.Duration
	if b.tokens < 0 {
		d = time.Duration(-b.tokens / b.rate * float64(time.Second))
	}
	b.mu.Unlock()
	if d == 0 {
		return nil
	}
	return sleep(ctx, d)
}
