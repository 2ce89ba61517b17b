package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/cmd/vigil/config"
	"github.com/vigilsec/vigil/cmd/vigil/ops"
	"github.com/vigilsec/vigil/deploy/demo"
	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/detect/correlate"
	"github.com/vigilsec/vigil/detect/notify"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/awsconf"
	"github.com/vigilsec/vigil/ingest/logtype"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/batch"
	"github.com/vigilsec/vigil/storage/clickhouse"
	"github.com/vigilsec/vigil/storage/duckdb"
	"github.com/vigilsec/vigil/storage/memory"
)

// Defaults of vigil run.
const (
	defaultStore = "duckdb://" + duckdb.DefaultPath
	// maxEventBatch is the largest event batch and commit size of the
	// store; a batch stays at most half the bus capacity, so a store
	// waiting for a full batch never blocks the producer that would fill it.
	maxEventBatch = 10000
	alertBatch    = 1000
	// produceBatch is how many events ingest writes to the bus at once.
	produceBatch = 256
	// statsEvery is how many events the detect stage handles between two
	// publications of the correlator's counters for the metrics.
	statsEvery = 1024
)

// runRun runs every role in one process over the in-process bus: sources
// are decoded onto the events topic, the matcher and the correlator turn
// events into alerts on the alerts topic, the store writes both, and
// alerts are printed as they fire. It returns when the sources are exhausted and everything is
// stored, or, after an interrupt, once what was read is stored.
func runRun(ctx context.Context, args []string, s stdio) error {
	fl := newFlags("run", s.err,
		"usage: vigil run [--config FILE] [--demo] [--source URL]... [--checkpoints DIR] [--store URL] [--rules DIR]... [--webhook URL]...",
		"SIGHUP or a change under the rule paths reloads the rules; SIGTERM stops reading and stores what was read.")
	var sources, ruleDirs stringList
	fl.Var(&sources, "source", "input (repeatable): file://PATH, a file or a directory read recursively; s3://BUCKET/PREFIX?type=cloudtrail|vpcflow, read once; sqs://… or sqs+https://… and cloudwatch://LOG-GROUP?type=…, followed until stopped")
	fl.String("checkpoints", defaultCheckpoints, "directory of the AWS sources' checkpoints")
	withDemo := fl.Bool("demo", false, "read the bundled demo logs")
	fl.String("store", defaultStore, "store: duckdb://PATH or clickhouse://host:9000/database")
	fl.Var(&ruleDirs, "rules", "rule file or directory (repeatable); default: the built-in pack")
	format := fl.String("format", "text", "how alerts are printed: text, json (one alert object per line) or none")
	fl.String("flow-format", "", "VPC flow log format for files without a header line; default: the v2 default format")
	maxShown := fl.Int("show-errors", 20, "how many decode errors and rejected rows to print (all are counted)")
	lateness := fl.Duration("lateness", 0, "how late an event may arrive and still be correlated; 0: any (correlation waits for the end of the input, so file order does not matter)")
	var webhooks stringList
	fl.Var(&webhooks, "webhook", "URL of a signed generic webhook that receives every alert (repeatable); secret from "+webhookSecretEnv+" (whsec_…)")
	webhookInsecure := fl.Bool("webhook-allow-insecure", false, "permit http:// --webhook URLs on loopback")
	configPath := addConfigFlags(fl)
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; inputs are given with --source URL", fl.Arg(0))
	}
	if *format != "text" && *format != "json" && *format != "none" {
		return fmt.Errorf("--format must be text, json or none, not %q", *format)
	}
	if *lateness < 0 {
		return fmt.Errorf("--lateness must not be negative")
	}
	cfg, _, err := runConfigOf(fl, *configPath, os.LookupEnv)
	if err != nil {
		return err
	}
	if len(webhooks) > 0 {
		if err := cfg.Notify.AddWebhookShortcut(webhooks, webhookSecretEnv, *webhookInsecure); err != nil {
			return err
		}
	}
	if !strings.HasPrefix(cfg.Bus.URL, "memory://") {
		return fmt.Errorf("bus.url %s: vigil run uses the in-process bus (memory://); Kafka is for the role commands", cfg.Bus.URL)
	}
	inputs, err := runInputs(cfg.Sources, *withDemo)
	if err != nil {
		return err
	}
	if cfg.Checkpoints == "" {
		cfg.Checkpoints = defaultCheckpoints
	}
	if strings.HasPrefix(cfg.Checkpoints, checkpointsOnBus) {
		return fmt.Errorf("checkpoints %s: vigil run keeps checkpoints in a directory; Kafka is for vigil ingest --bus", cfg.Checkpoints)
	}
	if len(inputs) == 0 && !slices.ContainsFunc(cfg.Sources, awsScheme) {
		fl.Usage()
		return exitError(2)
	}
	metrics := ops.New()
	log, err := ops.NewLogger(s.err, cfg.Log.Format, cfg.Log.Level, metrics.LogSuppressed.Inc)
	if err != nil {
		return err
	}
	p, err := newPipeline(pipelineConfig{
		rules:      cfg.Rules.Paths,
		flowFormat: cfg.Detect.FlowFormat,
		lateness:   cfg.Detect.Lateness,
		detect:     detect.Config{},
		correlate:  correlate.Config{MaxWindows: cfg.Detect.MaxWindows, MaxOpen: cfg.Detect.MaxOpenAlerts},
		limits:     ingest.Limits{MaxRecordBytes: cfg.Limits.MaxRecordBytes, MaxDecompressedBytes: cfg.Limits.MaxDecompressedBytes},
		busSize:    cfg.Bus.Capacity,
		drain:      cfg.ShutdownTimeout,
		metrics:    metrics,
		log:        log,
	})
	if err != nil {
		return err
	}
	storeURL, err := storeURLOf(cfg.Store, os.Getenv)
	if err != nil {
		return err
	}
	if p.sources, err = p.openRunSources(ctx, cfg.Sources, cfg.Checkpoints); err != nil {
		return err
	}
	defer closeRunSources(p.sources)
	st, err := openStore(ctx, storeURL, false)
	if err != nil {
		return err
	}
	p.sink, p.out, p.errw, p.format, p.maxShown = st, s.out, s.err, *format, *maxShown
	notifier, closeLog, err := runNotifier(cfg.Notify, st, log)
	if err != nil {
		return errors.Join(err, st.Close())
	}
	defer closeLog()
	if notifier != nil {
		p.notifier = notifier
		metrics.WatchNotifier(notifier.Stats)
	}
	stopServer, err := serveOps(ctx, cfg.Listen, cfg.Pprof, p, st, log)
	if err != nil {
		return errors.Join(err, st.Close())
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	p.hup, p.reloadEvery = hup, cfg.Rules.ReloadInterval
	runErr := p.run(ctx, inputs)
	if runErr == nil {
		runErr = p.summary(context.WithoutCancel(ctx), st, ctx.Err() != nil)
	}
	return errors.Join(runErr, stopServer(), st.Close())
}

