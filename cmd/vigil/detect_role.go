package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/cmd/vigil/ops"
	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/detect/correlate"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/kafka"
)

// Consumer groups of the detect role.
const (
	groupDetect    = "vigil-detect"
	groupCorrelate = "vigil-correlate"
)

// signalCodec and alertCodec encode the values of the signals and alerts
// topics.
var (
	signalCodec = kafka.JSONCodec[detect.Signal]{ID: func(s detect.Signal) string { return s.EventID }}
	alertCodec  = kafka.JSONCodec[*detect.Alert]{ID: func(a *detect.Alert) string { return a.AlertID }}
)

// signalKey keys a signal by rule and group key, so that every signal of a
// correlation window lands on one partition and so on one correlator.
func signalKey(s detect.Signal) []byte { return []byte(s.RuleID + "\x00" + s.GroupKey) }

// runDetect runs the detect role on Kafka: the matcher reads vigil.events
// (group vigil-detect), writes single-event alerts to vigil.alerts and the
// matches of correlation rules to vigil.signals; the correlator reads
// vigil.signals (group vigil-correlate) and writes its alerts to
// vigil.alerts. Each commits a batch only after what it caused is on the
// bus.
func runDetect(ctx context.Context, args []string, s stdio) error {
	fl := newFlags("detect", s.err,
		"usage: vigil detect (--config FILE | --bus kafka://HOST:9092) [--rules DIR]... [--lateness D]")
	rf := addRoleFlags(fl)
	var ruleDirs stringList
	fl.Var(&ruleDirs, "rules", "rule file or directory (repeatable); default: the built-in pack")
	lateness := fl.Duration("lateness", correlate.DefaultLateness, "how late a signal may arrive and still be correlated")
	match := fl.Bool("match", true, "run the matcher (vigil.events → vigil.alerts, vigil.signals)")
	corr := fl.Bool("correlate", true, "run the correlator (vigil.signals → vigil.alerts)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fl.Arg(0))
	}
	if *lateness <= 0 {
		return errors.New("--lateness must be positive")
	}
	r, err := setupRole(fl, rf, s, roleSetup{name: "detect", bus: true})
	if err != nil {
		return err
	}
	if r.cfg.Detect.Lateness > 0 { // detect.lateness, VIGIL_DETECT_LATENESS or --lateness
		*lateness = r.cfg.Detect.Lateness
	}
	set, err := loadRules(r.cfg.Rules.Paths)
	if err != nil {
		return fmt.Errorf("loading rules:\n%w", err)
	}
	cfg, log := r.kafka, r.log
	if *match {
		r.lag.watch(cfg.Topics.Events, groupDetect)
	}
	if *corr {
		r.lag.watch(cfg.Topics.Signals, groupCorrelate)
	}
	if err := r.serve(ctx); err != nil {
		return err
	}
	defer r.Close()
	alerts, err := kafka.NewProducer(cfg, cfg.Topics.Alerts, alertCodec)
	if err != nil {
		return err
	}
	defer alerts.Close()
	dl, err := kafka.NewDeadLetter(cfg)
	if err != nil {
		return err
	}
	defer dl.Close()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := &stages{cancel: cancel}
	if *match {
		m, err := detect.New(set.Rules, detect.Config{})
		if err != nil {
			return err
		}
		r.metrics.WatchMatcher(m.Stats)
		signals, err := kafka.NewProducer(cfg, cfg.Topics.Signals, signalCodec)
		if err != nil {
			return err
		}
		defer signals.Close()
		st.goStage("match", func() error {
			return matchStage(runCtx, cfg, m, alerts, signals, dl, r.metrics, log, r.cfg.ShutdownTimeout)
		})
	}
	if *corr {
		snaps, err := kafka.OpenSnapshots(ctx, cfg, "", 0)
		if err != nil {
			return fmt.Errorf("correlator state topic: %w", err)
		}
		defer snaps.Close()
		co := &correlator{rules: set.Rules, cfg: correlate.Config{Lateness: *lateness, MaxOpen: r.cfg.Detect.MaxOpenAlerts}, alerts: alerts, dl: dl,
			metrics: r.metrics, log: log, drain: r.cfg.ShutdownTimeout, parts: map[int]*partCorrelator{},
			snaps: snaps, snapEvery: snapshotEvery, topic: cfg.Topics.Signals}
		if _, err := correlate.New(set.Rules, co.cfg); err != nil {
			return err
		}
		co.stats.Store(&correlate.Stats{})
		r.metrics.WatchCorrelator(func() correlate.Stats { return *co.stats.Load() })
		st.goStage("correlate", func() error { return co.run(runCtx, cfg) })
	}
	log.Info("detect started", "rules", len(set.Rules), "match", *match, "correlate", *corr, "lateness", *lateness)
	return st.wait()
}

