package ops

import (
	"context"
	"regexp"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/detect/correlate"
	"github.com/vigilsec/vigil/detect/notify"
	"github.com/vigilsec/vigil/storage/batch"
)

// Metrics holds vigil's metrics on its own registry. Counters that a stage
// increments are fields; the counters the stages keep themselves (matcher,
// correlator, batch writers, bus) are read at scrape time through the
// Watch methods.
type Metrics struct {
	// Registry holds every metric below, plus the Go runtime and process
	// collectors.
	Registry *prometheus.Registry

	// EventsIn counts events put on the bus, by source and log type.
	EventsIn *prometheus.CounterVec
	// DecodeErrors counts malformed records, by source.
	DecodeErrors *prometheus.CounterVec
	// InputErrors counts inputs that could not be read to the end, by
	// source.
	InputErrors *prometheus.CounterVec
	// Alerts counts alerts as they open, by rule and severity.
	Alerts *prometheus.CounterVec
	// StoreBatchRows observes the rows of each batch written, by table.
	StoreBatchRows *prometheus.HistogramVec
	// StoreFlushSeconds observes how long each batch write took, by table
	// and result (ok, error).
	StoreFlushSeconds *prometheus.HistogramVec
	// RuleReloads counts rule reloads, by result (ok, error).
	RuleReloads *prometheus.CounterVec
	// RulesLoaded is the number of enabled rules running.
	RulesLoaded prometheus.Gauge
	// RulesReloadedAt is the Unix time of the last successful load.
	RulesReloadedAt prometheus.Gauge
	// LogSuppressed counts log records dropped by the rate limit.
	LogSuppressed prometheus.Counter
	// BusPartitionLag is the lag of a consumer group on one partition of
	// a Kafka topic: the messages written and not yet committed, by topic,
	// group and partition. The Kafka roles set it; vigil_bus_lag_messages
	// is its sum over partitions.
	BusPartitionLag *prometheus.GaugeVec
	// CorrelatorSnapshots counts the correlator state snapshots saved to
	// and restored from the bus, by op (save, restore) and result (ok,
	// error; a restore that found none is not counted).
	CorrelatorSnapshots *prometheus.CounterVec

	collectors []prometheus.Collector

	mu      sync.Mutex
	matcher func() detect.Stats
	retired map[string]detect.RuleStats // counters of replaced matchers
	retEv   detect.Stats
	corr    func() correlate.Stats
	corrRet map[string]correlate.RuleStats
	writers map[string]func() batch.Stats
	lags    map[[2]string]func() int64
	notify  func() notify.Stats
}

// New returns the metrics on a fresh registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		EventsIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_ingest_events_total",
			Help: "Events decoded and put on the bus."}, []string{"source", "log_type"}),
		DecodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_ingest_decode_errors_total",
			Help: "Malformed records reported by the decoders."}, []string{"source"}),
		InputErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_ingest_input_errors_total",
			Help: "Inputs that could not be read to the end."}, []string{"source"}),
		Alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_detect_alerts_total",
			Help: "Alerts opened."}, []string{"rule", "severity"}),
		StoreBatchRows: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vigil_store_batch_rows",
			Help: "Rows per batch written to the store.", Buckets: prometheus.ExponentialBuckets(1, 4, 9)}, []string{"table"}),
		StoreFlushSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vigil_store_flush_seconds",
			Help: "Time to write one batch to the store.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 9)}, []string{"table", "result"}),
		RuleReloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_rules_reloads_total",
			Help: "Rule set reloads by result."}, []string{"result"}),
		RulesLoaded: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_rules_loaded",
			Help: "Enabled rules running."}),
		RulesReloadedAt: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_rules_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful rule load."}),
		LogSuppressed: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_log_suppressed_total",
			Help: "Log records dropped by the rate limit on repeated messages."}),
		BusPartitionLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vigil_bus_partition_lag_messages",
			Help: "Messages written to a partition and not yet committed by a consumer group."}, []string{"topic", "group", "partition"}),
		CorrelatorSnapshots: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_correlate_snapshots_total",
			Help: "Correlator state snapshots saved and restored, by op and result."}, []string{"op", "result"}),
		retired: map[string]detect.RuleStats{},
		corrRet: map[string]correlate.RuleStats{},
		writers: map[string]func() batch.Stats{},
		lags:    map[[2]string]func() int64{},
	}
	m.collectors = []prometheus.Collector{m.EventsIn, m.DecodeErrors, m.InputErrors, m.Alerts, m.StoreBatchRows,
		m.StoreFlushSeconds, m.RuleReloads, m.RulesLoaded, m.RulesReloadedAt, m.LogSuppressed,
		m.BusPartitionLag, m.CorrelatorSnapshots,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		(*statsCollector)(m)}
	m.Registry.MustRegister(m.collectors...)
	return m
}

var fqNameRE = regexp.MustCompile(`fqName: "([^"]+)"`)