// input is one log stream to read.
type input struct {
	name   string // Event.Source: file://path, demo://path
	source string // the source it was found under, for metrics: file://dir, demo://
	open   func() (io.ReadCloser, error)
}

// runInputs expands the file:// --source URLs (files and directories, in
// the order given, directories walked in lexical order) and the demo logs.
// AWS sources are left to openRunSources; other schemes are errors.
func runInputs(sources []string, withDemo bool) ([]input, error) {
	var ins []input
	for _, src := range sources {
		if awsScheme(src) {
			continue
		}
		path, ok := strings.CutPrefix(src, "file://")
		if !ok {
			scheme, _, _ := strings.Cut(src, "://")
			return nil, fmt.Errorf("--source %q: vigil run reads file://, s3://, sqs://, sqs+https:// and cloudwatch:// sources, not %s", awsconf.RedactURL(src), scheme)
		}
		files, err := expandInputs([]string{path})
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			ins = append(ins, input{name: "file://" + f, source: src, open: func() (io.ReadCloser, error) { return os.Open(f) }})
		}
	}
	if !withDemo {
		return ins, nil
	}
	err := fs.WalkDir(demo.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		ins = append(ins, input{name: "demo://" + path, source: "demo://", open: func() (io.ReadCloser, error) { return demo.FS.Open(path) }})
		return nil
	})
	return ins, err
}