// matchStage runs the matcher over vigil.events until ctx ends.
func matchStage(ctx context.Context, cfg kafka.Config, m *detect.Matcher, alerts *kafka.Producer[*detect.Alert],
	signals *kafka.Producer[detect.Signal], dl *kafka.DeadLetter, metrics *ops.Metrics, log *slog.Logger, drain time.Duration) error {
	in, err := kafka.NewConsumer(cfg, kafka.Subscription[*ingest.Event]{
		Topic: cfg.Topics.Events, Group: groupDetect, Codec: kafka.EventCodec{},
		OnAssign: func(_ context.Context, parts []kafka.Assignment) error {
			log.Info("events partitions assigned", "partitions", partitionList(parts))
			return nil
		}})
	if err != nil {
		return err
	}
	defer in.Close()
	keys, err := tickKeys(ctx, cfg)
	if err != nil {
		return err
	}
	var watermark, ticked time.Time
	lastTick := time.Now()
	for {
		// The fetch gives up after tickEvery, so that a quiet stream still
		// sends the tick of its last events.
		fctx, cancel := context.WithTimeout(ctx, tickEvery)
		batch, poison, ferr := fetchBatch(fctx, in, dl, groupDetect, roleBatch, roleLinger)
		cancel()
		if ferr != nil && ctx.Err() == nil && errors.Is(ferr, context.DeadlineExceeded) {
			ferr = nil
		}
		var as []*detect.Alert
		var sigs []storage.Message[detect.Signal]
		for i, msg := range batch {
			if poison[i] {
				continue
			}
			ev := msg.Value
			for _, a := range m.Match(ev) {
				metrics.Alerts.WithLabelValues(a.RuleID, a.Severity).Inc()
				as = append(as, a)
			}
			for _, sg := range m.Signals() {
				sigs = append(sigs, storage.Message[detect.Signal]{Key: signalKey(sg), Value: sg})
			}
			if ev.Time.After(watermark) {
				watermark = ev.Time
			}
		}
		if len(batch) > 0 {
			as = append(as, m.Advance(watermark)...)
		}
		if watermark.After(ticked) && time.Since(lastTick) >= tickEvery {
			sigs = append(sigs, ticks(keys, watermark)...)
			ticked, lastTick = watermark, time.Now()
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
		err := signals.Write(wctx, sigs...)
		if err == nil {
			err = writeKeyed(wctx, alerts, as, alertKey)
		}
		if err == nil {
			err = commitBatch(wctx, in, log, batch)
		}
		cancel()
		if err != nil {
			return err
		}
		if ferr != nil {
			if interrupted(ctx, ferr) {
				return nil
			}
			return ferr
		}
	}
}

// partitionList lists the partitions of an assignment with their committed
// offsets, for logs.
func partitionList(parts []kafka.Assignment) string {
	var b strings.Builder
	for i, a := range parts {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d@%d", a.Partition, a.Committed)
	}
	return b.String()
}

// snapshotEvery is how often the correlator saves the state of its
// partitions to the bus, after a flush; it also saves it when it stops.
const snapshotEvery = 30 * time.Second

// correlator is the correlation stage: one correlate.Correlator per
// assigned partition of vigil.signals, so that the state of a partition is
// a function of the partition alone and is rebuilt alone when the
// partition moves to this member.
//
// After a flush, at most every snapEvery, and when the stage stops, it
// saves a snapshot of the state of each partition whose processing is
// committed to snaps, with the offset it covers; the next holder of the
// partition restores it and replays only the signals after it, so that
// first_seen learning and suppression periods carry over exactly.
type correlator struct {
	rules   []*rules.Rule
	cfg     correlate.Config
	alerts  *kafka.Producer[*detect.Alert]
	dl      *kafka.DeadLetter
	metrics *ops.Metrics
	log     *slog.Logger
	drain   time.Duration // bounds a write and commit, also after a stop
	in      *kafka.Consumer[detect.Signal]
	ctx     context.Context // the stage's, for OnAssign
	topic   string          // of the signals, in snapshot names
	// snaps stores the partitions' snapshots (nil: none), saved at most
	// every snapEvery.
	snaps     *kafka.Snapshots
	snapEvery time.Duration
	snapAt    time.Time // when snapshots were last saved
	// stats are the counters of the partitions' correlators, summed after
	// every flush, for the metrics (a scrape must not read the
	// correlators while the stage changes them).
	stats atomic.Pointer[correlate.Stats]

	parts   map[int]*partCorrelator
	out     []*detect.Alert
	pending []storage.Message[detect.Signal]
}

// partCorrelator is the state of one partition.
type partCorrelator struct {
	co        *correlate.Correlator
	next      int64 // offset after the last message processed
	committed int64 // offset this member committed (or was assigned at)
	snapped   int64 // offset of the last snapshot saved, 0 for none
	watermark time.Time
}

func (c *correlator) run(ctx context.Context, cfg kafka.Config) error {
	c.ctx = ctx
	in, err := kafka.NewConsumer(cfg, kafka.Subscription[detect.Signal]{
		Topic: cfg.Topics.Signals, Group: groupCorrelate, Codec: signalCodec, OnAssign: c.onAssign})
	if err != nil {
		return err
	}
	c.in = in
	defer in.Close()
	var first time.Time // when the oldest pending message was processed
	for {
		fctx, cancel := ctx, context.CancelFunc(func() {})
		if len(c.pending) > 0 {
			fctx, cancel = context.WithDeadline(ctx, first.Add(roleLinger))
		}
		msg, err := in.Fetch(fctx)
		cancel()
		var pe *kafka.PoisonError
		switch {
		case errors.As(err, &pe):
			if err := c.dl.Send(context.WithoutCancel(ctx), pe.Letter(groupCorrelate)); err != nil {
				return fmt.Errorf("dead letter: %w", err)
			}
		case err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
			if err := c.flush(ctx); err != nil {
				return err
			}
			c.snapshotDue(ctx)
			continue
		case err != nil:
			ferr := c.flush(ctx)
			if ferr == nil {
				c.saveSnapshots(ctx)
			}
			if interrupted(ctx, err) {
				return ferr
			}
			return errors.Join(err, ferr)
		default:
			if err := c.process(ctx, msg, false); err != nil {
				return err
			}
		}
		if len(c.pending) == 0 {
			first = time.Now()
		}
		c.pending = append(c.pending, msg)
		if len(c.pending) >= roleBatch {
			if err := c.flush(ctx); err != nil {
				return err
			}
			c.snapshotDue(ctx)
		}
	}
}

// process correlates one signal of its partition.
func (c *correlator) process(ctx context.Context, msg storage.Message[detect.Signal], replay bool) error {
	p := c.parts[msg.Partition]
	if p == nil { // a message of a partition OnAssign did not list: cannot happen, but keep state sane
		co, err := correlate.New(c.rules, c.cfg)
		if err != nil {
			return err
		}
		p = &partCorrelator{co: co}
		c.parts[msg.Partition] = p
	}
	p.next = msg.Offset + 1
	sig := msg.Value
	if isTick(sig) {
		if sig.Time.After(p.watermark) {
			p.watermark = sig.Time
			opened, closed := p.co.Advance(p.watermark)
			c.opened(opened)
			c.out = append(append(c.out, opened...), closed...)
		}
		return nil
	}
	if err := p.co.Add(sig); err != nil {
		if replay {
			return nil
		}
		l, lerr := kafka.LetterOf(signalCodec, groupCorrelate, msg, err.Error())
		if lerr == nil {
			lerr = c.dl.Send(context.WithoutCancel(ctx), l)
		}
		return lerr
	}
	if sig.Time.After(p.watermark) {
		p.watermark = sig.Time
	}
	opened, closed := p.co.Advance(p.watermark)
	c.opened(opened)
	c.out = append(append(c.out, opened...), closed...)
	return nil
}

// opened counts alerts as they open (a replay opens none).
func (c *correlator) opened(as []*detect.Alert) {
	for _, a := range as {
		c.metrics.Alerts.WithLabelValues(a.RuleID, a.Severity).Inc()
	}
}

// publishStats sums the counters of the partitions' correlators for the
// metrics. Partitions that moved away take their counts with them.
func (c *correlator) publishStats() {
	var s correlate.Stats
	for _, p := range c.parts {
		ps := p.co.Stats()
		s.Signals, s.Late, s.Evicted, s.Pending = s.Signals+ps.Signals, s.Late+ps.Late, s.Evicted+ps.Evicted, s.Pending+ps.Pending
		if ps.Watermark.After(s.Watermark) {
			s.Watermark = ps.Watermark
		}
		if s.Rules == nil {
			s.Rules = ps.Rules
			continue
		}
		for i, r := range ps.Rules {
			s.Rules[i] = s.Rules[i].AddCounts(r)
			s.Rules[i].Open += r.Open
		}
	}
	c.stats.Store(&s)
}

// flush writes the alerts of the processed signals, then commits them.
func (c *correlator) flush(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.drain)
	defer cancel()
	defer c.publishStats()
	if err := writeKeyed(wctx, c.alerts, c.out, alertKey); err != nil {
		return err
	}
	c.out = c.out[:0]
	var err error
	if len(c.pending) > 0 {
		// Like commitBatch, but a partition's processing counts as
		// committed (and may be snapshotted) only after a full success.
		switch err = c.in.Commit(wctx, c.pending...); {
		case errors.Is(err, kafka.ErrRevoked):
			c.log.Info("commit of a revoked partition skipped", "err", err)
			err = nil
		case err == nil:
			for _, m := range c.pending {
				if p := c.parts[m.Partition]; p != nil {
					p.committed = max(p.committed, m.Offset+1)
				}
			}
		}
	}
	c.pending = c.pending[:0]
	return err
}

