package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/vigilsec/vigil/cmd/vigil/config"
	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/kafka"
)

// writeConfig writes a configuration file and returns its path.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var opsAddrRE = regexp.MustCompile(`msg="serving /metrics, /healthz and /readyz".* addr=(\S+)`)

// opsAddr waits for a role's log to say where it serves /metrics.
func opsAddr(t *testing.T, stderr *lockedBuffer, done <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := opsAddrRE.FindStringSubmatch(stderr.String()); m != nil {
			return "http://" + m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("role ended before serving: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("the role does not serve /metrics:\n%s", stderr.String())
	return ""
}

// startRole starts the role command run with args, which runs until stop
// is called or ctx ends, and returns the base URL of its /metrics, /healthz
// and /readyz once it serves them, its log, and the channel of its result.
func startRole(t *testing.T, ctx context.Context, run func(context.Context, []string, stdio) error,
	args ...string) (base string, stderr *lockedBuffer, done <-chan error, stop context.CancelFunc) {
	t.Helper()
	roleCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	ch := make(chan error, 1)
	stderr = &lockedBuffer{}
	go func() { ch <- run(roleCtx, args, stdio{out: io.Discard, err: stderr}) }()
	return opsAddr(t, stderr, ch), stderr, ch, stop
}

// waitReady waits for the role at base to answer /readyz with 200.
func waitReady(t *testing.T, base string, stderr *lockedBuffer) {
	t.Helper()
	pollUntil(t, "/readyz 200", func() bool { code, _ := httpGet(t, base+"/readyz"); return code == http.StatusOK }, stderr)
}

// httpGet returns the status and body of a GET of url.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// pollUntil polls cond every 100ms until it holds or 30s pass.
func pollUntil(t *testing.T, what string, cond func() bool, stderr *lockedBuffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; role log:\n%s", what, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scrapedValue returns the value of the sample of /metrics whose line
// starts with series, or -1 when there is none.
func scrapedValue(metrics, series string) float64 {
	for _, line := range strings.Split(metrics, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// TestRoleServesOps runs the notify role from a configuration file on an
// in-process broker, with listen set by VIGIL_LISTEN: /healthz answers
// 200, /readyz 200 while the broker is up and 503 once it is gone, and
// /metrics shows the deliveries and the group's lag per partition.
func TestRoleServesOps(t *testing.T) {
	t.Setenv("VIGIL_WEBHOOK_SECRET", "whsec_dmlnaWwtdGVzdC1zZWNyZXQtMDAwMDAx")
	t.Setenv("VIGIL_LISTEN", "127.0.0.1:0")
	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	bus := "kafka://" + cl.ListenAddrs()[0] + "?partitions=2"
	path := writeConfig(t, "bus:\n  url: "+bus+"\nlog:\n  format: text\n  level: info\nshutdown_timeout: 5s\n")

	var mu sync.Mutex
	delivered := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		delivered++
		mu.Unlock()
	}))
	defer hook.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base, stderr, done, stop := startRole(t, ctx, runNotifyBus, "--config", path, "--webhook", hook.URL, "--webhook-allow-insecure",
		"--delivery-log", filepath.Join(t.TempDir(), "deliveries.log"), "--session-timeout", "1s", "--heartbeat", "100ms")
	if code, body := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %q", code, body)
	}
	waitReady(t, base, stderr)

	cfg, err := kafka.ParseURL(bus)
	if err != nil {
		t.Fatal(err)
	}
	alerts, err := kafka.NewProducer(cfg, storage.TopicAlerts, alertCodec)
	if err != nil {
		t.Fatal(err)
	}
	defer alerts.Close()
	for _, id := range []string{"alert-1", "alert-2", "alert-3"} {
		a := &detect.Alert{AlertID: id, RuleID: "r", Title: "t", Severity: "high", Count: 1, FirstTime: time.Now(), LastTime: time.Now()}
		if err := alerts.Write(ctx, storage.Message[*detect.Alert]{Key: []byte(id), Value: a}); err != nil {
			t.Fatal(err)
		}
	}
	pollUntil(t, "vigil_notify_delivered_total 3", func() bool {
		_, body := httpGet(t, base+"/metrics")
		return scrapedValue(body, "vigil_notify_delivered_total") == 3
	}, stderr)
	pollUntil(t, "the lag of every partition", func() bool {
		_, body := httpGet(t, base+"/metrics")
		for _, p := range []string{"0", "1"} {
			if scrapedValue(body, `vigil_bus_partition_lag_messages{group="vigil-notify",partition="`+p+`",topic="vigil.alerts"}`) < 0 {
				return false
			}
		}
		return scrapedValue(body, `vigil_bus_lag_messages{group="vigil-notify",topic="vigil.alerts"}`) >= 0
	}, stderr)
	mu.Lock()
	if delivered != 3 {
		t.Errorf("webhook got %d requests, want 3", delivered)
	}
	mu.Unlock()

	cl.Close()
	pollUntil(t, "/readyz 503 without a broker", func() bool {
		code, body := httpGet(t, base+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "bus:")
	}, stderr)
	if code, _ := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz without a broker: %d, want 200 (the process is alive)", code)
	}
	stop()
	select {
	case <-done: // without a broker the role may end with an error; it must end
	case <-time.After(60 * time.Second):
		t.Fatalf("the role did not stop:\n%s", stderr.String())
	}
	if strings.Contains(stderr.String(), "whsec_") {
		t.Errorf("the webhook secret is in the log:\n%s", stderr.String())
	}
}

