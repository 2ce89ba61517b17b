package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/detect/notify"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/clickhouse"
	"github.com/vigilsec/vigil/storage/kafka"
)

// notifyTestSecret signs the test webhooks.
const notifyTestSecret = "whsec_dmlnaWwtbm90aWZ5LWNsaWNraG91c2UtMDE="

// freshClickHouse returns the URL of a new database, its name prefix and
// a random suffix (created on first use, dropped when t ends), on the
// ClickHouse server named by VIGIL_CLICKHOUSE_URL. Without the variable
// the test skips, or fails under CI=true, like the storage/clickhouse
// tests.
func freshClickHouse(t *testing.T, prefix string) *url.URL {
	t.Helper()
	raw := os.Getenv("VIGIL_CLICKHOUSE_URL")
	if raw == "" {
		msg := "VIGIL_CLICKHOUSE_URL is not set; start a server with `export VIGIL_CLICKHOUSE_URL=$(deploy/clickhouse/start.sh)`"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	db := prefix + hex.EncodeToString(b[:])
	u.Path = "/" + db
	opts, err := ch.ParseDSN(raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := ch.Open(opts)
		if err == nil {
			err = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
			conn.Close()
		}
		if err != nil {
			t.Errorf("dropping %s: %v", db, err)
		}
	})
	return u
}

