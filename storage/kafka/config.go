package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/vigilsec/vigil/storage"
)

// Defaults of Config, written here once and in the field comments.
const (
	DefaultClientID           = "vigil"
	DefaultPartitions         = 12
	DefaultDialTimeout        = 10 * time.Second
	DefaultBatchSize          = 1000
	DefaultBatchBytes         = 1 << 20
	DefaultBatchTimeout       = time.Millisecond
	DefaultWriteTimeout       = 10 * time.Second
	DefaultWriteAttempts      = 10
	DefaultBackoffMin         = 100 * time.Millisecond
	DefaultBackoffMax         = 2 * time.Second
	DefaultSessionTimeout     = 30 * time.Second
	DefaultHeartbeatInterval  = 3 * time.Second
	DefaultRebalanceTimeout   = 30 * time.Second
	DefaultJoinGroupBackoff   = time.Second
	DefaultCoordinatorTimeout = 5 * time.Second
	DefaultMaxBytes           = 10 << 20
	DefaultMaxWait            = 500 * time.Millisecond
	DefaultQueueCapacity      = 100
	DefaultCommitAttempts     = 5
)

// SASL mechanisms understood by SASL.Mechanism.
const (
	MechanismPLAIN       = "PLAIN"
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"
	MechanismSCRAMSHA512 = "SCRAM-SHA-512"
)

// Config configures the connection to Kafka and the producers and consumers
// built on it. Only Brokers is required; every other field has the default
// written in its comment, applied by one helper (resolve) when a producer,
// consumer or EnsureTopics uses the Config.
type Config struct {
	// Brokers are the bootstrap brokers, host:port. Required.
	Brokers []string
	// ClientID names this client to the brokers. Default "vigil".
	ClientID string
	// TLS, when set, connects over TLS with this configuration. Default
	// nil: plaintext.
	TLS *tls.Config
	// SASL authenticates the connections. Default: no authentication.
	SASL SASL
	// DialTimeout bounds connecting to a broker, TLS and SASL included.
	// Default 10s.
	DialTimeout time.Duration
	// Topics names the bus topics. Empty names take the defaults of
	// storage.Topic*: vigil.events, vigil.signals, vigil.alerts,
	// vigil.deadletter.
	Topics Topics
	// Partitions is the partition count EnsureTopics creates missing topics
	// with. Default 12.
	Partitions int
	// ReplicationFactor is the replication factor EnsureTopics creates
	// missing topics with. Default 0: the broker's
	// default.replication.factor.
	ReplicationFactor int
	// Producer tunes producers.
	Producer ProducerConfig
	// Consumer tunes consumers.
	Consumer ConsumerConfig
	// Logger receives the package's logs and kafka-go's: its progress at
	// Debug, its errors at Warn (among them offsets skipped because
	// retention deleted them). Default: discard.
	Logger *slog.Logger
}

// Topics names the bus topics; an empty name takes its default.
type Topics struct {
	// Events defaults to vigil.events.
	Events string
	// Signals defaults to vigil.signals.
	Signals string
	// Alerts defaults to vigil.alerts.
	Alerts string
	// DeadLetter defaults to vigil.deadletter.
	DeadLetter string
}

// All returns the four topic names, events first.
func (t Topics) All() []string { return []string{t.Events, t.Signals, t.Alerts, t.DeadLetter} }

// ProducerConfig tunes producers. Writes are always synchronous and
// acknowledged by all in-sync replicas (RequiredAcks RequireAll).
type ProducerConfig struct {
	// BatchSize is the most messages sent to one partition in one request.
	// Default 1000.
	BatchSize int
	// BatchBytes is the most bytes sent to one partition in one request; a
	// larger message fails. Default 1 MiB.
	BatchBytes int64
	// BatchTimeout is how long a partial batch waits for more messages
	// before it is sent. Write is synchronous, so this is added to the
	// latency of every Write whose last batch is not full. Default 1ms
	// (kafka-go's own default of 1s would be a second per Write).
	BatchTimeout time.Duration
	// WriteTimeout bounds one produce request. Default 10s.
	WriteTimeout time.Duration
	// Attempts is how many times Write sends a message before it gives
	// up; each retry sends only the messages that failed. Default 10.
	Attempts int
	// BackoffMin is the pause before the first retry; it doubles for each
	// further retry up to BackoffMax. Default 100ms.
	BackoffMin time.Duration
	// BackoffMax caps the pause between retries. Default 2s.
	BackoffMax time.Duration
}