// store is what vigil run and vigil query need of a store.
type store interface {
	storage.Sink
	storage.Querier
	Close() error
}

// openStore opens the store named by url: duckdb://PATH (read-only opens
// an existing file in DuckDB's read-only mode) or clickhouse://…, whose
// schema is brought up to date unless readOnly.
func openStore(ctx context.Context, url string, readOnly bool) (store, error) {
	switch {
	case strings.HasPrefix(url, "duckdb://"):
		return duckdb.Open(ctx, duckdb.Config{Path: strings.TrimPrefix(url, "duckdb://"), ReadOnly: readOnly})
	case strings.HasPrefix(url, "clickhouse://"):
		st, err := clickhouse.Open(ctx, clickhouse.Config{URL: url})
		if err != nil {
			return nil, err
		}
		if !readOnly {
			if err := st.Migrate(ctx); err != nil {
				st.Close()
				return nil, err
			}
		}
		return st, nil
	}
	return nil, fmt.Errorf("store %q: want duckdb://PATH or clickhouse://host:port/database", url)
}

// pipeline is one run of every role over the in-process bus.
type pipeline struct {
	rc         pipelineConfig
	matcher    *detect.Matcher       // the running rules, replaced on reload
	correlator *correlate.Correlator // written by the detect stage only
	decoders   map[string]ingest.Decoder
	sources    []runSource // AWS sources, read beside the inputs
	sink       storage.Sink
	notifier   *notify.Notifier // nil: no route configured
	out        io.Writer
	errw       io.Writer
	format     string // text, json or none
	maxShown   int
	metrics    *ops.Metrics
	log        *slog.Logger

	// Rule reload: hup and a poll every reloadEvery trigger a reload; the
	// new set waits in nextRules until the detect stage swaps it in, woken
	// by wake when it waits for events.
	hup         <-chan os.Signal
	reloadEvery time.Duration
	nextRules   atomic.Pointer[pendingRules]
	wakeMu      sync.Mutex
	wake        context.CancelFunc
	current     atomic.Pointer[detect.Matcher]  // for the metrics
	corrStats   atomic.Pointer[correlate.Stats] // published by the detect stage
	busUp       atomic.Bool                     // for /readyz

	// Counters, each written by one stage and read after all stopped.
	events   map[string]int // events put on the bus, per log type
	alerts   map[string]int // alert ID → largest count printed
	evWriter batch.Stats
	alWriter batch.Stats
	// Counters written by the ingest stage and the sources' goroutines.
	bad    atomic.Int64 // malformed records
	failed atomic.Int64 // inputs that could not be read to the end, failed source calls
	mu     sync.Mutex   // guards rejected (written from the writers' flushes), badShown and errw
	// rejected counts rows the store rejected; badShown the decode errors
	// printed.
	rejected, badShown int
}

// pipelineConfig configures a pipeline; the zero value is valid.
type pipelineConfig struct {
	rules      []string // rule files or directories; default the built-in pack
	flowFormat string
	lateness   time.Duration // 0: unbounded, as for replay
	detect     detect.Config
	correlate  correlate.Config // its Lateness is set from lateness
	limits     ingest.Limits
	busSize    int           // default config.DefaultBusCapacity
	drain      time.Duration // how long the stages may flush after an interrupt; default 30s
	metrics    *ops.Metrics  // default: a fresh registry
	log        *slog.Logger  // default: discard
}