// TestRoleConfigErrors checks that every role command rejects a
// configuration with an unknown key or a bad value, naming the key, and
// that a VIGIL_* variable overrides the file.
func TestRoleConfigErrors(t *testing.T) {
	unknown := writeConfig(t, "bus:\n  url: kafka://127.0.0.1:1\n  brokers: [a]\n")
	badValue := writeConfig(t, "bus:\n  url: kafka://127.0.0.1:1\ndetect:\n  lateness: -1m\n")
	inlineSecret := writeConfig(t, "bus:\n  url: kafka://127.0.0.1:1\nstore:\n  url: clickhouse://vigil@127.0.0.1:1/vigil\n  password: hunter2\n")
	memory := writeConfig(t, "bus:\n  url: memory://\n")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"detect, unknown key", nil, []string{"detect", "--config", unknown}, "bus.brokers"},
		{"store, unknown key", nil, []string{"store", "--config", unknown}, "bus.brokers"},
		{"notify, unknown key", nil, []string{"notify", "--config", unknown}, "bus.brokers"},
		{"ingest, unknown key", nil, []string{"ingest", "--config", unknown}, "bus.brokers"},
		{"migrate, unknown key", nil, []string{"migrate", "--config", unknown}, "bus.brokers"},
		{"detect, bad value", nil, []string{"detect", "--config", badValue}, "detect.lateness"},
		{"store, inline password", nil, []string{"store", "--config", inlineSecret}, "store.password (line 5): inline secrets are not allowed"},
		{"detect, bus that is not Kafka", nil, []string{"detect", "--config", memory}, "want kafka://host:9092"},
		{"VIGIL_BUS_URL overrides the file", map[string]string{"VIGIL_BUS_URL": "memory://"}, []string{"detect", "--config", unknownFree(t)}, "not memory://"},
		{"VIGIL_LOG_LEVEL overrides the file", map[string]string{"VIGIL_LOG_LEVEL": "loud"}, []string{"store", "--config", unknownFree(t)}, "log.level"},
		{"a bad VIGIL_ value names its variable", map[string]string{"VIGIL_DETECT_LATENESS": "soon"}, []string{"detect", "--config", unknownFree(t)}, "VIGIL_DETECT_LATENESS"},
		{"store password never shown", map[string]string{"VIGIL_TEST_PW": "hunter2"}, []string{"migrate", "--config", writeConfig(t, "store:\n  url: clickhouse://vigil@127.0.0.1:1/vigil\n  password: {secret_env: VIGIL_TEST_PW}\n")}, "clickhouse"},
		{"store password variable unset", nil, []string{"store", "--config", writeConfig(t, "bus:\n  url: kafka://127.0.0.1:1\nstore:\n  url: clickhouse://vigil@127.0.0.1:1/vigil\n  password: {secret_env: VIGIL_TEST_UNSET_PASSWORD}\n")}, "VIGIL_TEST_UNSET_PASSWORD is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, _, stderr := vigil(t, "", tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
			if strings.Contains(stderr, "hunter2") {
				t.Errorf("secret in stderr: %q", stderr)
			}
		})
	}
}

