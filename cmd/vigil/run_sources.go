package main

import (
	"context"
	"strings"
	"sync"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/awsconf"
	"github.com/vigilsec/vigil/ingest/checkpoint"
	"github.com/vigilsec/vigil/ingest/s3"
	"github.com/vigilsec/vigil/storage"
)

// defaultCheckpoints is where vigil run keeps the checkpoints of its AWS
// sources when the configuration names no directory.
const defaultCheckpoints = "vigil-data/checkpoints"

// awsScheme reports whether a --source URL names an AWS source.
func awsScheme(rawURL string) bool {
	scheme, _, _ := strings.Cut(rawURL, "://")
	switch scheme {
	case "s3", "sqs", "sqs+https", "sqs+http", "cloudwatch":
		return true
	}
	return false
}

// runSource is an AWS source of vigil run or vigil ingest --bus.
type runSource struct {
	label string // the URL, redacted: the source's label in metrics and logs
	src   ingest.Source
}

// openRunSources opens the AWS sources among urls, with their checkpoints
// in the directory dir. An s3:// listing reads what its prefix holds once
// (s3.Options.Once), so that the run ends; sqs:// and cloudwatch:// follow
// until the run is stopped. Malformed records are counted under each
// source's URL. On error, the sources opened so far are closed.
func (p *pipeline) openRunSources(ctx context.Context, urls []string, dir string) ([]runSource, error) {
	var ckpt checkpoint.Store
	var srcs []runSource
	for _, u := range urls {
		if !awsScheme(u) {
			continue
		}
		if ckpt == nil {
			d, err := checkpoint.NewDir(dir)
			if err != nil {
				return nil, err
			}
			ckpt = d
		}
		label := awsconf.RedactURL(u)
		o := s3.Options{Checkpoints: ckpt, Once: true, Limits: p.rc.limits, Logger: p.log,
			Bad: func(e *ingest.DecodeError) { p.badRecord(label, e) }}
		src, _, err := openAWSSource(ctx, u, o)
		if err != nil {
			closeRunSources(srcs)
			return nil, err
		}
		srcs = append(srcs, runSource{label: label, src: src})
	}
	return srcs, nil
}

// closeRunSources stops the sources' background reads. Batches not
// acknowledged are read again by the next run.
func closeRunSources(srcs []runSource) {
	for _, s := range srcs {
		_ = s.src.Close() // the sources' Close reports nothing
	}
}

// drainRunSource puts a source's batches on the events topic and leaves
// their acks to g, which calls each once the batch is stored.
func (p *pipeline) drainRunSource(ctx context.Context, rs runSource, out storage.Producer[*ingest.Event], g *ackGate) error {
	var last *pendingAck // the source's latest batch, for ordering the acks
	failed := func(err error) { p.inputFailed(input{name: rs.label, source: rs.label}, err) }
	return drainSource(ctx, rs.src, failed, func(ctx context.Context, evs []*ingest.Event, ack func(context.Context) error) error {
		if len(evs) == 0 {
			last = g.after(last, ack)
			return nil
		}
		last = g.register(evs[len(evs)-1], ack)
		if err := writeKeyed(ctx, out, evs, eventKey); err != nil {
			return err
		}
		for _, ev := range evs {
			p.metrics.EventsIn.WithLabelValues(rs.label, ev.Type).Inc()
		}
		return nil
	})
}

// ackGate holds the acks of source batches until the batches are durable:
// vigil run's bus is memory, so a batch on the bus is not yet safe from a
// crash. A batch counts as durable once
//
//   - the events store committed its last event (the events are written
//     to the store), and
//   - the detect stage committed its last event, and the alerts it wrote up
//     to then are committed by the alerts store and, when routes are
//     configured, by the notify stage (delivered or dead-lettered).
//
// Only then is its ack called, so a checkpoint never passes an event that
// is not stored or whose single-event alerts are not stored and sent.
// (Correlation windows live in memory: partial windows are lost in a
// crash, whereas the Kafka mode rebuilds them by replay.) Acks are called
// in the order of the batches' offsets on the events topic, which keeps
// each source's acks in the order of its batches, by one goroutine (run),
// outside the stages.
//
// The store wrapper learns a batch's offset when it fetches the batch's
// last event, known by its pointer; register is called before the batch is
// written, so the wrapper cannot miss it. A batch cut short by a shutdown
// never has its last event on the bus, and so is never acknowledged.
type ackGate struct {
	mu       sync.Mutex
	marks    map[*ingest.Event]*pendingAck // registered, offset not yet known
	placed   []*pendingAck                 // offset known, in offset order, not yet durable
	evStored int64                         // events below this offset are stored
	alGroups map[string]int64              // per alerts consumer that counts: alerts below the offset are done
	detected int64                         // events below this offset were matched, their alerts stored
	detectQ  []detectMark                  // detect commits waiting for their alerts to be stored
	ready    []*pendingAck                 // durable, to be acknowledged in this order
	wake     chan struct{}                 // signalled when ready grows
	closed   bool
}

// pendingAck is one source batch waiting to be durable.
type pendingAck struct {
	off  int64
	acks []func(context.Context) error // the batch's, then those of empty batches after it
	done bool                          // moved to ready
}

// detectMark is a commit of the detect stage: events below off were
// matched, and alerts below alerts were written for them.
type detectMark struct{ off, alerts int64 }

// newAckGate returns a gate that waits for the alerts consumer groups
// alertGroups (the store, and notify when it runs).
func newAckGate(alertGroups ...string) *ackGate {
	g := &ackGate{marks: map[*ingest.Event]*pendingAck{}, alGroups: map[string]int64{}, wake: make(chan struct{}, 1)}
	for _, name := range alertGroups {
		g.alGroups[name] = 0
	}
	return g
}