// Names returns the name of every metric family the registry can expose,
// sorted, whether or not it has a sample yet. A histogram's series add
// _bucket, _sum and _count to its name.
func (m *Metrics) Names() []string {
	ch := make(chan *prometheus.Desc)
	go func() {
		for _, c := range m.collectors {
			c.Describe(ch)
		}
		close(ch)
	}()
	var names []string
	for d := range ch {
		if sub := fqNameRE.FindStringSubmatch(d.String()); sub != nil {
			names = append(names, sub[1])
		}
	}
	sort.Strings(names)
	return slices.Compact(names)
}

// WatchMatcher makes the rule metrics read stats, which returns the
// current matcher's counters (detect.Matcher.Stats is safe at any time).
func (m *Metrics) WatchMatcher(stats func() detect.Stats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.matcher = stats
}

// Replace adds the final counters of a matcher and a correlator being
// replaced (on a rule reload) to the totals, so that per-rule counters keep
// growing, and calls swap, which makes the watched functions return the
// new ones' stats, under the lock that scrapes take: no scrape sees both or
// neither.
func (m *Metrics) Replace(lastMatcher detect.Stats, lastCorrelator correlate.Stats, swap func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.retEv.Events += lastMatcher.Events
	for _, r := range lastMatcher.Rules {
		o := m.retired[r.ID].AddCounts(r)
		o.ID = r.ID
		m.retired[r.ID] = o
	}
	for _, r := range lastCorrelator.Rules {
		o := m.corrRet[r.ID].AddCounts(r)
		o.ID = r.ID
		m.corrRet[r.ID] = o
	}
	swap()
}

// WatchCorrelator makes the correlation metrics read stats. The
// correlator is not safe for concurrent use, so stats should return a copy
// its goroutine publishes. Its correlation state carries over a reload
// (open windows are not added up).
func (m *Metrics) WatchCorrelator(stats func() correlate.Stats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.corr = stats
}

// WatchWriter makes the store metrics of table read a batch writer's stats.
func (m *Metrics) WatchWriter(table string, stats func() batch.Stats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writers[table] = stats
}

// WatchLag makes vigil_bus_lag_messages of a topic and consumer group read
// lag: the messages written to the topic that the group has not committed.
func (m *Metrics) WatchLag(topic, group string, lag func() int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lags[[2]string{topic, group}] = lag
}

// WatchNotifier makes the notify metrics read a Notifier's stats
// (notify.Notifier.Stats).
func (m *Metrics) WatchNotifier(stats func() notify.Stats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.notify = stats
}

// TimeFlush wraps a store's batch write so that each call is observed in
// StoreBatchRows and StoreFlushSeconds.
func TimeFlush[T any](m *Metrics, table string, flush func(ctx context.Context, rows []T) error) func(ctx context.Context, rows []T) error {
	rows := m.StoreBatchRows.WithLabelValues(table)
	ok := m.StoreFlushSeconds.WithLabelValues(table, "ok")
	bad := m.StoreFlushSeconds.WithLabelValues(table, "error")
	return func(ctx context.Context, batch []T) error {
		start := time.Now()
		err := flush(ctx, batch)
		if err != nil {
			bad.Observe(time.Since(start).Seconds())
			return err
		}
		ok.Observe(time.Since(start).Seconds())
		rows.Observe(float64(len(batch)))
		return nil
	}
}

// Descriptions of the metrics read at scrape time.
var (
	descDetectEvents = prometheus.NewDesc("vigil_detect_events_total", "Events evaluated by the matcher.", nil, nil)
	descRuleEvals    = prometheus.NewDesc("vigil_detect_rule_evaluations_total", "Rule evaluations.", []string{"rule"}, nil)
	descRuleMatches  = prometheus.NewDesc("vigil_detect_rule_matches_total", "Rule evaluations that matched.", []string{"rule"}, nil)
	descRuleErrors   = prometheus.NewDesc("vigil_detect_rule_errors_total", "Rule evaluations that failed.", []string{"rule"}, nil)
	descRuleEvalTime = prometheus.NewDesc("vigil_detect_rule_eval_seconds_total",
		"Estimated time spent evaluating the rule: one evaluation in detect.EvalSampleEvery is timed and counted for the others.", []string{"rule"}, nil)
	descCorrSignals   = prometheus.NewDesc("vigil_correlate_signals_total", "Signals given to the correlator.", []string{"rule"}, nil)
	descCorrLate      = prometheus.NewDesc("vigil_correlate_late_total", "Signals older than the watermark, not correlated.", []string{"rule"}, nil)
	descCorrEvicted   = prometheus.NewDesc("vigil_correlate_evicted_total", "Windows or values dropped at a cap.", []string{"rule"}, nil)
	descCorrAlerts    = prometheus.NewDesc("vigil_correlate_alerts_total", "Correlation alerts opened.", []string{"rule"}, nil)
	descCorrOpen      = prometheus.NewDesc("vigil_correlate_open_windows", "Open windows, partial sequences, pending absences or learned values.", []string{"rule"}, nil)
	descCorrPending   = prometheus.NewDesc("vigil_correlate_pending_signals", "Signals waiting for the watermark.", nil, nil)
	descCorrWater     = prometheus.NewDesc("vigil_correlate_watermark_seconds", "Unix time of the correlator's watermark.", nil, nil)
	descStoreRows     = prometheus.NewDesc("vigil_store_rows_total", "Rows written to the store.", []string{"table"}, nil)
	descStoreBatches  = prometheus.NewDesc("vigil_store_batches_total", "Batches written to the store.", []string{"table"}, nil)
	descStoreRetries  = prometheus.NewDesc("vigil_store_retries_total", "Batch writes tried again after an error.", []string{"table"}, nil)
	descStoreDead     = prometheus.NewDesc("vigil_store_dead_lettered_total", "Rows the store rejected.", []string{"table"}, nil)
	descNotifyOK      = prometheus.NewDesc("vigil_notify_delivered_total", "Notifications a receiver accepted.", nil, nil)
	descNotifyFailed  = prometheus.NewDesc("vigil_notify_failed_attempts_total", "Delivery attempts that failed and were retried.", nil, nil)
	descNotifyDead    = prometheus.NewDesc("vigil_notify_dead_lettered_total", "Notifications given up on.", nil, nil)
	descNotifyDup     = prometheus.NewDesc("vigil_notify_duplicates_total", "Deliveries skipped because they were made before.", nil, nil)
	descNotifyStaging = prometheus.NewDesc("vigil_notify_skipped_staging_total", "Alerts of rules in mode: staging, stored and not notified.", nil, nil)
	descBusLag        = prometheus.NewDesc("vigil_bus_lag_messages", "Messages written to a topic and not yet committed by a consumer group.", []string{"topic", "group"}, nil)
)

