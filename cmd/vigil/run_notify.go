package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/vigilsec/vigil/cmd/vigil/config"

	"github.com/vigilsec/vigil/detect/notify"
)

// webhookSecretEnv holds the Standard Webhooks secret (whsec_…) of the
// --webhook shortcut.
const webhookSecretEnv = "VIGIL_WEBHOOK_SECRET"

// deliveryLogPath is where vigil run keeps delivery state when its store
// cannot. Both stores can: DuckDB and ClickHouse keep it in their
// alert_deliveries table.
const deliveryLogPath = "vigil-data/deliveries.log"

// runNotifier builds the notifier of vigil run from the notify section of
// the configuration (with the --webhook shortcut already added), or
// returns nil when no route is configured. Delivery state goes to the
// store's alert_deliveries table when the store keeps one (DuckDB and
// ClickHouse do: with ClickHouse, every vigil run and notify role on the
// same database shares it), else to a file beside the data; close
// releases that file.
func runNotifier(c notify.Config, st store, log *slog.Logger) (n *notify.Notifier, close func() error, err error) {
	if len(c.Routes) == 0 && len(c.Destinations) == 0 {
		return nil, func() error { return nil }, nil
	}
	close = func() error { return nil }
	if dl, ok := st.(notify.DeliveryLog); ok {
		c.Log = dl
	} else {
		if err := os.MkdirAll(filepath.Dir(deliveryLogPath), 0o755); err != nil {
			return nil, nil, err
		}
		fl, err := notify.OpenFileLog(deliveryLogPath)
		if err != nil {
			return nil, nil, fmt.Errorf("delivery log: %w", err)
		}
		c.Log, close = fl, fl.Close
	}
	c.Logger = log
	n, err = notify.New(c)
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("notify: %w", err), close())
	}
	return n, close, nil
}

// notifyConfigOf returns the notify section of the configuration file at
// path (none when empty), with the VIGIL_* variables applied, and the
// --webhook shortcut route added when webhooks are given.
func notifyConfigOf(path string, webhooks []string, allowInsecure bool) (notify.Config, error) {
	var c notify.Config
	if path != "" {
		vc, err := config.Load(path)
		if err != nil {
			return c, err
		}
		if _, err := vc.ApplyEnv(os.LookupEnv); err != nil {
			return c, err
		}
		c = vc.Notify
	}
	if len(webhooks) > 0 {
		if err := c.AddWebhookShortcut(webhooks, webhookSecretEnv, allowInsecure); err != nil {
			return c, err
		}
	}
	return c, nil
}