// snapshotName names the snapshot of a partition of the signals.
func (c *correlator) snapshotName(partition int) string {
	return fmt.Sprintf("%s/%s/%d", groupCorrelate, c.topic, partition)
}

// snapshotDue saves snapshots when snapEvery passed since the last time.
// It runs after a flush of the processing loop, not of OnAssign: there a
// revoked partition may already be restored by its new holder.
func (c *correlator) snapshotDue(ctx context.Context) {
	if time.Since(c.snapAt) >= c.snapEvery {
		c.saveSnapshots(ctx)
	}
}

// saveSnapshots saves the state of every partition that processed signals
// since its last snapshot and whose processing is committed (a snapshot
// ahead of the committed offset would be of no use to the next holder).
// A failure is logged and counted: the next holder then replays more.
func (c *correlator) saveSnapshots(ctx context.Context) {
	if c.snaps == nil {
		return
	}
	c.snapAt = time.Now()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.drain)
	defer cancel()
	var buf bytes.Buffer
	for part, p := range c.parts {
		if p.next != p.committed || p.next == p.snapped || p.next <= 0 {
			continue
		}
		start := time.Now()
		buf.Reset()
		err := p.co.Snapshot(&buf)
		n := 0
		if err == nil {
			n, err = c.snaps.Save(wctx, c.snapshotName(part), p.next, buf.Bytes())
		}
		if err != nil {
			c.metrics.CorrelatorSnapshots.WithLabelValues("save", "error").Inc()
			c.log.Warn("correlation state snapshot not saved", "partition", part, "offset", p.next, "err", err)
			continue
		}
		p.snapped = p.next
		c.metrics.CorrelatorSnapshots.WithLabelValues("save", "ok").Inc()
		c.log.Debug("correlation state snapshot saved", "partition", part, "offset", p.next,
			"bytes", buf.Len(), "stored", n, "took", time.Since(start).Round(time.Millisecond))
	}
}

