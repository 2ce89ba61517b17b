package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vigilsec/vigil/detect/notify"
)

// Defaults of Config.
const (
	DefaultStore           = "duckdb://./vigil-data/vigil.duckdb"
	DefaultBus             = "memory://"
	DefaultBusCapacity     = 20000
	DefaultReloadInterval  = 5 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
	DefaultLogFormat       = "text"
	DefaultLogLevel        = "info"
)

// Config is the whole configuration of vigil: what `vigil run` and the
// role commands read from vigil.yaml. Every field documents its default;
// Defaults fills them in and Validate checks the result.
type Config struct {
	// Sources are the inputs, as URLs: file://PATH, s3://bucket/prefix?type=T,
	// sqs://queue-url, cloudwatch://log-group?type=T. Default: none.
	Sources []string `yaml:"sources"`
	// Checkpoints is where the s3:// and cloudwatch:// sources keep their
	// checkpoints (sqs:// needs none): a directory or, for vigil ingest
	// --bus, kafka://TOPIC, a compacted topic on the bus. Default
	// vigil-data/checkpoints for vigil run; kafka:// (the topic
	// vigil.checkpoints) for vigil ingest --bus.
	Checkpoints string `yaml:"checkpoints"`
	// Bus connects the stages.
	Bus Bus `yaml:"bus"`
	// Store holds events and alerts.
	Store Store `yaml:"store"`
	// Rules says which rules run and how they are reloaded.
	Rules Rules `yaml:"rules"`
	// Detect tunes the matcher and the correlator.
	Detect Detect `yaml:"detect"`
	// Limits caps what one input may cost.
	Limits Limits `yaml:"limits"`
	// Notify routes alerts to destinations; the shape of package notify
	// (see detect/notify/README.md). Default: no destinations.
	Notify notify.Config `yaml:"notify"`
	// Log configures the process's log.
	Log Log `yaml:"log"`
	// Listen is the address (host:port or :port) of the HTTP server for
	// /metrics, /healthz and /readyz. Default: none, no server (a
	// deployment sets e.g. :9464).
	Listen string `yaml:"listen"`
	// Pprof also serves Go's profiling endpoints (/debug/pprof/) on
	// Listen, for an operator finding where a role spends its CPU or
	// memory. Default false: profiles show the program's internals and
	// cost CPU while they are taken, so enable it only where Listen is
	// reachable by operators alone.
	Pprof bool `yaml:"pprof"`
	// ShutdownTimeout bounds the flush after a stop signal; in the Kafka
	// roles it bounds each batch's writes and commit, which also finish
	// after a stop. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Bus configures the bus between the stages.
type Bus struct {
	// URL is memory:// (the in-process bus) or
	// kafka://host:9092[,host:9092...]. Credentials never go in the URL;
	// see Kafka.SASL. Default memory://.
	URL string `yaml:"url"`
	// Capacity is the number of messages a topic of the in-process bus
	// holds before writers block. Default 20000.
	Capacity int `yaml:"capacity"`
	// Kafka holds the options of a kafka:// bus.
	Kafka Kafka `yaml:"kafka"`
}

// Kafka holds the connection options of a Kafka bus.
type Kafka struct {
	// ClientID identifies vigil to the brokers. Default "vigil".
	ClientID string `yaml:"client_id"`
	// TLS secures the connection. Default: plain TCP.
	TLS TLS `yaml:"tls"`
	// SASL authenticates vigil. Default: none.
	SASL SASL `yaml:"sasl"`
}

// TLS configures a TLS client.
type TLS struct {
	// Enabled turns TLS on, trusting the system roots unless CAFile is
	// set. Default false.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM file of CAs to trust instead of the system roots.
	// Setting it enables TLS. Default: none.
	CAFile string `yaml:"ca_file"`
	// ServerName is the name the server certificates are verified for.
	// Default: the host being dialled.
	ServerName string `yaml:"server_name"`
}

// SASL configures SASL authentication.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512. Default
	// SCRAM-SHA-512 when Username is set.
	Mechanism string `yaml:"mechanism"`
	// Username is the SASL user. Default: none (no SASL).
	Username string `yaml:"username"`
	// Password is the SASL password, from the environment or a file.
	Password Secret `yaml:"password"`
}

// Store configures the store of events and alerts.
type Store struct {
	// URL is duckdb://PATH or clickhouse://[user@]host:9000/database.
	// Default duckdb://./vigil-data/vigil.duckdb.
	URL string `yaml:"url"`
	// Password is the ClickHouse user's password, from the environment or
	// a file. Default: none.
	Password Secret `yaml:"password"`
	// Retention is how long ClickHouse keeps events (whole days). Default
	// 0: forever. The DuckDB store keeps everything.
	Retention time.Duration `yaml:"retention"`
}

