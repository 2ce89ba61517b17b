package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/detect/notify"
)

// TestRunWebhookShortcut runs the demo with --webhook: every alert reaches
// the receiver once, signed with the secret from VIGIL_WEBHOOK_SECRET.
func TestRunWebhookShortcut(t *testing.T) {
	const secret = "whsec_dmlnaWwtcnVuLXdlYmhvb2stc2VjcmV0LTAx"
	t.Setenv(webhookSecretEnv, secret)
	key, err := notify.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		ids      = map[string]int{}
		bad      []string
		runbooks = map[string]string{} // rule → the runbook its notifications carried
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if err := notify.Verify([]notify.Secret{key}, r.Header, body, time.Now()); err != nil {
			bad = append(bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		ids[r.Header.Get(notify.HeaderID)]++
		var b notify.WebhookBody
		if err := json.Unmarshal(body, &b); err == nil && b.Alert != nil {
			runbooks[b.RuleID] = b.Runbook
		}
	}))
	defer srv.Close()

	dir := t.TempDir()
	t.Chdir(dir)
	code, out, errw := vigil(t, "", "run", "--demo", "--format", "json", "--store", "duckdb://"+filepath.Join(dir, "v.duckdb"),
		"--webhook", srv.URL+"/hook", "--webhook-allow-insecure")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errw)
	}
	alerts := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		i := strings.Index(line, `"alert_id":"`)
		if i < 0 {
			t.Fatalf("alert line without alert_id: %s", line)
		}
		alerts[line[i+12:i+12+32]] = true
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("badly signed deliveries: %v", bad)
	}
	if len(alerts) == 0 || len(ids) != len(alerts) {
		t.Fatalf("%d alerts, %d delivered", len(alerts), len(ids))
	}
	for id, n := range ids {
		if !alerts[id] || n != 1 {
			t.Errorf("webhook-id %s delivered %d times (alert printed: %v)", id, n, alerts[id])
		}
	}
	// The rules' runbooks travel with their alerts to the receivers.
	if rb := runbooks["aws-root-account-usage"]; !strings.Contains(rb, "root") {
		t.Errorf("root account usage notified with runbook %q, want the rule's", rb)
	}
	if _, err := os.Stat(deliveryLogPath); err == nil {
		t.Errorf("the DuckDB store keeps delivery state, yet %s was written", deliveryLogPath)
	}
}