// onAssign runs at the start of every generation of the group. It first
// delivers and commits what the previous generation processed; then it
// keeps the state of each partition still held whose committed offset is
// where this member's processing stopped, and rebuilds every other
// partition (see rebuild).
func (c *correlator) onAssign(_ context.Context, parts []kafka.Assignment) error {
	ctx := c.ctx // the fetch's context may be a short linger deadline
	c.log.Info("signals partitions assigned", "partitions", partitionList(parts))
	if err := c.flush(ctx); err != nil {
		return err
	}
	next := make(map[int]*partCorrelator, len(parts))
	for _, a := range parts {
		if p, ok := c.parts[a.Partition]; ok && p.next == a.Committed {
			next[a.Partition] = p
			continue
		}
		p, err := c.rebuild(ctx, a)
		if err != nil {
			return fmt.Errorf("rebuilding partition %d: %w", a.Partition, err)
		}
		next[a.Partition] = p
	}
	c.parts = next
	return nil
}

// rebuild returns the state of a partition at its committed offset. It
// restores the partition's latest snapshot and replays the signals from its
// offset to the committed one; without a usable snapshot (none, damaged,
// ahead of the committed offset, or one Restore rejects) it replays from
// the offset written Span before the event time of the last committed
// signal, which rebuilds windows and open alerts but not first_seen
// learning. A replay runs in replay mode: alerts already emitted are not
// emitted again.
func (c *correlator) rebuild(ctx context.Context, a kafka.Assignment) (*partCorrelator, error) {
	co, err := correlate.New(c.rules, c.cfg)
	if err != nil {
		return nil, err
	}
	p := &partCorrelator{co: co, next: a.Committed, committed: a.Committed}
	if a.Committed <= 0 {
		return p, nil
	}
	start := time.Now()
	from, restored, err := c.restore(ctx, a, p)
	if err != nil {
		return nil, err
	}
	if !restored {
		var last time.Time
		if err := c.in.Replay(ctx, a.Partition, a.Committed-1, a.Committed, func(m storage.Message[detect.Signal]) error {
			last = m.Value.Time
			return nil
		}); err != nil {
			return nil, err
		}
		if !last.IsZero() {
			if from, err = c.in.OffsetAt(ctx, a.Partition, last.Add(-co.Span())); err != nil {
				return nil, err
			}
		}
	}
	n := 0
	p.co.Replaying(true)
	c.parts[a.Partition] = p
	err = c.in.Replay(ctx, a.Partition, from, a.Committed, func(m storage.Message[detect.Signal]) error {
		n++
		return c.process(ctx, m, true)
	})
	p.co.Replaying(false)
	c.out = c.out[:0] // replay mode returns none; nothing of a replay is emitted
	if err != nil {
		return nil, err
	}
	p.next = a.Committed
	c.log.Info("correlation state rebuilt", "partition", a.Partition, "snapshot", restored, "from", from, "to", a.Committed,
		"signals", n, "took", time.Since(start).Round(time.Millisecond))
	return p, nil
}