// statsCollector reads the watched stats at scrape time.
type statsCollector Metrics

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDetectEvents, descRuleEvals, descRuleMatches,
		descRuleErrors, descCorrSignals, descCorrLate, descCorrEvicted, descCorrAlerts, descCorrOpen,
		descCorrPending, descCorrWater, descStoreRows, descStoreBatches, descStoreRetries, descStoreDead, descBusLag,
		descNotifyOK, descNotifyFailed, descNotifyDead, descNotifyDup, descRuleEvalTime, descNotifyStaging} {
		ch <- d
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	var ms detect.Stats
	if c.matcher != nil {
		ms = c.matcher()
	}
	rules := map[string]detect.RuleStats{}
	for id, r := range c.retired {
		rules[id] = r
	}
	for _, r := range ms.Rules {
		rules[r.ID] = rules[r.ID].AddCounts(r)
	}
	counter(descDetectEvents, float64(ms.Events+c.retEv.Events))
	for _, id := range sortedKeys(rules) {
		r := rules[id]
		counter(descRuleEvals, float64(r.Evals), id)
		counter(descRuleMatches, float64(r.Matches), id)
		counter(descRuleErrors, float64(r.Errors), id)
		counter(descRuleEvalTime, r.EvalTime.Seconds(), id)
	}
	var cs correlate.Stats
	if c.corr != nil {
		cs = c.corr()
	}
	corr := map[string]correlate.RuleStats{}
	for id, r := range c.corrRet {
		corr[id] = correlate.RuleStats{ID: id, Signals: r.Signals, Late: r.Late, Evicted: r.Evicted, Alerts: r.Alerts}
	}
	for _, r := range cs.Rules {
		o := corr[r.ID].AddCounts(r)
		o.Open = r.Open
		corr[r.ID] = o
	}
	for _, id := range sortedKeys(corr) {
		r := corr[id]
		counter(descCorrSignals, float64(r.Signals), id)
		counter(descCorrLate, float64(r.Late), id)
		counter(descCorrEvicted, float64(r.Evicted), id)
		counter(descCorrAlerts, float64(r.Alerts), id)
		gauge(descCorrOpen, float64(r.Open), id)
	}
	gauge(descCorrPending, float64(cs.Pending))
	if !cs.Watermark.IsZero() {
		gauge(descCorrWater, float64(cs.Watermark.UnixNano())/1e9)
	}
	for _, table := range sortedKeys(c.writers) {
		s := c.writers[table]()
		counter(descStoreRows, float64(s.Rows), table)
		counter(descStoreBatches, float64(s.Batches), table)
		counter(descStoreRetries, float64(s.Retries), table)
		counter(descStoreDead, float64(s.DeadLettered), table)
	}
	if c.notify != nil {
		s := c.notify()
		counter(descNotifyOK, float64(s.Delivered))
		counter(descNotifyFailed, float64(s.Failed))
		counter(descNotifyDead, float64(s.DeadLettered))
		counter(descNotifyDup, float64(s.Duplicates))
		counter(descNotifyStaging, float64(s.SkippedStaging))
	}
	keys := make([][2]string, 0, len(c.lags))
	for k := range c.lags {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+"\x00"+keys[i][1] < keys[j][0]+"\x00"+keys[j][1] })
	for _, k := range keys {
		gauge(descBusLag, float64(c.lags[k]()), k[0], k[1])
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