// Rules says which rules run.
type Rules struct {
	// Paths are rule files or directories. Default: the built-in pack.
	Paths []string `yaml:"paths"`
	// ReloadInterval is how often the rule paths are checked for changes
	// (by modification time and size); a change reloads the rules, as does
	// SIGHUP. Default 5s; a negative value turns polling off.
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

// Detect tunes detection.
type Detect struct {
	// Lateness is how late an event may arrive and still be correlated.
	// Default 0: unbounded for file inputs (correlation waits for the end
	// of the input); streaming deployments set e.g. 15m.
	Lateness time.Duration `yaml:"lateness"`
	// MaxOpenAlerts caps the suppressed alerts open at once. Default
	// 100000.
	MaxOpenAlerts int `yaml:"max_open_alerts"`
	// MaxWindows caps the correlation windows of each rule. Default
	// 1048576.
	MaxWindows int `yaml:"max_windows"`
	// FlowFormat is the VPC flow log format of files without a header
	// line. Default: the v2 default format.
	FlowFormat string `yaml:"flow_format"`
}

// Limits caps what one input may cost.
type Limits struct {
	// MaxRecordBytes caps one record. Default 1 MiB.
	MaxRecordBytes int `yaml:"max_record_bytes"`
	// MaxDecompressedBytes caps one decompressed stream. Default 4 GiB.
	MaxDecompressedBytes int64 `yaml:"max_decompressed_bytes"`
}

// Log configures logging.
type Log struct {
	// Format is text or json. Default text.
	Format string `yaml:"format"`
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
}

// Parse decodes a configuration from YAML strictly: an unknown key is an
// error naming its path and line. name is used in errors. It does not apply
// defaults or validate.
func Parse(raw []byte, name string) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	err := dec.Decode(&c)
	switch {
	case errors.Is(err, io.EOF):
		return c, nil // an empty file is the default configuration
	case err != nil:
		return c, fmt.Errorf("%s: %w", name, keyPathError(raw, err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return c, fmt.Errorf("%s: one YAML document expected", name)
	}
	return c, nil
}

// Load reads and parses the configuration file at path.
func Load(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return Parse(raw, path)
}

// Defaults fills in the default of every field left empty.
func (c *Config) Defaults() {
	if c.Bus.URL == "" {
		c.Bus.URL = DefaultBus
	}
	if c.Bus.Capacity == 0 {
		c.Bus.Capacity = DefaultBusCapacity
	}
	if c.Bus.Kafka.ClientID == "" {
		c.Bus.Kafka.ClientID = "vigil"
	}
	if c.Bus.Kafka.SASL.Username != "" && c.Bus.Kafka.SASL.Mechanism == "" {
		c.Bus.Kafka.SASL.Mechanism = "SCRAM-SHA-512"
	}
	if c.Store.URL == "" {
		c.Store.URL = DefaultStore
	}
	if c.Rules.ReloadInterval == 0 {
		c.Rules.ReloadInterval = DefaultReloadInterval
	}
	if c.Log.Format == "" {
		c.Log.Format = DefaultLogFormat
	}
	if c.Log.Level == "" {
		c.Log.Level = DefaultLogLevel
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
}

// Validate reports every problem of the configuration, each naming its key
// and what is wrong with it. It does not read secrets; see CheckSecrets.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	for i, s := range c.Sources {
		key := fmt.Sprintf("sources[%d]", i)
		u, err := url.Parse(s)
		if err != nil {
			bad(key, "not a URL: %v", err)
			continue
		}
		if !slices.Contains([]string{"file", "s3", "sqs", "sqs+https", "sqs+http", "cloudwatch"}, u.Scheme) {
			bad(key, "scheme %q: want file, s3, sqs or cloudwatch", u.Scheme)
		}
		if _, ok := u.User.Password(); ok {
			bad(key, "a password in the URL is an inline secret; credentials come from the environment")
		}
	}
	switch u, err := url.Parse(c.Bus.URL); {
	case err != nil:
		bad("bus.url", "not a URL: %v", err)
	case u.Scheme == "memory":
	case u.Scheme == "kafka":
		if u.User != nil {
			bad("bus.url", "credentials in the URL are inline secrets; use bus.kafka.sasl.username and bus.kafka.sasl.password.secret_env")
		}
		if u.Host == "" {
			bad("bus.url", "no broker address")
		}
	default:
		bad("bus.url", "scheme %q: want memory:// or kafka://host:9092", u.Scheme)
	}
	if c.Bus.Capacity < 0 {
		bad("bus.capacity", "must not be negative")
	}
	if m := c.Bus.Kafka.SASL.Mechanism; m != "" && !slices.Contains([]string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}, m) {
		bad("bus.kafka.sasl.mechanism", "%q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", m)
	}
	if c.Bus.Kafka.SASL.Username != "" && c.Bus.Kafka.SASL.Password.IsZero() {
		bad("bus.kafka.sasl.password", "required with a username: set secret_env or secret_file")
	}
	errs = append(errs, c.Bus.Kafka.SASL.Password.validate("bus.kafka.sasl.password")...)
	switch u, err := url.Parse(c.Store.URL); {
	case err != nil:
		bad("store.url", "not a URL: %v", err)
	case u.Scheme == "duckdb":
		if strings.TrimPrefix(c.Store.URL, "duckdb://") == "" {
			bad("store.url", "duckdb:// needs a file path")
		}
		if c.Store.Retention != 0 {
			bad("store.retention", "only the ClickHouse store drops old events")
		}
	case u.Scheme == "clickhouse":
		if _, ok := u.User.Password(); ok {
			bad("store.url", "a password in the URL is an inline secret; use store.password.secret_env or secret_file")
		}
		if u.Host == "" {
			bad("store.url", "no server address")
		}
	default:
		bad("store.url", "scheme %q: want duckdb://PATH or clickhouse://host:9000/database", u.Scheme)
	}
	if c.Store.Retention < 0 {
		bad("store.retention", "must not be negative")
	}
	errs = append(errs, c.Store.Password.validate("store.password")...)
	for i, p := range c.Rules.Paths {
		if p == "" {
			bad(fmt.Sprintf("rules.paths[%d]", i), "empty path")
		}
	}
	if c.Detect.Lateness < 0 {
		bad("detect.lateness", "must not be negative")
	}
	if c.Detect.MaxOpenAlerts < 0 {
		bad("detect.max_open_alerts", "must not be negative")
	}
	if c.Detect.MaxWindows < 0 {
		bad("detect.max_windows", "must not be negative")
	}
	if c.Limits.MaxRecordBytes < 0 {
		bad("limits.max_record_bytes", "must not be negative")
	}
	if c.Limits.MaxDecompressedBytes < 0 {
		bad("limits.max_decompressed_bytes", "must not be negative")
	}
	if err := c.Notify.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("notify: %w", err))
	}
	for i, d := range c.Notify.Destinations {
		if u, err := url.Parse(d.URL); err == nil && u.User != nil {
			bad(fmt.Sprintf("notify.destinations[%d].url", i), "credentials in the URL are inline secrets; use url_env")
		}
	}
	if !slices.Contains([]string{"text", "json"}, c.Log.Format) {
		bad("log.format", "%q: want text or json", c.Log.Format)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		bad("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	if c.Listen != "" && !strings.Contains(c.Listen, ":") {
		bad("listen", "%q: want host:port or :port", c.Listen)
	}
	if c.ShutdownTimeout < 0 {
		bad("shutdown_timeout", "must not be negative")
	}
	return errors.Join(errs...)
}