// restore restores the latest snapshot of a's partition into p and returns
// its offset, or reports false, logging why, when there is no usable one.
// Only a failure to read the partition's signals is an error.
func (c *correlator) restore(ctx context.Context, a kafka.Assignment, p *partCorrelator) (int64, bool, error) {
	if c.snaps == nil {
		return 0, false, nil
	}
	start := time.Now()
	snap, err := c.snaps.Load(ctx, c.snapshotName(a.Partition))
	switch {
	case errors.Is(err, kafka.ErrNoSnapshot):
		c.log.Info("no correlation state snapshot; rebuilding by replay", "partition", a.Partition)
		return 0, false, nil
	case err != nil:
		c.metrics.CorrelatorSnapshots.WithLabelValues("restore", "error").Inc()
		c.log.Warn("correlation state snapshot unusable; rebuilding by replay", "partition", a.Partition, "err", err)
		return 0, false, nil
	case snap.Offset > a.Committed:
		c.metrics.CorrelatorSnapshots.WithLabelValues("restore", "error").Inc()
		c.log.Warn("correlation state snapshot is ahead of the committed offset; rebuilding by replay",
			"partition", a.Partition, "offset", snap.Offset, "committed", a.Committed)
		return 0, false, nil
	}
	if err := p.co.Restore(bytes.NewReader(snap.Data)); err != nil {
		c.metrics.CorrelatorSnapshots.WithLabelValues("restore", "error").Inc()
		c.log.Warn("correlation state snapshot unusable; rebuilding by replay", "partition", a.Partition, "err", err)
		co, nerr := correlate.New(c.rules, c.cfg)
		if nerr != nil {
			return 0, false, nerr
		}
		p.co = co
		return 0, false, nil
	}
	p.snapped = snap.Offset
	c.metrics.CorrelatorSnapshots.WithLabelValues("restore", "ok").Inc()
	c.log.Info("correlation state snapshot restored", "partition", a.Partition, "offset", snap.Offset,
		"committed", a.Committed, "bytes", len(snap.Data), "stored", snap.Stored, "saved", snap.Saved,
		"took", time.Since(start).Round(time.Millisecond))
	return snap.Offset, true, nil
}