// hookReceiver is a webhook receiver that counts requests per webhook-id
// (the alert ID).
type hookReceiver struct {
	mu  sync.Mutex
	ids map[string]int
	srv *httptest.Server
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{ids: map[string]int{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.ids[r.Header.Get(notify.HeaderID)]++
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// received returns a copy of the requests per webhook-id, and their sum.
func (h *hookReceiver) received() (map[string]int, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out, n := map[string]int{}, 0
	for id, c := range h.ids {
		out[id], n = c, n+c
	}
	return out, n
}

// tcpProxy forwards connections to target until it is cut: then it
// closes its listener and every connection, as a ClickHouse that went
// away.
type tcpProxy struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{l: l}
	t.Cleanup(p.cut)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *tcpProxy) addr() string { return p.l.Addr().String() }

func (p *tcpProxy) cut() {
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestNotifyRoleClickHouse runs the notify role with a ClickHouse store on
// an in-process broker. The first instance delivers three alerts, records
// them in alert_deliveries (readiness checks the store: 503 once it is
// gone) and stops. The group's offsets are then rewound, as after a crash
// before the commit or a partition moving to a replica on another pod,
// and a second instance with nothing on local disk re-reads the three
// alerts: it finds them delivered and sends none again. The rows are what
// an analyst queries.
func TestNotifyRoleClickHouse(t *testing.T) {
	t.Setenv(webhookSecretEnv, notifyTestSecret)
	chURL := freshClickHouse(t, "vigil_notify_")
	proxy := newTCPProxy(t, chURL.Host)
	viaProxy := *chURL
	viaProxy.Host = proxy.addr()

	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	bus := "kafka://" + cl.ListenAddrs()[0] + "?partitions=2"
	hook := newHookReceiver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	// startRole runs one notify instance; stop stops it and returns its
	// error and log.
	startRole := func(storeURL string) (base string, stop func() (string, error)) {
		base, stderr, done, cancel := startRole(t, ctx, runNotifyBus, "--bus", bus, "--store", storeURL, "--listen", "127.0.0.1:0",
			"--webhook", hook.srv.URL, "--webhook-allow-insecure", "--session-timeout", "1s", "--heartbeat", "100ms")
		waitReady(t, base, stderr)
		return base, func() (string, error) {
			cancel()
			select {
			case err := <-done:
				return stderr.String(), err
			case <-time.After(60 * time.Second):
				t.Fatalf("the role did not stop:\n%s", stderr.String())
				return "", nil
			}
		}
	}

	base, stop := startRole(viaProxy.String())
	cfg, err := kafka.ParseURL(bus)
	if err != nil {
		t.Fatal(err)
	}
	alerts, err := kafka.NewProducer(cfg, storage.TopicAlerts, alertCodec)
	if err != nil {
		t.Fatal(err)
	}
	defer alerts.Close()
	ids := []string{"ch-alert-1", "ch-alert-2", "ch-alert-3"}
	for _, id := range ids {
		a := &detect.Alert{AlertID: id, RuleID: "r", Title: "t", Severity: "high", Count: 1, FirstTime: time.Now(), LastTime: time.Now()}
		if err := alerts.Write(ctx, storage.Message[*detect.Alert]{Key: []byte(id), Value: a}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := clickhouse.Open(ctx, clickhouse.Config{URL: chURL.String()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	delivered := func() uint64 {
		res, err := st.Query(ctx, "SELECT uniqExact(alert_id) FROM alert_deliveries WHERE status = 'delivered'")
		if err != nil || len(res.Rows) != 1 {
			return 0
		}
		return res.Rows[0][0].(uint64)
	}
	pollUntil(t, "three delivered rows in alert_deliveries", func() bool { return delivered() == 3 }, &lockedBuffer{})

	proxy.cut()
	pollUntil(t, "/readyz 503 without ClickHouse", func() bool {
		code, body := httpGet(t, base+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "store:") && !strings.Contains(body, "bus:")
	}, &lockedBuffer{})
	if log, err := stop(); err != nil || !strings.Contains(log, `delivery_state="clickhouse alert_deliveries"`) {
		t.Fatalf("first notify role: %v; want it to log delivery_state=\"clickhouse alert_deliveries\"\n%s", err, log)
	}
	got, n := hook.received()
	if n != 3 {
		t.Fatalf("the first role sent %v, want each of %v once", got, ids)
	}

	rewindGroup(t, ctx, cl.ListenAddrs()[0], groupNotify, storage.TopicAlerts, 2)
	base, stop = startRole(chURL.String())
	pollUntil(t, "the second role to skip the three delivered alerts", func() bool {
		_, body := httpGet(t, base+"/metrics")
		return scrapedValue(body, "vigil_notify_duplicates_total") == 3
	}, &lockedBuffer{})
	_, body := httpGet(t, base+"/metrics")
	if v := scrapedValue(body, "vigil_notify_delivered_total"); v != 0 {
		t.Errorf("the second role delivered %v notifications, want 0", v)
	}
	if log, err := stop(); err != nil {
		t.Fatalf("second notify role: %v\n%s", err, log)
	}
	if got, n := hook.received(); n != 3 {
		t.Errorf("after the second role the receiver has %v: an alert was sent twice", got)
	}

	// The analyst's view: one delivered attempt per alert, at the
	// shortcut's destination.
	res, err := st.Query(ctx, "SELECT alert_id, destination, attempt, status FROM alert_deliveries ORDER BY alert_id")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 3 {
		t.Fatalf("alert_deliveries rows %v, want 3", res.Rows)
	}
	for i, row := range res.Rows {
		if row[0] != ids[i] || row[1] == "" || row[2] != uint32(1) || row[3] != "delivered" {
			t.Errorf("row %d = %v, want %s delivered at its first attempt", i, row, ids[i])
		}
	}
}

// rewindGroup commits offset 0 on every partition of topic for group,
// whose members have all left, so that the next member re-reads the
// topic from the start.
func rewindGroup(t *testing.T, ctx context.Context, broker, group, topic string, partitions int) {
	t.Helper()
	var commits []kafkago.OffsetCommit
	for p := range partitions {
		commits = append(commits, kafkago.OffsetCommit{Partition: p, Offset: 0})
	}
	c := &kafkago.Client{Addr: kafkago.TCP(broker), Timeout: 10 * time.Second}
	var lastErr error
	for range 50 { // the group may still be settling after its member left
		resp, err := c.OffsetCommit(ctx, &kafkago.OffsetCommitRequest{GroupID: group, GenerationID: -1,
			Topics: map[string][]kafkago.OffsetCommit{topic: commits}})
		if err == nil {
			var errs []error
			for _, p := range resp.Topics[topic] {
				errs = append(errs, p.Error)
			}
			if err = errors.Join(errs...); err == nil && len(resp.Topics[topic]) == partitions {
				return
			}
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("rewinding group %s: %v", group, lastErr)
}

// TestNotifyRoleDeliveryLogWithClickHouse checks the precedence: with a
// ClickHouse store the delivery state is alert_deliveries, and asking for
// a local file as well is an error that says why.
func TestNotifyRoleDeliveryLogWithClickHouse(t *testing.T) {
	t.Setenv(webhookSecretEnv, notifyTestSecret)
	stderr := &lockedBuffer{}
	err := runNotifyBus(t.Context(), []string{"--bus", "kafka://127.0.0.1:1", "--store", "clickhouse://127.0.0.1:1/vigil",
		"--webhook", "https://hooks.example.com/vigil", "--delivery-log", filepath.Join(t.TempDir(), "d.log")},
		stdio{out: io.Discard, err: stderr})
	if err == nil || !strings.Contains(err.Error(), "alert_deliveries") || !strings.Contains(err.Error(), "--delivery-log") {
		t.Errorf("runNotifyBus = %v; want an error naming --delivery-log and alert_deliveries", err)
	}
}

// TestRunDeliveriesClickHouse runs the demo twice with --webhook into a
// ClickHouse store: the first run sends every alert once and records it
// in alert_deliveries, the second run finds them delivered and sends
// nothing; no local delivery log is written.
func TestRunDeliveriesClickHouse(t *testing.T) {
	t.Setenv(webhookSecretEnv, notifyTestSecret)
	storeURL := freshClickHouse(t, "vigil_notify_").String()
	hook := newHookReceiver(t)
	t.Chdir(t.TempDir())
	var first map[string]int
	for i := range 2 {
		code, _, errw := vigil(t, "", "run", "--demo", "--format", "none", "--store", storeURL,
			"--webhook", hook.srv.URL+"/hook", "--webhook-allow-insecure")
		if code != 0 {
			t.Fatalf("run %d: exit %d\n%s", i, code, errw)
		}
		got, n := hook.received()
		if i == 0 {
			first = got
			if n == 0 || n != len(got) {
				t.Fatalf("first run sent %v: want every alert once", got)
			}
			continue
		}
		if n != len(first) {
			t.Errorf("second run sent again: %v (first run %v)", got, first)
		}
	}
	code, out, errw := vigil(t, "", "query", "--store", storeURL, "--format", "json",
		"SELECT uniqExact(alert_id) AS alerts, countIf(status != 'delivered') AS other FROM alert_deliveries")
	if code != 0 {
		t.Fatalf("query: exit %d\n%s", code, errw)
	}
	var rows struct{ Alerts, Other uint64 }
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if rows.Alerts != uint64(len(first)) || rows.Other != 0 {
		t.Errorf("alert_deliveries: %+v; want %d alerts, all delivered", rows, len(first))
	}
	if _, err := os.Stat(deliveryLogPath); err == nil {
		t.Errorf("the ClickHouse store keeps delivery state, yet %s was written", deliveryLogPath)
	}
}