// newPipeline loads the rules and builds the matcher, the correlator and
// the decoders.
func newPipeline(c pipelineConfig) (*pipeline, error) {
	c.correlate.Lateness = c.lateness
	if c.lateness == 0 {
		c.correlate.Lateness = -1
	}
	if c.busSize <= 0 {
		c.busSize = config.DefaultBusCapacity
	}
	if c.drain <= 0 {
		c.drain = config.DefaultShutdownTimeout
	}
	if c.metrics == nil {
		c.metrics = ops.New()
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	rs, enabled, err := buildRules(c.rules, c.detect, c.correlate)
	if err != nil {
		return nil, err
	}
	decoders, err := logtype.Decoders(logtype.Config{FlowFormat: c.flowFormat, Limits: c.limits})
	if err != nil {
		return nil, err
	}
	p := &pipeline{rc: c, matcher: rs.matcher, correlator: rs.correlator, decoders: decoders, out: io.Discard, errw: io.Discard,
		format: "none", metrics: c.metrics, log: c.log, events: map[string]int{}, alerts: map[string]int{}}
	p.current.Store(p.matcher)
	p.publishCorrelatorStats()
	p.metrics.WatchMatcher(func() detect.Stats { return p.current.Load().Stats() })
	p.metrics.WatchCorrelator(func() correlate.Stats { return *p.corrStats.Load() })
	p.metrics.RulesLoaded.Set(float64(enabled))
	p.metrics.RulesReloadedAt.SetToCurrentTime()
	return p, nil
}

// publishCorrelatorStats copies the correlator's counters for the metrics;
// it is called by the goroutine that owns the correlator.
func (p *pipeline) publishCorrelatorStats() {
	st := p.correlator.Stats()
	p.corrStats.Store(&st)
}

// run wires the stages over a new bus, runs them and waits for all. The
// ingest stage stops when ctx ends; the others drain what was read, for at
// most the drain timeout after ctx ends. The first failing stage stops all.
// While it runs, the rules are reloaded on p.hup and, every p.reloadEvery,
// when the rule files change.
func (p *pipeline) run(ctx context.Context, inputs []input) error {
	bus, err := memory.New(memory.Config{Capacity: p.rc.busSize})
	if err != nil {
		return err
	}
	var evCount, alCount topicCounter
	evBus, err := memory.NewProducer[*ingest.Event](bus, storage.TopicEvents)
	if err != nil {
		return err
	}
	alBus, err := memory.NewProducer[*detect.Alert](bus, storage.TopicAlerts)
	if err != nil {
		return err
	}
	evProd := countingProducer[*ingest.Event]{evBus, &evCount}
	alProd := countingProducer[*detect.Alert]{alBus, &alCount}
	var detectIn, storeEv storage.Consumer[*ingest.Event]
	var storeAl storage.Consumer[*detect.Alert]
	detectIn, err1 := memory.NewConsumer[*ingest.Event](bus, storage.TopicEvents, "detect")
	storeEv, err2 := memory.NewConsumer[*ingest.Event](bus, storage.TopicEvents, "store")
	storeAl, err3 := memory.NewConsumer[*detect.Alert](bus, storage.TopicAlerts, "store")
	printAl, err4 := memory.NewConsumer[*detect.Alert](bus, storage.TopicAlerts, "print")
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return err
	}
	// The acks of the AWS sources wait until their batches are stored.
	var gate *ackGate
	if len(p.sources) > 0 {
		groups := []string{"store"}
		if p.notifier != nil {
			groups = append(groups, "notify")
		}
		gate = newAckGate(groups...)
		detectIn = gatedDetect{detectIn, gate, &alCount}
		storeEv = gatedStore{storeEv, gate}
		storeAl = gatedAlerts{storeAl, gate, "store"}
	}
	p.busUp.Store(true)
	defer p.busUp.Store(false)
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watcher sync.WaitGroup
	watcher.Go(func() { p.watchRules(watchCtx, p.hup, p.reloadEvery) })
	defer watcher.Wait()
	defer stopWatch()
	eventBatch := min(maxEventBatch, max(1, p.rc.busSize/2))

	ingestCtx, stopIngest := context.WithCancel(ctx)
	defer stopIngest()
	drainCtx, stopDrain := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDrain()
	done := make(chan struct{})
	defer close(done)
	go func() { // after an interrupt, the stages have the drain timeout to flush
		select {
		case <-done:
		case <-ctx.Done():
			t := time.NewTimer(p.rc.drain)
			defer t.Stop()
			select {
			case <-done:
			case <-t.C:
				stopDrain()
			}
		}
	}()

	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	stage := func(name string, f func() error) {
		wg.Go(func() {
			if err := f(); err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", name, err)
					stopIngest()
					stopDrain()
				}
				errMu.Unlock()
			}
		})
	}
	var acks sync.WaitGroup
	var ackErr error
	if gate != nil {
		acks.Go(func() {
			if err := gate.run(ctx, stopIngest); err != nil {
				ackErr = fmt.Errorf("ingest: %w", err)
			}
		})
		defer acks.Wait()
		defer gate.close()
	}
	stage("ingest", func() error { return p.ingest(ingestCtx, inputs, evProd, gate) })
	stage("detect", func() error {
		return p.detect(drainCtx, withLag(p, detectIn, &evCount, storage.TopicEvents, "detect"), alProd)
	})
	stage("store events", func() error {
		w, err := batch.New(batch.Config[*ingest.Event]{Size: eventBatch, DeadLetter: deadLetter(p, eventName)},
			ops.TimeFlush(p.metrics, storage.EventsTable, p.sink.InsertEvents))
		if err != nil {
			return err
		}
		p.metrics.WatchWriter(storage.EventsTable, w.Stats)
		err = storeStage(drainCtx, withLag(p, storeEv, &evCount, storage.TopicEvents, "store"), w, eventBatch, time.Second)
		p.evWriter = w.Stats()
		return err
	})
	stage("store alerts", func() error {
		w, err := batch.New(batch.Config[*detect.Alert]{Size: alertBatch, Interval: 200 * time.Millisecond,
			DeadLetter: deadLetter(p, alertName)}, ops.TimeFlush(p.metrics, storage.AlertsTable, p.sink.InsertAlerts))
		if err != nil {
			return err
		}
		p.metrics.WatchWriter(storage.AlertsTable, w.Stats)
		err = storeStage(drainCtx, withLag(p, storeAl, &alCount, storage.TopicAlerts, "store"), w, alertBatch, 200*time.Millisecond)
		p.alWriter = w.Stats()
		return err
	})
	stage("print", func() error { return p.print(drainCtx, withLag(p, printAl, &alCount, storage.TopicAlerts, "print")) })
	if p.notifier != nil {
		var notifyAl storage.Consumer[*detect.Alert]
		notifyAl, err := memory.NewConsumer[*detect.Alert](bus, storage.TopicAlerts, "notify")
		if err != nil {
			stopIngest()
			wg.Wait()
			return err
		}
		if gate != nil {
			notifyAl = gatedAlerts{notifyAl, gate, "notify"}
		}
		stage("notify", func() error {
			return p.notifier.Run(drainCtx, withLag(p, notifyAl, &alCount, storage.TopicAlerts, "notify"))
		})
	}
	wg.Wait()
	if gate != nil {
		gate.close()
		acks.Wait()
	}
	return errors.Join(firstErr, ackErr)
}