// ConsumerConfig tunes consumers.
type ConsumerConfig struct {
	// SessionTimeout is how long the group coordinator waits for a
	// heartbeat before it evicts a member and rebalances. Default 30s.
	SessionTimeout time.Duration
	// HeartbeatInterval is the time between heartbeats; a member learns of
	// a rebalance at its next heartbeat. Default 3s.
	HeartbeatInterval time.Duration
	// RebalanceTimeout is how long the coordinator waits for members to
	// rejoin during a rebalance. Default 30s.
	RebalanceTimeout time.Duration
	// JoinGroupBackoff is the pause before joining again after a failed
	// join. Default 1s.
	JoinGroupBackoff time.Duration
	// CoordinatorTimeout bounds each request to the group coordinator
	// (join, sync, heartbeat, commit). Default 5s.
	CoordinatorTimeout time.Duration
	// MaxBytes is the most bytes fetched from a partition in one request.
	// Default 10 MiB.
	MaxBytes int
	// MaxWait is how long the broker holds a fetch waiting for new
	// messages. Default 500ms.
	MaxWait time.Duration
	// QueueCapacity is how many fetched messages each assigned partition
	// buffers ahead of Fetch. Default 100.
	QueueCapacity int
	// CommitAttempts is how many generations Commit tries a commit in when
	// the group is rebalancing (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION,
	// lost coordinator). Default 5.
	CommitAttempts int
}

// SASL configures SASL authentication. The zero value is no authentication.
type SASL struct {
	// Mechanism is "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512"; empty
	// disables SASL. Default empty.
	Mechanism string
	// Username is the SASL user.
	Username string
	// Password is the SASL password; it never appears in logs.
	Password Secret
}

// LogValue logs the mechanism and user, never the password.
func (s SASL) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("mechanism", s.Mechanism),
		slog.String("username", s.Username),
		slog.Any("password", s.Password),
	)
}

func (s SASL) mechanism() (sasl.Mechanism, error) {
	switch s.Mechanism {
	case "":
		return nil, nil
	case MechanismPLAIN:
		return plain.Mechanism{Username: s.Username, Password: string(s.Password)}, nil
	case MechanismSCRAMSHA256:
		return scram.Mechanism(scram.SHA256, s.Username, string(s.Password))
	case MechanismSCRAMSHA512:
		return scram.Mechanism(scram.SHA512, s.Username, string(s.Password))
	}
	return nil, fmt.Errorf("kafka: unknown SASL mechanism %q (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", s.Mechanism)
}

// Secret is a string that prints and logs as "REDACTED": through slog
// (LogValue), fmt (String, GoString) and encoders (MarshalText). Convert it
// to string to use it.
type Secret string

const redacted = "REDACTED"

// LogValue returns "REDACTED", or "" for an empty secret.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// String returns "REDACTED", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString returns the redacted form quoted, for %#v.
func (s Secret) GoString() string { return fmt.Sprintf("%q", s.String()) }

