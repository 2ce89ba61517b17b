package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"testing"
	"time"
)

// alertmanagerEnv names the variable holding the base URL of a running
// Alertmanager, as printed by deploy/alertmanager/start.sh.
const alertmanagerEnv = "VIGIL_ALERTMANAGER_URL"

// alertmanagerURL returns the test server's URL, skipping the test when
// there is none (failing it under CI=true, where the server must be up).
// Only loopback servers are used: tests never leave the machine.
func alertmanagerURL(t *testing.T) *url.URL {
	t.Helper()
	raw := os.Getenv(alertmanagerEnv)
	fail := func(why string) {
		msg := "Alertmanager integration test: " + why +
			"; start one with `export " + alertmanagerEnv + "=$(deploy/alertmanager/start.sh)`"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if raw == "" {
		fail(alertmanagerEnv + " is not set")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%s: %v", alertmanagerEnv, err)
	}
	if a, err := netip.ParseAddr(u.Hostname()); err != nil || !a.IsLoopback() {
		t.Fatalf("%s=%s: tests only talk to a loopback address", alertmanagerEnv, raw)
	}
	resp, err := http.Get(u.JoinPath("/-/ready").String())
	if err != nil {
		fail("cannot reach " + raw + ": " + err.Error())
	}
	resp.Body.Close()
	return u
}

// gettableAlert is the part of GET /api/v2/alerts the test reads.
type gettableAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

// A real Alertmanager receives vigil alerts and lists them on its API,
// once however often the alert is delivered.
func TestAlertmanagerServer(t *testing.T) {
	base := alertmanagerURL(t)
	host := base.Hostname()
	c := Config{
		Outbound: Outbound{AllowHTTP: []string{host}, AllowNetworks: []string{host}},
		Destinations: []DestinationConfig{
			{Name: "am", Type: TypeAlertmanager, URL: base.String(), Link: "https://vigil.example/alerts/{{ .AlertID }}"},
		},
		Routes: []Route{{Name: "all", Default: true, Destinations: []string{"am"}}},
	}
	log := NewMemoryLog()
	c.Log = log
	n := mustNew(t, c)

	var b [6]byte
	_, _ = rand.Read(b[:])
	a := hostileAlert()
	a.Runbook = "Confirm the user with the account owner."
	a.AlertID = "itest-" + hex.EncodeToString(b[:])
	a.FirstTime = time.Now().UTC().Add(-time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Deliver(ctx, a); err != nil {
		t.Fatal(err)
	}
	if as := log.Attempts(); len(as) != 1 || as[0].Status != StatusDelivered {
		t.Fatalf("attempts = %+v", as)
	}
	// A second delivery is suppressed by the log; a fresh notifier (a
	// restart without durable state) posting again updates the same
	// Alertmanager alert, thanks to the alert_id label.
	if err := n.Deliver(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := mustNew(t, c).Deliver(ctx, a); err != nil {
		t.Fatal(err)
	}

	q := base.JoinPath("/api/v2/alerts")
	q.RawQuery = url.Values{"filter": {`alert_id="` + a.AlertID + `"`}}.Encode()
	resp, err := http.Get(q.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []gettableAlert
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("Alertmanager lists %d alerts with alert_id %s, want 1: %+v", len(got), a.AlertID, got)
	}
	g := got[0]
	for k, want := range map[string]string{
		"alertname": "aws-iam-user-created", "rule_id": "aws-iam-user-created", "severity": "critical",
		"account": "111122223333", "tags": "attack.persistence,attack.t1136.003", "log_type": "cloudtrail",
	} {
		if g.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, g.Labels[k], want)
		}
	}
	if g.Annotations["runbook"] != "Confirm the user with the account owner." || g.Annotations["summary"] == "" {
		t.Errorf("annotations = %v", g.Annotations)
	}
	if g.Status.State != "active" {
		t.Errorf("state = %q, want active", g.Status.State)
	}
}