// ingest decodes the inputs in order onto the events topic while it drains
// the AWS sources, each in its own goroutine, and ends the topic when all
// are done: the inputs read and the finite sources exhausted. It stops
// reading when ctx ends; events decoded but not yet accepted by the bus are
// then dropped, as their input was not read to the end (a source's batch
// is not acknowledged). The sources' acks go to gate (nil without
// sources). The first error stops the others.
func (p *pipeline) ingest(ctx context.Context, inputs []input, out storage.Producer[*ingest.Event], gate *ackGate) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := &stages{cancel: cancel}
	for _, rs := range p.sources {
		st.goStage(rs.label, func() error { return p.drainRunSource(ctx, rs, out, gate) })
	}
	st.goStage("files", func() error { return p.readInputs(ctx, inputs, out) })
	err := st.wait()
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		err = nil // interrupted: stop reading, the other stages drain
	}
	return errors.Join(err, out.Close())
}

// readInputs decodes the inputs in order onto the events topic.
func (p *pipeline) readInputs(ctx context.Context, inputs []input, out storage.Producer[*ingest.Event]) error {
	buf := make([]storage.Message[*ingest.Event], 0, produceBatch)
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		err := out.Write(ctx, buf...)
		buf = buf[:0]
		return err
	}
	var err error
	for _, in := range inputs {
		if err = p.decode(ctx, in, func(ev *ingest.Event) error {
			buf = append(buf, storage.Message[*ingest.Event]{Key: []byte(eventKey(ev)), Value: ev})
			if len(buf) == cap(buf) {
				return flush()
			}
			return nil
		}); err == nil {
			err = flush()
		}
		if err != nil {
			break
		}
	}
	return err
}