// CheckSecrets reports each referenced secret that cannot be read: an
// unset variable or an unreadable file.
func (c *Config) CheckSecrets(getenv func(string) string) error {
	var errs []error
	for key, s := range map[string]Secret{"bus.kafka.sasl.password": c.Bus.Kafka.SASL.Password, "store.password": c.Store.Password} {
		if s.IsZero() {
			continue
		}
		if _, err := s.Value(getenv); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	}
	for i, d := range c.Notify.Destinations {
		names := append([]string{d.URLEnv, d.RoutingKeyEnv}, d.SecretEnv...)
		for _, n := range names {
			if n != "" && getenv(n) == "" {
				errs = append(errs, fmt.Errorf("notify.destinations[%d] (%s): environment variable %s is not set", i, d.Name, n))
			}
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// Redacted returns the configuration as YAML with any credentials in URLs
// masked. Secrets themselves never appear in a Config: only the names of
// the variables and files holding them.
func (c Config) Redacted() ([]byte, error) {
	c.Sources = slices.Clone(c.Sources)
	for i, s := range c.Sources {
		c.Sources[i] = redactURL(s)
	}
	c.Bus.URL = redactURL(c.Bus.URL)
	c.Store.URL = redactURL(c.Store.URL)
	c.Notify.Destinations = slices.Clone(c.Notify.Destinations)
	for i := range c.Notify.Destinations {
		c.Notify.Destinations[i].URL = redactURL(c.Notify.Destinations[i].URL)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}
