package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/vigilsec/vigil/cmd/vigil/config"
	"github.com/vigilsec/vigil/cmd/vigil/ops"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/kafka"
)

// roleFlags are the flags every role command shares: the configuration
// file and its common overrides (--config, --listen, --log-format,
// --log-level) and, for the Kafka roles, the bus flags.
type roleFlags struct {
	config *string
	bus    busFlags // zero for migrate, which has no bus
}

// addRoleFlags adds the shared flags of a role with a bus.
func addRoleFlags(fl *flag.FlagSet) roleFlags {
	return roleFlags{config: addConfigFlags(fl), bus: addBusFlags(fl)}
}

// role is what a role command runs with once its flags and configuration
// are read: the effective configuration, the logger, the metrics and the
// readiness checks served on cfg.Listen, and the Kafka configuration when
// the role has a bus.
type role struct {
	cfg     config.Config
	kafka   kafka.Config
	log     *slog.Logger
	metrics *ops.Metrics
	lag     *lagWatcher // nil without a bus

	checks    []ops.Check
	transport *kafkago.Transport // of the probes; nil without a bus
	stopOps   func() error
	stopLag   context.CancelFunc
	lagDone   chan struct{}
	getenv    func(string) string
}

// Pauses between attempts to reach Kafka at the start of a role.
const (
	topicsRetryMin = time.Second
	topicsRetryMax = 30 * time.Second
)

// roleSetup says how a role is set up.
type roleSetup struct {
	// name is the command's name, for logs.
	name string
	// bus requires a Kafka bus (every role but migrate).
	bus bool
}