// decode reads one input through the decoder of its detected log type.
// Problems of the input are reported and counted; only an error of emit or
// the end of ctx is returned.
func (p *pipeline) decode(ctx context.Context, in input, emit func(*ingest.Event) error) error {
	rc, err := in.open()
	if err != nil {
		p.inputFailed(in, err)
		return nil
	}
	defer rc.Close()
	typ, body, err := logtype.Prepare(rc, p.rc.limits, "")
	switch {
	case errors.Is(err, logtype.ErrEmpty):
		return nil
	case err != nil:
		p.inputFailed(in, fmt.Errorf("%s: %w", in.name, err))
		return nil
	}
	var emitErr error
	eventsIn := p.metrics.EventsIn.WithLabelValues(in.source, typ)
	decodeErrors := p.metrics.DecodeErrors.WithLabelValues(in.source)
	h := ingest.Handler{
		Event: func(ev *ingest.Event) error {
			if emitErr = emit(ev); emitErr == nil {
				eventsIn.Inc()
			}
			return emitErr
		},
		Bad: func(e *ingest.DecodeError) {
			decodeErrors.Inc()
			p.reportBad(e)
		},
	}
	err = p.decoders[typ].Decode(ctx, body, in.name, h)
	switch {
	case err == nil:
		return nil
	case emitErr != nil:
		return emitErr
	case ctx.Err() != nil:
		return ctx.Err()
	}
	p.inputFailed(in, fmt.Errorf("%s: %w", in.name, err))
	return nil
}

// badRecord counts and reports a malformed record of an AWS source,
// under the source's URL. The sources call it from their own goroutines.
func (p *pipeline) badRecord(source string, e *ingest.DecodeError) {
	p.metrics.DecodeErrors.WithLabelValues(source).Inc()
	p.reportBad(e)
}

// reportBad counts a malformed record and prints the first maxShown.
func (p *pipeline) reportBad(e *ingest.DecodeError) {
	p.bad.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.badShown < p.maxShown {
		p.badShown++
		fmt.Fprintf(p.errw, "decode error: %v\n", e)
	}
}

// inputFailed counts and reports an input that could not be read to the
// end, or a failed call of an AWS source (which the source retries).
func (p *pipeline) inputFailed(in input, err error) {
	p.metrics.InputErrors.WithLabelValues(in.source).Inc()
	p.failed.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.errw, "input error: %v\n", err)
}