// register records the ack of a batch whose last event is last.
func (g *ackGate) register(last *ingest.Event, ack func(context.Context) error) *pendingAck {
	pa := &pendingAck{off: -1, acks: []func(context.Context) error{ack}}
	g.mu.Lock()
	g.marks[last] = pa
	g.mu.Unlock()
	return pa
}

// after records the ack of an empty batch, to be called right after the
// ack of prev, the same source's previous batch (nil: none).
func (g *ackGate) after(prev *pendingAck, ack func(context.Context) error) *pendingAck {
	g.mu.Lock()
	defer g.mu.Unlock()
	if prev != nil && !prev.done {
		prev.acks = append(prev.acks, ack)
		return prev
	}
	pa := &pendingAck{done: true, acks: []func(context.Context) error{ack}}
	g.ready = append(g.ready, pa)
	g.signal()
	return pa
}

// fetchedEvent is called by the events store for every event it fetched.
func (g *ackGate) fetchedEvent(m storage.Message[*ingest.Event]) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if pa, ok := g.marks[m.Value]; ok {
		delete(g.marks, m.Value)
		pa.off = m.Offset
		g.placed = append(g.placed, pa)
	}
}

// eventsStored is called when the events store committed below off.
func (g *ackGate) eventsStored(off int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.evStored = max(g.evStored, off)
	g.release()
}

// eventsDetected is called when the detect stage committed below off,
// after it wrote alerts below alerts.
func (g *ackGate) eventsDetected(off, alerts int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	// The alert count only grows: a commit with the count of the last
	// waiting one replaces it, so the queue holds one mark per count.
	if n := len(g.detectQ); n > 0 && g.detectQ[n-1].alerts == alerts {
		g.detectQ[n-1].off = off
	} else {
		g.detectQ = append(g.detectQ, detectMark{off, alerts})
	}
	g.release()
}

// alertsDone is called when the alerts consumer group committed below
// off.
func (g *ackGate) alertsDone(group string, off int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if prev, ok := g.alGroups[group]; ok {
		g.alGroups[group] = max(prev, off)
	}
	g.release()
}

// release moves the batches that became durable to ready. Callers hold
// g.mu.
func (g *ackGate) release() {
	alDone := int64(-1)
	for _, off := range g.alGroups {
		if alDone < 0 || off < alDone {
			alDone = off
		}
	}
	n := 0
	for n < len(g.detectQ) && g.detectQ[n].alerts <= alDone {
		g.detected = max(g.detected, g.detectQ[n].off)
		n++
	}
	g.detectQ = g.detectQ[n:]
	durable := min(g.evStored, g.detected)
	n = 0
	for n < len(g.placed) && g.placed[n].off < durable {
		g.placed[n].done = true
		g.ready = append(g.ready, g.placed[n])
		n++
	}
	if n > 0 {
		clear(g.placed[:n])
		g.placed = g.placed[n:]
		g.signal()
	}
}

// signal wakes run. Callers hold g.mu.
func (g *ackGate) signal() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// close tells run to return once it has called the acks that are ready;
// batches not durable by then are never acknowledged, and read again by
// the next run.
func (g *ackGate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	g.signal()
}

// run calls the acks of durable batches, in order, until close. The acks
// are not cancelled with ctx: what is stored is checkpointed even during a
// shutdown. The first failing ack ends it with its error, and calls
// failed first (to stop reading).
func (g *ackGate) run(ctx context.Context, failed func()) error {
	for {
		<-g.wake
		g.mu.Lock()
		ready, closed := g.ready, g.closed
		g.ready = nil
		g.mu.Unlock()
		for _, pa := range ready {
			for _, ack := range pa.acks {
				if err := ackNow(ctx, ack); err != nil {
					failed()
					return err
				}
			}
		}
		if closed {
			g.mu.Lock()
			left := len(g.ready)
			g.mu.Unlock()
			if left == 0 {
				return nil
			}
			g.signal()
		}
	}
}

// gatedStore tells g what the events store fetched and committed.
type gatedStore struct {
	storage.Consumer[*ingest.Event]
	g *ackGate
}

func (c gatedStore) Fetch(ctx context.Context) (storage.Message[*ingest.Event], error) {
	m, err := c.Consumer.Fetch(ctx)
	if err == nil {
		c.g.fetchedEvent(m)
	}
	return m, err
}

func (c gatedStore) Commit(ctx context.Context, msgs ...storage.Message[*ingest.Event]) error {
	err := c.Consumer.Commit(ctx, msgs...)
	if err == nil && len(msgs) > 0 {
		c.g.eventsStored(msgs[len(msgs)-1].Offset + 1)
	}
	return err
}

// gatedDetect tells g what the detect stage committed, with how many
// alerts were written by then (the alerts topic's offsets start at 0 and
// the detect stage is its only writer).
type gatedDetect struct {
	storage.Consumer[*ingest.Event]
	g      *ackGate
	alerts *topicCounter
}

func (c gatedDetect) Commit(ctx context.Context, msgs ...storage.Message[*ingest.Event]) error {
	err := c.Consumer.Commit(ctx, msgs...)
	if err == nil && len(msgs) > 0 {
		c.g.eventsDetected(msgs[len(msgs)-1].Offset+1, c.alerts.written.Load())
	}
	return err
}

// gatedAlerts tells g what an alerts consumer group committed.
type gatedAlerts struct {
	storage.Consumer[*detect.Alert]
	g     *ackGate
	group string
}

func (c gatedAlerts) Commit(ctx context.Context, msgs ...storage.Message[*detect.Alert]) error {
	err := c.Consumer.Commit(ctx, msgs...)
	if err == nil && len(msgs) > 0 {
		c.g.alertsDone(c.group, msgs[len(msgs)-1].Offset+1)
	}
	return err
}