// MarshalText returns the redacted form, so that encoding a Config does
// not reveal the secret.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Validate reports a configuration that cannot work. It is called by the
// constructors with the defaults applied.
func (c Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no brokers"))
	}
	if _, err := c.SASL.mechanism(); err != nil {
		errs = append(errs, err)
	}
	if c.SASL.Mechanism != "" && c.SASL.Username == "" {
		errs = append(errs, errors.New("SASL without a username"))
	}
	neg := func(name string, v int64) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("negative %s %d", name, v))
		}
	}
	neg("partitions", int64(c.Partitions))
	neg("replication factor", int64(c.ReplicationFactor))
	neg("dial timeout", int64(c.DialTimeout))
	p, q := c.Producer, c.Consumer
	for name, v := range map[string]int64{
		"producer batch size": int64(p.BatchSize), "producer batch bytes": p.BatchBytes,
		"producer batch timeout": int64(p.BatchTimeout), "producer write timeout": int64(p.WriteTimeout),
		"producer attempts": int64(p.Attempts), "producer backoff min": int64(p.BackoffMin),
		"producer backoff max":     int64(p.BackoffMax),
		"consumer session timeout": int64(q.SessionTimeout), "consumer heartbeat interval": int64(q.HeartbeatInterval),
		"consumer rebalance timeout": int64(q.RebalanceTimeout), "consumer join group backoff": int64(q.JoinGroupBackoff),
		"consumer coordinator timeout": int64(q.CoordinatorTimeout), "consumer max bytes": int64(q.MaxBytes),
		"consumer max wait": int64(q.MaxWait), "consumer queue capacity": int64(q.QueueCapacity),
		"consumer commit attempts": int64(q.CommitAttempts),
	} {
		neg(name, v)
	}
	if p.BackoffMax > 0 && p.BackoffMin > p.BackoffMax {
		errs = append(errs, fmt.Errorf("producer backoff min %s above max %s", p.BackoffMin, p.BackoffMax))
	}
	if q.HeartbeatInterval > 0 && q.SessionTimeout > 0 && q.HeartbeatInterval >= q.SessionTimeout {
		errs = append(errs, fmt.Errorf("consumer heartbeat interval %s not below session timeout %s", q.HeartbeatInterval, q.SessionTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kafka: invalid config: %w", err)
	}
	return nil
}

// resolve returns c with every unset field at its default, validated.
func (c Config) resolve() (Config, error) {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.ClientID, DefaultClientID)
	defDur(&c.DialTimeout, DefaultDialTimeout)
	def(&c.Topics.Events, storage.TopicEvents)
	def(&c.Topics.Signals, storage.TopicSignals)
	def(&c.Topics.Alerts, storage.TopicAlerts)
	def(&c.Topics.DeadLetter, storage.TopicDeadLetter)
	defInt(&c.Partitions, DefaultPartitions)
	p := &c.Producer
	defInt(&p.BatchSize, DefaultBatchSize)
	if p.BatchBytes == 0 {
		p.BatchBytes = DefaultBatchBytes
	}
	defDur(&p.BatchTimeout, DefaultBatchTimeout)
	defDur(&p.WriteTimeout, DefaultWriteTimeout)
	defInt(&p.Attempts, DefaultWriteAttempts)
	defDur(&p.BackoffMin, DefaultBackoffMin)
	defDur(&p.BackoffMax, DefaultBackoffMax)
	q := &c.Consumer
	defDur(&q.SessionTimeout, DefaultSessionTimeout)
	defDur(&q.HeartbeatInterval, DefaultHeartbeatInterval)
	defDur(&q.RebalanceTimeout, DefaultRebalanceTimeout)
	defDur(&q.JoinGroupBackoff, DefaultJoinGroupBackoff)
	defDur(&q.CoordinatorTimeout, DefaultCoordinatorTimeout)
	defInt(&q.MaxBytes, DefaultMaxBytes)
	defDur(&q.MaxWait, DefaultMaxWait)
	defInt(&q.QueueCapacity, DefaultQueueCapacity)
	defInt(&q.CommitAttempts, DefaultCommitAttempts)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, c.Validate()
}

// transport is the kafka-go transport of writers and clients.
func (c Config) transport() (*kafka.Transport, error) {
	mech, err := c.SASL.mechanism()
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{
		ClientID:    c.ClientID,
		DialTimeout: c.DialTimeout,
		TLS:         c.TLS,
		SASL:        mech,
	}, nil
}

// dialer is the kafka-go dialer of readers and consumer groups.
func (c Config) dialer() (*kafka.Dialer, error) {
	mech, err := c.SASL.mechanism()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{
		ClientID:      c.ClientID,
		Timeout:       c.DialTimeout,
		DualStack:     true,
		TLS:           c.TLS,
		SASLMechanism: mech,
	}, nil
}

// kafkaLogger adapts l to kafka-go's Logger, logging at level.
func kafkaLogger(l *slog.Logger, level slog.Level, msg string) kafka.Logger {
	return kafka.LoggerFunc(func(format string, args ...any) {
		l.Log(context.Background(), level, msg, "detail", fmt.Sprintf(format, args...))
	})
}