// detect runs the matcher over the events topic, hands the signals of
// correlation rules to the correlator, and writes the alerts both open and
// close to the alerts topic; at the end of the events it closes every open
// alert and ends the alerts topic. An event is committed once the alerts it
// caused are on the bus. In one process the signals need no topic: there
// is one correlator, and it advances with the events' time.
//
// A reloaded rule set is swapped in between two events (see swapRules);
// the stage is woken for it while it waits for events.
func (p *pipeline) detect(ctx context.Context, in storage.Consumer[*ingest.Event], out storage.Producer[*detect.Alert]) error {
	defer in.Close()
	defer p.publishCorrelatorStats()
	write := func(alerts []*detect.Alert) error { return writeKeyed(ctx, out, alerts, alertKey) }
	// opened counts alerts as they open; a closing alert is counted when
	// it opened.
	opened := func(alerts []*detect.Alert) []*detect.Alert {
		for _, a := range alerts {
			p.metrics.Alerts.WithLabelValues(a.RuleID, a.Severity).Inc()
		}
		return alerts
	}
	// wait is the context of Fetch; reloadRules cancels it to wake the
	// stage, which then starts a new one.
	newWait := func() context.Context {
		wait, wake := context.WithCancel(ctx)
		p.wakeMu.Lock()
		p.wake = wake
		p.wakeMu.Unlock()
		return wait
	}
	wait := newWait()
	defer func() {
		p.wakeMu.Lock()
		p.wake()
		p.wake = nil
		p.wakeMu.Unlock()
	}()
	var watermark time.Time
	handled := 0
	for {
		if next := p.nextRules.Swap(nil); next != nil {
			closed, err := p.swapRules(next)
			if err != nil {
				p.metrics.RuleReloads.WithLabelValues("error").Inc()
				p.log.Error("rule reload failed; the running rules stay", "error", err)
			} else {
				p.metrics.RuleReloads.WithLabelValues("ok").Inc()
				p.log.Info("rules swapped in", "rules", next.enabled)
			}
			if err := write(closed); err != nil {
				return errors.Join(err, out.Close())
			}
		}
		msg, err := in.Fetch(wait)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && wait.Err() != nil && ctx.Err() == nil {
			wait = newWait() // woken for a reload
			continue
		}
		if err != nil {
			return errors.Join(err, out.Close())
		}
		ev := msg.Value
		p.events[ev.Type]++
		alerts := opened(p.matcher.Match(ev))
		sigs := p.matcher.Signals()
		for _, sig := range sigs {
			if err := p.correlator.Add(sig); err != nil {
				return errors.Join(err, out.Close())
			}
		}
		advanced := ev.Time.After(watermark)
		if advanced {
			watermark = ev.Time
			alerts = append(alerts, p.matcher.Advance(watermark)...)
		}
		// A suppressed rule's match opens its alert in the correlator at
		// once, even behind the watermark: take it now.
		if advanced || (len(sigs) > 0 && !watermark.IsZero()) {
			op, closed := p.correlator.Advance(watermark)
			alerts = append(append(alerts, opened(op)...), closed...)
		}
		if err := write(alerts); err != nil {
			return errors.Join(err, out.Close())
		}
		if err := in.Commit(ctx, msg); err != nil {
			return errors.Join(err, out.Close())
		}
		if handled++; handled%statsEvery == 0 {
			p.publishCorrelatorStats()
		}
	}
	alerts := p.matcher.Flush()
	op, closed := p.correlator.Flush()
	alerts = append(append(alerts, opened(op)...), closed...)
	return errors.Join(write(alerts), out.Close())
}

// storeStage writes what it consumes through w and commits it once w has
// written it: every commitEvery messages, when no message came for idle,
// when the oldest uncommitted message has waited idle (a steady trickle
// of messages, as from followed AWS sources, whose acks wait for the
// commit), and at the end of the topic.
func storeStage[T any](ctx context.Context, in storage.Consumer[T], w *batch.Writer[T], commitEvery int, idle time.Duration) (err error) {
	defer in.Close()
	defer func() { err = errors.Join(err, w.Close(ctx)) }()
	var last storage.Message[T]
	var oldest time.Time // when the first uncommitted message came
	pending := 0
	commit := func() error {
		if pending == 0 {
			return nil
		}
		if err := w.Flush(ctx); err != nil {
			return err
		}
		pending = 0
		return in.Commit(ctx, last)
	}
	for {
		fetchCtx, cancel := context.WithTimeout(ctx, idle)
		msg, err := in.Fetch(fetchCtx)
		cancel()
		switch {
		case errors.Is(err, io.EOF):
			return commit()
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			if err := commit(); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		}
		if err := w.Add(ctx, msg.Value); err != nil {
			return err
		}
		last = msg
		if pending++; pending == 1 {
			oldest = time.Now()
		}
		if pending >= commitEvery || time.Since(oldest) >= idle {
			if err := commit(); err != nil {
				return err
			}
		}
	}
}

