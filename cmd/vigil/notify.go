package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vigilsec/vigil/detect/notify"
)

// runNotify is the notify role on Kafka (vigil notify --bus …), or with
// the word test, a check of one route's destinations.
func runNotify(ctx context.Context, args []string, s stdio) error {
	if len(args) > 0 && args[0] == "test" {
		return runNotifyTest(ctx, args[1:], s)
	}
	return runNotifyBus(ctx, args, s)
}

// runNotifyTest sends a sample alert through one route so an operator can
// check its destinations. It prints one line per destination and exits 1
// when any of them did not accept the alert.
func runNotifyTest(ctx context.Context, args []string, s stdio) error {
	fl := newFlags("notify test", s.err,
		"usage: vigil notify test --route NAME [--config FILE] [--webhook URL]... [--webhook-allow-insecure]",
		"Sends a sample alert (severity info, a fresh alert ID) to every destination of the route.")
	cfgPath := fl.String("config", "", "vigil configuration file (vigil.yaml); its notify section is used")
	route := fl.String("route", "", "route to send the sample alert through (required)")
	var webhooks stringList
	fl.Var(&webhooks, "webhook", "URL of a signed generic webhook (repeatable); adds the route \""+notify.ShortcutRoute+"\"; secret from "+webhookSecretEnv)
	insecure := fl.Bool("webhook-allow-insecure", false, "permit http:// --webhook URLs on loopback")
	attempts := fl.Int("attempts", 1, "attempts per destination (retries follow the configured backoff)")
	timeout := fl.Duration("timeout", 30*time.Second, "give up after this long")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *route == "" || fl.NArg() > 0 || (*cfgPath == "" && len(webhooks) == 0) {
		fl.Usage()
		return exitError(2)
	}
	if *attempts < 1 {
		return errors.New("--attempts must be at least 1")
	}
	c, err := notifyConfigOf(*cfgPath, webhooks, *insecure)
	if err != nil {
		return err
	}
	c.Retry.MaxAttempts = *attempts
	c.Logger = slog.New(slog.NewTextHandler(s.err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := notify.New(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	results, err := n.Test(ctx, *route)
	failed := 0
	for _, r := range results {
		if r.Status == notify.StatusDelivered {
			fmt.Fprintf(s.out, "ok    %s\n", r.Destination)
			continue
		}
		failed++
		fmt.Fprintf(s.out, "FAIL  %s: %s\n", r.Destination, r.Reason)
	}
	if err != nil {
		return err
	}
	if failed > 0 {
		return exitError(1)
	}
	return nil
}