// setupRole reads the configuration of a role command: defaults, the
// --config file, the VIGIL_* variables, then the flags set on the command
// line (--bus, --store, --source, --rules, --lateness, --listen, --log-*).
// It builds the logger and the metrics and, for a role with a bus,
// resolves the Kafka configuration (TLS, SASL and its password) and the
// readiness check of the bus. Nothing is started: serve starts the
// metrics server and reaches Kafka, Close stops what serve started.
func setupRole(fl *flag.FlagSet, rf roleFlags, s stdio, rs roleSetup) (*role, error) {
	cfg, _, err := runConfigOf(fl, *rf.config, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	// Each role reads only the secrets it uses (the SASL password, the
	// store password, the destinations' variables), so that one file
	// serves every role.
	r := &role{cfg: cfg, getenv: os.Getenv, stopOps: func() error { return nil }}
	if rs.bus {
		if err := requireKafka(cfg.Bus.URL); err != nil {
			return nil, err
		}
	}
	level := cfg.Log.Level
	if rf.bus.verbose != nil && *rf.bus.verbose {
		level = "debug"
	}
	r.metrics = ops.New()
	if r.log, err = ops.NewLogger(s.err, cfg.Log.Format, level, r.metrics.LogSuppressed.Inc); err != nil {
		return nil, err
	}
	r.log = r.log.With("role", rs.name)
	if rs.bus {
		if r.kafka, err = kafkaConfigOf(cfg.Bus, os.Getenv); err != nil {
			return nil, err
		}
		r.kafka.Consumer.SessionTimeout = *rf.bus.session
		r.kafka.Consumer.HeartbeatInterval = *rf.bus.heartbeat
		r.kafka.Consumer.RebalanceTimeout = *rf.bus.rebalance
		// The bus logs its errors at Warn and its progress at Debug; at
		// info its progress would drown the role's own logs.
		kafkaLevel := level
		if kafkaLevel == "info" {
			kafkaLevel = "warn"
		}
		if r.kafka.Logger, err = ops.NewLogger(s.err, cfg.Log.Format, kafkaLevel, r.metrics.LogSuppressed.Inc); err != nil {
			return nil, err
		}
		r.kafka.Logger = r.kafka.Logger.With("role", rs.name)
		cl, dialer, err := r.kafka.Clients(kafkaRequestTimeout)
		if err != nil {
			return nil, err
		}
		r.transport = cl.Transport.(*kafkago.Transport)
		r.checks = append(r.checks, ops.Check{Name: "bus", Check: newBusProbe(dialer, r.kafka.Brokers).check})
		r.lag = newLagWatcher(cl, r.metrics, r.log)
	}
	return r, nil
}

// serve starts the server of /metrics, /healthz and /readyz on the
// configured listen address, with the role's checks plus extra, and for a
// role with a bus creates the topics and starts watching the lag of the
// groups registered with watchLag. While Kafka cannot be reached it
// retries, with /healthz answering 200 and /readyz 503, so that a broker
// restart does not crash the role; it gives up only when ctx ends. On an
// error everything it started is stopped.
func (r *role) serve(ctx context.Context, extra ...ops.Check) error {
	stop, err := startOps(ctx, r.cfg.Listen, r.cfg.Pprof, ops.Handler(r.metrics, append(r.checks, extra...)...), r.log)
	if err != nil {
		return err
	}
	r.stopOps = stop
	if r.lag == nil {
		return nil
	}
	for wait := topicsRetryMin; ; wait = min(2*wait, topicsRetryMax) {
		err := kafka.EnsureTopics(ctx, r.kafka)
		if err == nil {
			break
		}
		if ctx.Err() == nil {
			r.log.Warn("Kafka not reachable; retrying", "in", wait, "err", err)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
				continue
			}
		}
		if ctx.Err() != nil { // stopped while waiting: nothing was read
			return errors.Join(errStopped, r.Close())
		}
		return errors.Join(fmt.Errorf("creating topics: %w", err), r.Close())
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.stopLag, r.lagDone = cancel, make(chan struct{})
	go func() {
		defer close(r.lagDone)
		r.lag.run(lctx)
	}()
	return nil
}

// Close stops the metrics server and the lag watcher. It returns the
// server's error.
func (r *role) Close() error {
	if r.stopLag != nil {
		r.stopLag()
		<-r.lagDone
		r.stopLag = nil
	}
	if r.transport != nil {
		r.transport.CloseIdleConnections()
	}
	err := r.stopOps()
	r.stopOps = func() error { return nil }
	return err
}

// storeURL returns the ClickHouse URL of the configuration with its
// password (read from its variable or file) and retention; an error when
// the store is not ClickHouse. The URL holds a secret: never log it.
func (r *role) storeURL() (string, error) {
	if !strings.HasPrefix(r.cfg.Store.URL, "clickhouse://") {
		return "", fmt.Errorf("--store clickhouse://host:9000/database (or store.url in --config) is required, not %s", r.cfg.Store.URL)
	}
	return storeURLOf(r.cfg.Store, r.getenv)
}

// storeCheck is the readiness check of a store: it answers SELECT 1.
func storeCheck(st storage.Querier) ops.Check {
	return ops.Check{Name: "store", Check: func(ctx context.Context) error {
		_, err := st.Query(ctx, "SELECT 1")
		return err
	}}
}

// requireKafka reports a bus URL that is not Kafka: the role commands run
// on Kafka; the in-process bus is vigil run's.
func requireKafka(busURL string) error {
	if !strings.HasPrefix(busURL, "kafka://") {
		return fmt.Errorf("bus: want kafka://host:9092 (--bus or bus.url in --config), not %s; the in-process bus is for vigil run",
			redactURL(busURL))
	}
	return nil
}

// kafkaConfigOf returns the Kafka configuration of the bus section: the
// brokers and options of its URL, the client ID, TLS and SASL of
// bus.kafka, the SASL password read from its variable or file, and the
// default topic names.
func kafkaConfigOf(b config.Bus, getenv func(string) string) (kafka.Config, error) {
	c, err := kafka.ParseURL(b.URL)
	if err != nil {
		return kafka.Config{}, fmt.Errorf("bus.url: %w", err)
	}
	if k := b.Kafka.ClientID; k != "" && !strings.Contains(b.URL, "client_id=") {
		c.ClientID = k
	}
	if t := b.Kafka.TLS; t.Enabled || t.CAFile != "" || t.ServerName != "" {
		if c.TLS == nil {
			c.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if t.ServerName != "" {
			c.TLS.ServerName = t.ServerName
		}
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return kafka.Config{}, fmt.Errorf("bus.kafka.tls.ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return kafka.Config{}, fmt.Errorf("bus.kafka.tls.ca_file: no PEM certificate in %s", t.CAFile)
			}
			c.TLS.RootCAs = pool
		}
	}
	if s := b.Kafka.SASL; s.Username != "" {
		pw, err := s.Password.Value(getenv)
		if err != nil {
			return kafka.Config{}, fmt.Errorf("bus.kafka.sasl.password: %w", err)
		}
		c.SASL = kafka.SASL{Mechanism: s.Mechanism, Username: s.Username, Password: kafka.Secret(pw)}
		if c.SASL.Mechanism == "" {
			c.SASL.Mechanism = kafka.MechanismSCRAMSHA512
		}
	}
	for _, t := range []struct {
		name *string
		def  string
	}{
		{&c.Topics.Events, storage.TopicEvents}, {&c.Topics.Signals, storage.TopicSignals},
		{&c.Topics.Alerts, storage.TopicAlerts}, {&c.Topics.DeadLetter, storage.TopicDeadLetter},
	} {
		if *t.name == "" {
			*t.name = t.def
		}
	}
	if err := c.Validate(); err != nil {
		return kafka.Config{}, fmt.Errorf("bus: %w", err)
	}
	return c, nil
}
