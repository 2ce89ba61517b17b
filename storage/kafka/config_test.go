package kafka

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/storage"
)

func TestConfigDefaults(t *testing.T) {
	c, err := Config{Brokers: []string{"127.0.0.1:9092"}}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"client id", c.ClientID, DefaultClientID},
		{"events", c.Topics.Events, storage.TopicEvents},
		{"signals", c.Topics.Signals, storage.TopicSignals},
		{"alerts", c.Topics.Alerts, storage.TopicAlerts},
		{"dead letter", c.Topics.DeadLetter, storage.TopicDeadLetter},
		{"partitions", c.Partitions, DefaultPartitions},
		{"replication", c.ReplicationFactor, 0},
		{"batch timeout", c.Producer.BatchTimeout, time.Millisecond},
		{"attempts", c.Producer.Attempts, DefaultWriteAttempts},
		{"backoff", c.Producer.BackoffMax, DefaultBackoffMax},
		{"session timeout", c.Consumer.SessionTimeout, DefaultSessionTimeout},
		{"commit attempts", c.Consumer.CommitAttempts, DefaultCommitAttempts},
		{"queue", c.Consumer.QueueCapacity, DefaultQueueCapacity},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	// Set fields are kept.
	c, err = Config{Brokers: []string{"b:9092"}, Topics: Topics{Alerts: "a"}, Producer: ProducerConfig{Attempts: 2}}.resolve()
	if err != nil || c.Topics.Alerts != "a" || c.Producer.Attempts != 2 {
		t.Fatalf("set fields changed: %+v, %v", c, err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Brokers: []string{"b:9092"}}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string // part of the error, "" for valid
	}{
		{"valid", func(*Config) {}, ""},
		{"scram", func(c *Config) { c.SASL = SASL{Mechanism: MechanismSCRAMSHA512, Username: "u", Password: "p"} }, ""},
		{"no brokers", func(c *Config) { c.Brokers = nil }, "no brokers"},
		{"unknown mechanism", func(c *Config) { c.SASL = SASL{Mechanism: "GSSAPI", Username: "u"} }, "unknown SASL mechanism"},
		{"sasl without user", func(c *Config) { c.SASL = SASL{Mechanism: MechanismPLAIN} }, "without a username"},
		{"negative partitions", func(c *Config) { c.Partitions = -1 }, "negative partitions"},
		{"negative attempts", func(c *Config) { c.Producer.Attempts = -1 }, "negative producer attempts"},
		{"backoff", func(c *Config) { c.Producer.BackoffMin, c.Producer.BackoffMax = time.Second, time.Millisecond }, "backoff min"},
		{"heartbeat", func(c *Config) { c.Consumer.HeartbeatInterval = time.Minute }, "heartbeat interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			_, err := c.resolve()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("valid config rejected: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestSecretRedacted(t *testing.T) {
	const pw = "hunter2"
	c := Config{Brokers: []string{"b:9092"}, SASL: SASL{Mechanism: MechanismPLAIN, Username: "vigil", Password: pw}}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "sasl", c.SASL, "password", c.SASL.Password, "config", c)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "sasl", c.SASL, "config", c)
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{
		"slog": buf.String(),
		"%v":   fmt.Sprintf("%v", c),
		"%+v":  fmt.Sprintf("%+v", c),
		"%#v":  fmt.Sprintf("%#v", c),
		"%s":   fmt.Sprintf("%s", c.SASL.Password),
		"json": string(js),
	} {
		if strings.Contains(out, pw) {
			t.Errorf("%s reveals the password: %s", name, out)
		}
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("%s does not show the password as REDACTED: %s", name, out)
		}
	}
	if !strings.Contains(buf.String(), "vigil") {
		t.Errorf("log lacks the username: %s", buf.String())
	}
}