// deadLetter returns a batch dead-letter function that counts and reports
// rows the store rejects.
func deadLetter[T any](p *pipeline, name func(T) string) func(T, error) {
	return func(row T, err error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.rejected++
		if p.rejected <= p.maxShown {
			fmt.Fprintf(p.errw, "store rejected %s: %v\n", name(row), err)
		}
	}
}

func eventName(ev *ingest.Event) string { return "event " + ev.ID + " from " + ev.Source }
func alertName(a *detect.Alert) string  { return "alert " + a.AlertID + " of " + a.RuleID }

// print prints each alert when it first fires, and again when it closes
// with a larger count.
func (p *pipeline) print(ctx context.Context, in storage.Consumer[*detect.Alert]) error {
	defer in.Close()
	for {
		msg, err := in.Fetch(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		a := msg.Value
		if n, ok := p.alerts[a.AlertID]; !ok || a.Count > n {
			p.alerts[a.AlertID] = a.Count
			if p.format == "text" {
				c := *a // the summary quotes logs: keep escape sequences off the terminal
				c.Summary = terminalSafe(c.Summary)
				a = &c
			}
			if p.format != "none" {
				if err := printAlerts(p.out, p.format, []*detect.Alert{a}); err != nil {
					return err
				}
			}
		}
		if err := in.Commit(ctx, msg); err != nil {
			return err
		}
	}
}

// summary prints the counts of the run and what the store now holds to
// stderr.
func (p *pipeline) summary(ctx context.Context, q storage.Querier, interrupted bool) error {
	if interrupted {
		fmt.Fprintln(p.errw, "interrupted: stopped reading; what was read is stored")
	}
	p.mu.Lock() // a source still stopping may report a bad record
	if bad := int(p.bad.Load()); bad > p.badShown {
		fmt.Fprintf(p.errw, "… %d more decode errors not shown\n", bad-p.badShown)
	}
	p.mu.Unlock()
	printRuleErrors(p.errw, p.matcher.Stats())
	for _, rs := range p.correlator.Stats().Rules {
		if rs.Late > 0 || rs.Evicted > 0 {
			fmt.Fprintf(p.errw, "rule %s: %d late signals not correlated, %d windows dropped at the cap\n", rs.ID, rs.Late, rs.Evicted)
		}
	}
	total, detail := eventCounts(p.events)
	fmt.Fprintf(p.errw, "run: %d events%s, %d decode errors, %d unreadable inputs, %d alerts\n",
		total, detail, p.bad.Load(), p.failed.Load(), len(p.alerts))
	fmt.Fprintf(p.errw, "run: wrote %d event rows and %d alert rows in %d batches, %d retries, %d rows rejected\n",
		p.evWriter.Rows, p.alWriter.Rows, p.evWriter.Batches+p.alWriter.Batches,
		p.evWriter.Retries+p.alWriter.Retries, p.rejected)
	counts := make([]any, 2)
	for i, t := range []string{storage.EventsTable, storage.AlertsTable} {
		id := "event_id"
		if t == storage.AlertsTable {
			id = "alert_id"
		}
		res, err := q.Query(ctx, "SELECT count(DISTINCT "+id+") FROM "+t)
		if err != nil {
			return fmt.Errorf("counting %s: %w", t, err)
		}
		counts[i] = res.Rows[0][0]
	}
	fmt.Fprintf(p.errw, "store: %v events, %v alerts\n", counts...)
	return nil
}
