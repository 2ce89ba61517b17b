package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goccy/go-json"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/vigilsec/vigil/cmd/vigil/ops"
	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/detect/notify"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/clickhouse"
	"github.com/vigilsec/vigil/storage/kafka"
)

// groupNotify is the consumer group of the notify role.
const groupNotify = "vigil-notify"

// runNotifyBus runs the notify role: vigil.alerts → the destinations of the
// configuration's notify section (or --webhook URLs). A message is committed
// once its alert is delivered or dead-lettered at every destination it
// routes to (notify.Notifier.Run); the delivery state keeps a redelivered
// alert from reaching a destination twice. With a ClickHouse store the
// state is its alert_deliveries table, so replicas share it and a
// partition that moves to another replica (or pod) keeps it; without one
// it is the --delivery-log file. Undeliverable alerts and undecodable
// messages go to vigil.deadletter.
func runNotifyBus(ctx context.Context, args []string, s stdio) error {
	fl := newFlags("notify", s.err,
		"usage: vigil notify (--config FILE | --bus kafka://HOST:9092 --webhook URL...) [--store clickhouse://HOST:9000/DB | --delivery-log FILE]")
	rf := addRoleFlags(fl)
	var webhooks stringList
	fl.Var(&webhooks, "webhook", "URL of a signed generic webhook (repeatable); secret from "+webhookSecretEnv)
	insecure := fl.Bool("webhook-allow-insecure", false, "permit http:// --webhook URLs on loopback")
	fl.String("store", "", "ClickHouse: clickhouse://host:9000/database (default: store.url of --config); its alert_deliveries table "+
		"keeps the delivery state, shared by every replica; the password comes from store.password")
	logPath := fl.String("delivery-log", deliveryLogPath, "delivery state in a local file, used only when the store is not ClickHouse "+
		"(a clickhouse:// store.url or --store keeps it in alert_deliveries, and then this flag is an error); "+
		"one replica only, on a persistent volume")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 || (*rf.config == "" && len(webhooks) == 0) {
		fl.Usage()
		return exitError(2)
	}
	r, err := setupRole(fl, rf, s, roleSetup{name: "notify", bus: true})
	if err != nil {
		return err
	}
	logSet := false
	fl.Visit(func(f *flag.Flag) { logSet = logSet || f.Name == "delivery-log" })
	if logSet && strings.HasPrefix(r.cfg.Store.URL, "clickhouse://") {
		return errors.New("--delivery-log is for a notify role without a ClickHouse store: with store.url (or --store) clickhouse://… " +
			"the delivery state is kept in its alert_deliveries table, shared by every replica; drop --delivery-log")
	}
	c := r.cfg.Notify
	if len(webhooks) > 0 {
		if err := c.AddWebhookShortcut(webhooks, webhookSecretEnv, *insecure); err != nil {
			return err
		}
	}
	if len(c.Destinations) == 0 {
		return errors.New("no destinations: give notify.destinations in --config or --webhook URL")
	}
	cfg, log := r.kafka, r.log
	r.lag.watch(cfg.Topics.Alerts, groupNotify)
	state, err := openNotifyState(ctx, r, *logPath)
	if err != nil {
		return err
	}
	defer state.close()
	if err := r.serve(ctx, state.checks...); err != nil {
		return err
	}
	defer r.Close()
	if err := state.ready(ctx); err != nil {
		return err
	}
	dl, err := kafka.NewDeadLetter(cfg)
	if err != nil {
		return err
	}
	defer dl.Close()
	c.Log = state.log
	c.DeadLetters = notifyDeadLetters{dl: dl}
	c.Logger = log
	n, err := notify.New(c)
	if err != nil {
		return err
	}
	r.metrics.WatchNotifier(n.Stats)
	in, err := kafka.NewConsumer(cfg, kafka.Subscription[*detect.Alert]{Topic: cfg.Topics.Alerts, Group: groupNotify, Codec: alertCodec})
	if err != nil {
		return err
	}
	defer in.Close()
	log.Info("notify started", "destinations", len(c.Destinations), "delivery_state", state.where)
	return n.Run(ctx, skipPoison{Consumer: in, dl: dl, ctx: ctx})
}

