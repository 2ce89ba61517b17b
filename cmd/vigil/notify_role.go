package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/goccy/go-json"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/detect/notify"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/kafka"
)

// groupNotify is the consumer group of the notify role.
const groupNotify = "vigil-notify"

// runNotifyBus runs the notify role: vigil.alerts → the destinations of the
// configuration's notify section (or --webhook URLs). A message is committed
// once its alert is delivered or dead-lettered at every destination it
// routes to (notify.Notifier.Run); the delivery log keeps a redelivered
// alert from reaching a destination twice. Undeliverable alerts and
// undecodable messages go to vigil.deadletter.
func runNotifyBus(ctx context.Context, args []string, s stdio) error {
	fl := newFlags("notify", s.err)
	rf := addRoleFlags(fl)
	var webhooks stringList
	fl.Var(&webhooks, "webhook", "URL of a signed generic webhook (repeatable); secret from "+webhookSecretEnv)
	insecure := fl.Bool("webhook-allow-insecure", false, "permit http:// --webhook URLs on loopback")
	logPath := fl.String("delivery-log", "vigil-data/deliveries.log", "durable delivery log: which alert reached which destination")
	fl.Usage = func() {
		fmt.Fprintln(s.err, "usage: vigil notify (--config FILE | --bus kafka://HOST:9092 --webhook URL...) [--delivery-log FILE]")
		fl.PrintDefaults()
	}
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
	if err := r.serve(ctx); err != nil {
		return err
	}
	defer r.Close()
	dl, err := kafka.NewDeadLetter(cfg)
	if err != nil {
		return err
	}
	defer dl.Close()
	flog, err := notify.OpenFileLog(*logPath)
	if err != nil {
		return err
	}
	defer flog.Close()
	c.Log = flog
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
	log.Info("notify started", "destinations", len(c.Destinations))
	return n.Run(ctx, skipPoison{Consumer: in, dl: dl, ctx: ctx})
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