// unknownFree returns a valid configuration of a Kafka bus that cannot be
// reached.
func unknownFree(t *testing.T) string {
	return writeConfig(t, "bus:\n  url: kafka://127.0.0.1:1\nstore:\n  url: clickhouse://127.0.0.1:1/vigil\n")
}

// TestKafkaConfigOf checks that the bus section reaches the Kafka
// configuration: client ID, TLS, and SASL with the password read from its
// variable, which never prints.
func TestKafkaConfigOf(t *testing.T) {
	c, err := config.Parse([]byte(`bus:
  url: kafka://k1:9093,k2:9092
  kafka:
    client_id: vigil-test
    tls: {enabled: true, server_name: kafka.internal}
    sasl: {mechanism: SCRAM-SHA-256, username: vigil, password: {secret_env: KAFKA_PW}}
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	c.Defaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	k, err := kafkaConfigOf(c.Bus, func(name string) string {
		if name == "KAFKA_PW" {
			return "s3cret-pw"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(k.Brokers, ",") != "k1:9093,k2:9092" || k.ClientID != "vigil-test" {
		t.Errorf("brokers %v, client ID %q", k.Brokers, k.ClientID)
	}
	if k.TLS == nil || k.TLS.ServerName != "kafka.internal" {
		t.Errorf("TLS %+v, want server name kafka.internal", k.TLS)
	}
	if k.SASL.Mechanism != kafka.MechanismSCRAMSHA256 || k.SASL.Username != "vigil" || string(k.SASL.Password) != "s3cret-pw" {
		t.Errorf("SASL %s %s", k.SASL.Mechanism, k.SASL.Username)
	}
	if k.Topics.Events != storage.TopicEvents || k.Topics.DeadLetter != storage.TopicDeadLetter {
		t.Errorf("topics %+v", k.Topics)
	}
	if _, _, err := k.Clients(kafkaRequestTimeout); err != nil {
		t.Errorf("client: %v", err)
	}
	if _, err := kafkaConfigOf(c.Bus, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "KAFKA_PW") {
		t.Errorf("unset password variable: %v, want an error naming KAFKA_PW", err)
	}
	c.Bus.Kafka.TLS.CAFile = filepath.Join(t.TempDir(), "missing.pem")
	if _, err := kafkaConfigOf(c.Bus, func(string) string { return "x" }); err == nil || !strings.Contains(err.Error(), "bus.kafka.tls.ca_file") {
		t.Errorf("missing CA file: %v, want an error naming bus.kafka.tls.ca_file", err)
	}
}

// TestStoreRoleConfig runs the store role from a configuration file whose
// store.url is overridden by VIGIL_STORE_URL with a fresh database of the
// ClickHouse server named by VIGIL_CLICKHOUSE_URL, on an in-process
// broker: /readyz is 200 (bus and store), and /metrics counts the rows
// and batches written. Without the variable it skips, or fails under
// CI=true, like the other ClickHouse tests.
func TestStoreRoleConfig(t *testing.T) {
	raw := os.Getenv("VIGIL_CLICKHOUSE_URL")
	if raw == "" {
		msg := "VIGIL_CLICKHOUSE_URL is not set; start a server with `export VIGIL_CLICKHOUSE_URL=$(deploy/clickhouse/start.sh)`"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	db := "vigil_role_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	storeURL := raw[:strings.LastIndex(raw, "/")] + "/" + db
	t.Cleanup(func() {
		opts, err := ch.ParseDSN(raw)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := ch.Open(opts)
		if err == nil {
			err = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
			conn.Close()
		}
		if err != nil {
			t.Errorf("dropping %s: %v", db, err)
		}
	})
	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	bus := "kafka://" + cl.ListenAddrs()[0] + "?partitions=2"
	path := writeConfig(t, "bus:\n  url: "+bus+"\nstore:\n  url: clickhouse://127.0.0.1:1/unreachable\nlog:\n  format: text\n")
	t.Setenv("VIGIL_STORE_URL", storeURL)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base, stderr, done, stop := startRole(t, ctx, runStore, "--config", path, "--listen", "127.0.0.1:0",
		"--session-timeout", "1s", "--heartbeat", "100ms")
	waitReady(t, base, stderr)

	cfg, err := kafka.ParseURL(bus)
	if err != nil {
		t.Fatal(err)
	}
	events, err := kafka.NewProducer(cfg, storage.TopicEvents, kafka.EventCodec{})
	if err != nil {
		t.Fatal(err)
	}
	defer events.Close()
	var msgs []storage.Message[*ingest.Event]
	for i := range 5 {
		ev := &ingest.Event{ID: "role-ev-" + strconv.Itoa(i), Type: "cloudtrail", Time: time.Now().UTC(), Source: "test://role",
			Raw: []byte(`{"eventName":"ListBuckets"}`), Fields: map[string]any{"eventName": "ListBuckets"}}
		msgs = append(msgs, storage.Message[*ingest.Event]{Key: []byte(ev.Source), Value: ev})
	}
	if err := events.Write(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "vigil_store_rows_total 5", func() bool {
		_, body := httpGet(t, base+"/metrics")
		return scrapedValue(body, `vigil_store_rows_total{table="events"}`) == 5 &&
			scrapedValue(body, `vigil_store_batch_rows_sum{table="events"}`) == 5
	}, stderr)
	stop()
	if err := <-done; err != nil {
		t.Errorf("store: %v\n%s", err, stderr.String())
	}
}

// TestDetectRoleConfig runs the detect role with its rules, bus and
// listen from a configuration file and the lateness from VIGIL_*: the
// matcher's and the correlator's counters and the alerts opened move on
// /metrics as events flow.
func TestDetectRoleConfig(t *testing.T) {
	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	bus := "kafka://" + cl.ListenAddrs()[0] + "?partitions=2"
	rules := writeRule(t, `id: trail-deleted
title: CloudTrail trail deleted
severity: high
log_types: [cloudtrail]
when: eventName == "DeleteTrail"
summary: 'trail deleted'
`)
	// A suppressed rule's alerts open in the correlator.
	if err := os.WriteFile(filepath.Join(rules, "suppressed.yaml"), []byte(`id: buckets-listed
title: Buckets listed
severity: low
log_types: [cloudtrail]
when: eventName == "ListBuckets"
suppress: {key: [eventName], for: 1h}
summary: 'buckets listed'
`), 0o644); err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, "bus:\n  url: "+bus+"\nrules:\n  paths: ["+rules+"]\nlisten: 127.0.0.1:0\n")
	t.Setenv("VIGIL_DETECT_LATENESS", "1m")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base, stderr, done, stop := startRole(t, ctx, runDetect, "--config", path, "--session-timeout", "1s", "--heartbeat", "100ms")
	waitReady(t, base, stderr)

	cfg, err := kafka.ParseURL(bus)
	if err != nil {
		t.Fatal(err)
	}
	events, err := kafka.NewProducer(cfg, storage.TopicEvents, kafka.EventCodec{})
	if err != nil {
		t.Fatal(err)
	}
	defer events.Close()
	var msgs []storage.Message[*ingest.Event]
	for i, name := range []string{"ListBuckets", "DeleteTrail", "DescribeInstances"} {
		ev := &ingest.Event{ID: "detect-ev-" + strconv.Itoa(i), Type: "cloudtrail", Time: time.Now().UTC(), Source: "test://detect",
			Fields: map[string]any{"eventName": name}}
		msgs = append(msgs, storage.Message[*ingest.Event]{Key: []byte(ev.Source), Value: ev})
	}
	if err := events.Write(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "the matcher's and the correlator's counters", func() bool {
		_, body := httpGet(t, base+"/metrics")
		return scrapedValue(body, "vigil_detect_events_total") == 3 &&
			scrapedValue(body, `vigil_detect_rule_matches_total{rule="trail-deleted"}`) == 1 &&
			scrapedValue(body, `vigil_detect_alerts_total{rule="trail-deleted",severity="high"}`) == 1 &&
			scrapedValue(body, `vigil_correlate_signals_total{rule="buckets-listed"}`) == 1 &&
			scrapedValue(body, `vigil_detect_alerts_total{rule="buckets-listed",severity="low"}`) == 1
	}, stderr)
	if !strings.Contains(stderr.String(), "lateness=1m0s") {
		t.Errorf("VIGIL_DETECT_LATENESS=1m not applied:\n%s", stderr.String())
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("detect: %v\n%s", err, stderr.String())
	}
}

// TestIngestRoleConfig runs vigil ingest with only --config: the sources,
// bus and listen come from the file, and the events reach vigil.events.
func TestIngestRoleConfig(t *testing.T) {
	cl, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	bus := "kafka://" + cl.ListenAddrs()[0] + "?partitions=2"
	src, err := filepath.Abs(filepath.Join("..", "..", "deploy", "demo", "cloudtrail",
		"111122223333_CloudTrail_eu-west-1_20260314T1030Z_F7r5J3obm4JRYfRf.json"))
	if err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, "sources: [file://"+src+"]\nbus:\n  url: "+bus+"\nlisten: 127.0.0.1:0\n")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stderr := &lockedBuffer{}
	if err := runIngestCommand(ctx, []string{"--config", path}, stdio{out: io.Discard, err: stderr}); err != nil {
		t.Fatalf("ingest: %v\n%s", err, stderr.String())
	}
	m := regexp.MustCompile(`ingest: (\d+) events to vigil.events, 0 bad records`).FindStringSubmatch(stderr.String())
	if m == nil || m[1] == "0" || !opsAddrRE.MatchString(stderr.String()) {
		t.Fatalf("want events ingested and /metrics served; log:\n%s", stderr.String())
	}
	cfg, err := kafka.ParseURL(bus)
	if err != nil {
		t.Fatal(err)
	}
	in, err := kafka.NewConsumer(cfg, kafka.Subscription[*ingest.Event]{Topic: storage.TopicEvents, Group: "test", Codec: kafka.EventCodec{}})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	msg, err := in.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Value.Type != "cloudtrail" || msg.Value.Source != "file://"+src {
		t.Errorf("event %s from %s, want cloudtrail from file://%s", msg.Value.Type, msg.Value.Source, src)
	}
}

// TestIngestRoleEnv runs vigil ingest configured by VIGIL_* variables
// alone: a kafka:// VIGIL_BUS_URL selects the Kafka role, as --bus does.
func TestIngestRoleEnv(t *testing.T) {
	cl, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	src, err := filepath.Abs(filepath.Join("..", "..", "deploy", "demo", "cloudtrail",
		"111122223333_CloudTrail_eu-west-1_20260314T1030Z_F7r5J3obm4JRYfRf.json"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("VIGIL_BUS_URL", "kafka://"+cl.ListenAddrs()[0])
	t.Setenv("VIGIL_SOURCES", "file://"+src)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stderr := &lockedBuffer{}
	if err := runIngestCommand(ctx, nil, stdio{out: io.Discard, err: stderr}); err != nil {
		t.Fatalf("ingest: %v\n%s", err, stderr.String())
	}
	m := regexp.MustCompile(`ingest: (\d+) events to vigil.events, 0 bad records`).FindStringSubmatch(stderr.String())
	if m == nil || m[1] == "0" {
		t.Fatalf("want events ingested to Kafka; log:\n%s", stderr.String())
	}
}

// TestRoleWaitsForKafka starts the detect role against an address where no
// broker listens: it keeps running and retrying, /healthz answers 200 and
// /readyz 503 naming the bus, and an interrupt ends it cleanly (exit 0).
func TestRoleWaitsForKafka(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base, stderr, done, stop := startRole(t, ctx, runDetect, "--bus", "kafka://"+addr, "--listen", "127.0.0.1:0")
	if code, _ := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d, want 200", code)
	}
	if code, body := httpGet(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "bus: no Kafka broker answers") {
		t.Errorf("/readyz: %d %q, want 503 naming the bus", code, body)
	}
	pollUntil(t, "a retry", func() bool { return strings.Contains(stderr.String(), "Kafka not reachable; retrying") }, stderr)
	stop()
	select {
	case err := <-done:
		if !errors.Is(err, errStopped) {
			t.Errorf("interrupted while waiting for Kafka: %v, want errStopped", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the role did not stop:\n%s", stderr.String())
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("the metrics server still serves after the role ended")
	}
}

// TestBusProbeCaches checks that the bus probe reuses an answer for its
// TTL and asks again after it.
func TestBusProbeCaches(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	cl, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	_, dialer, err := kafka.Config{Brokers: []string{closed}}.Clients(kafkaRequestTimeout)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	p := newBusProbe(dialer, []string{closed})
	p.now = func() time.Time { return now }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.check(ctx); err == nil {
		t.Fatal("no error without a broker")
	}
	p.brokers = []string{closed, cl.ListenAddrs()[0]}
	if err := p.check(ctx); err == nil {
		t.Error("the answer was not reused within the TTL")
	}
	now = now.Add(p.ttl)
	if err := p.check(ctx); err != nil {
		t.Errorf("after the TTL, with a broker listed second: %v", err)
	}
}