// notifyState is where the notify role keeps its delivery state.
type notifyState struct {
	log    notify.DeliveryLog
	where  string      // for the log: "clickhouse alert_deliveries" or the file's path
	checks []ops.Check // readiness of the store; none for a file
	// ready brings the store's schema up to date once the role serves
	// /readyz; nothing for a file.
	ready func(ctx context.Context) error
	close func() error
}

// openNotifyState opens the delivery state of the notify role: the
// alert_deliveries table of the ClickHouse store when store.url is
// clickhouse:// (every replica, and every pod a partition moves to, sees
// the same rows), else the file at logPath, which only a single replica
// with a persistent volume can rely on.
func openNotifyState(ctx context.Context, r *role, logPath string) (*notifyState, error) {
	if strings.HasPrefix(r.cfg.Store.URL, "clickhouse://") {
		storeURL, err := r.storeURL()
		if err != nil {
			return nil, err
		}
		st, err := clickhouse.Open(ctx, clickhouse.Config{URL: storeURL})
		if err != nil {
			return nil, err
		}
		return &notifyState{log: st, where: "clickhouse " + storage.DeliveriesTable, checks: []ops.Check{storeCheck(st)},
			ready: st.Migrate, close: st.Close}, nil
	}
	if dir := filepath.Dir(logPath); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("delivery log: %w", err)
		}
	}
	fl, err := notify.OpenFileLog(logPath)
	if err != nil {
		return nil, fmt.Errorf("delivery log: %w", err)
	}
	return &notifyState{log: fl, where: logPath, ready: func(context.Context) error { return nil }, close: fl.Close}, nil
}

// skipPoison hands the Notifier only decodable alerts: a poison message is
// sent to the dead-letter topic and skipped. It is not committed on its own
// (that could pass alerts still in flight); the commit of a later message
// of its partition covers it, and if none comes it is dead-lettered again
// after a restart.
type skipPoison struct {
	*kafka.Consumer[*detect.Alert]
	dl  *kafka.DeadLetter
	ctx context.Context
}

// Fetch returns the next decodable alert.
func (c skipPoison) Fetch(ctx context.Context) (storage.Message[*detect.Alert], error) {
	for {
		m, err := c.Consumer.Fetch(ctx)
		var pe *kafka.PoisonError
		if !errors.As(err, &pe) {
			return m, err
		}
		if err := c.dl.Send(context.WithoutCancel(c.ctx), pe.Letter(groupNotify)); err != nil {
			return m, fmt.Errorf("dead letter: %w", err)
		}
	}
}

// notifyDeadLetters puts the notifier's undeliverable alerts on the
// dead-letter topic: the alert as the value, the reason and destination in
// headers.
type notifyDeadLetters struct{ dl *kafka.DeadLetter }

// DeadLetter writes d and returns once Kafka has it.
func (n notifyDeadLetters) DeadLetter(ctx context.Context, d notify.DeadLetter) error {
	value, err := json.Marshal(d)
	if err != nil {
		return err
	}
	id := ""
	if d.Alert != nil {
		id = d.Alert.AlertID
	}
	return n.dl.Send(ctx, kafka.Letter{
		Topic: storage.TopicAlerts, Partition: -1, Offset: -1, Group: groupNotify,
		Key: []byte(id), Value: value,
		Headers: []kafkago.Header{{Key: kafka.HeaderID, Value: []byte(id)},
			{Key: "vigil-destination", Value: []byte(d.Destination)},
			{Key: "vigil-attempts", Value: fmt.Appendf(nil, "%d", d.Attempts)},
			{Key: "vigil-time", Value: []byte(d.Time.UTC().Format(time.RFC3339Nano))}},
		Reason: d.Reason,
	})
}
