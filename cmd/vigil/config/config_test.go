package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// load reads a file, applies defaults and validates, as the commands do.
func load(t *testing.T, path string) (Config, error) {
	t.Helper()
	c, err := Load(path)
	if err != nil {
		return c, err
	}
	c.Defaults()
	return c, c.Validate()
}

func TestExampleIsValid(t *testing.T) {
	c, err := load(t, filepath.Join("..", "..", "..", "deploy", "vigil.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Password.Env != "VIGIL_CLICKHOUSE_PASSWORD" || c.Store.Retention != 90*24*time.Hour {
		t.Errorf("store = %+v", c.Store)
	}
	if len(c.Notify.Routes) == 0 || len(c.Notify.Destinations) == 0 || c.Notify.Retry.MaxAge != time.Hour {
		t.Errorf("notify = %+v", c.Notify)
	}
}

func TestEmptyIsDefault(t *testing.T) {
	c, err := Parse(nil, "empty")
	if err != nil {
		t.Fatal(err)
	}
	c.Defaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Store.URL != DefaultStore || c.Bus.URL != DefaultBus || c.Listen != "" {
		t.Errorf("defaults: %+v", c)
	}
}

// TestDecodeErrors checks that each decoding error names the line and the
// key path.
func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"unknown_key.yaml", `line 3: store.retension: unknown key "retension"`},
		{"bad_type.yaml", "line 2: bus.capacity: cannot unmarshal !!str `lots` into int"},
		{"unknown_nested.yaml", `line 6: notify.routes[0].matchs: unknown key "matchs"`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestValidate checks that each problem is reported with its key.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"inline secret", "store:\n  url: clickhouse://h:9000/db\n  password: hunter2\n",
			"store.password (line 3): inline secrets are not allowed"},
		{"password in store URL", "store: {url: 'clickhouse://u:pw@h:9000/db'}\n",
			"store.url: a password in the URL is an inline secret"},
		{"credentials in bus URL", "bus: {url: 'kafka://u:pw@k:9092'}\n",
			"bus.url: credentials in the URL are inline secrets"},
		{"bus scheme", "bus: {url: 'nats://x'}\n", `bus.url: scheme "nats"`},
		{"store scheme", "store: {url: 'postgres://x/y'}\n", `store.url: scheme "postgres"`},
		{"retention on duckdb", "store: {retention: 24h}\n", "store.retention: only the ClickHouse store"},
		{"sasl without password", "bus: {url: 'kafka://k:9092', kafka: {sasl: {username: u}}}\n",
			"bus.kafka.sasl.password: required with a username"},
		{"sasl mechanism", "bus: {kafka: {sasl: {mechanism: MD5}}}\n", `bus.kafka.sasl.mechanism: "MD5"`},
		{"both secret sources", "store: {url: 'clickhouse://h:9000/d', password: {secret_env: A, secret_file: /b}}\n",
			"store.password: give secret_env or secret_file, not both"},
		{"source scheme", "sources: ['ftp://x']\n", `sources[0]: scheme "ftp"`},
		{"log level", "log: {level: loud}\n", `log.level: "loud"`},
		{"log format", "log: {format: xml}\n", `log.format: "xml"`},
		{"negative lateness", "detect: {lateness: -1m}\n", "detect.lateness: must not be negative"},
		{"listen", "listen: nowhere\n", `listen: "nowhere"`},
		{"notify route to nowhere", "notify: {routes: [{name: r, default: true, destinations: [ghost]}]}\n", "notify: "},
		{"unknown secret key", "store: {password: {secret_name: X}}\n", `line 1: store.password.secret_name: unknown key "secret_name"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml), tc.name)
			if err == nil {
				c.Defaults()
				err = c.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestApplyEnv(t *testing.T) {
	c, err := Parse([]byte("store: {url: 'duckdb://a.duckdb'}\nrules: {paths: [a]}\n"), "t")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"VIGIL_STORE_URL":                     "clickhouse://h:9000/vigil",
		"VIGIL_STORE_PASSWORD_SECRET_ENV":     "CH_PW",
		"VIGIL_RULES_PATHS":                   "/r1, /r2",
		"VIGIL_DETECT_LATENESS":               "5m",
		"VIGIL_BUS_KAFKA_TLS_ENABLED":         "true",
		"VIGIL_NOTIFY_RETRY_MAX_ATTEMPTS":     "3",
		"VIGIL_NOTIFY_OUTBOUND_ALLOW_HTTP":    "localhost",
		"VIGIL_WEBHOOK_SECRET":                "not a key: ignored",
		"VIGIL_LIMITS_MAX_DECOMPRESSED_BYTES": "1024",
	}
	applied, err := c.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != len(env)-1 || slices.Contains(applied, "VIGIL_WEBHOOK_SECRET") {
		t.Errorf("applied %v", applied)
	}
	switch {
	case c.Store.URL != "clickhouse://h:9000/vigil", c.Store.Password.Env != "CH_PW",
		!slices.Equal(c.Rules.Paths, []string{"/r1", "/r2"}), c.Detect.Lateness != 5*time.Minute,
		!c.Bus.Kafka.TLS.Enabled, c.Notify.Retry.MaxAttempts != 3,
		!slices.Equal(c.Notify.Outbound.AllowHTTP, []string{"localhost"}), c.Limits.MaxDecompressedBytes != 1024:
		t.Errorf("config after env: %+v", c)
	}
	_, err = c.ApplyEnv(func(k string) (string, bool) { return "soon", k == "VIGIL_SHUTDOWN_TIMEOUT" })
	if err == nil || !strings.Contains(err.Error(), "VIGIL_SHUTDOWN_TIMEOUT") {
		t.Errorf("bad duration: %v", err)
	}
}

func TestEnvKeys(t *testing.T) {
	keys := EnvKeys()
	for _, k := range []string{"VIGIL_SOURCES", "VIGIL_STORE_URL", "VIGIL_BUS_KAFKA_SASL_PASSWORD_SECRET_FILE", "VIGIL_LOG_LEVEL", "VIGIL_LISTEN"} {
		if !slices.Contains(keys, k) {
			t.Errorf("%s missing from %v", k, keys)
		}
	}
	if slices.Contains(keys, "VIGIL_NOTIFY_ROUTES") {
		t.Error("lists of mappings are not overridable")
	}
}

func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string { return map[string]string{"PW": "from-env"}[k] }
	for _, tc := range []struct {
		s       Secret
		want    string
		wantErr string
	}{
		{Secret{Env: "PW"}, "from-env", ""},
		{Secret{File: file}, "s3cret", ""},
		{Secret{Env: "UNSET"}, "", "UNSET is not set"},
		{Secret{File: filepath.Join(dir, "missing")}, "", "secret file"},
	} {
		got, err := tc.s.Value(getenv)
		if got != tc.want || (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%v: got %q, %v", tc.s, got, err)
		}
	}
	c := Config{Store: Store{Password: Secret{Env: "UNSET"}}}
	if err := c.CheckSecrets(getenv); err == nil || !strings.Contains(err.Error(), "store.password") {
		t.Errorf("CheckSecrets: %v", err)
	}
}

// TestRedacted checks that the rendered configuration parses back to the
// same configuration and shows no credentials.
func TestRedacted(t *testing.T) {
	c, err := load(t, filepath.Join("..", "..", "..", "deploy", "vigil.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c.Sources = append(c.Sources, "s3://user:topsecret@bucket/x")
	out, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "topsecret") {
		t.Errorf("password shown:\n%s", out)
	}
	back, err := Parse(out, "redacted")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if back.Store != c.Store || back.Rules.ReloadInterval != c.Rules.ReloadInterval || len(back.Notify.Destinations) != len(c.Notify.Destinations) ||
		len(back.Notify.Destinations) == 0 {
		t.Errorf("round trip: %+v", back)
	}
}

// FuzzParse checks that no input makes the decoder or the validator panic.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"../../../deploy/vigil.yaml", "testdata/unknown_key.yaml", "testdata/inline_secret.yaml", "testdata/bad_type.yaml", "testdata/unknown_nested.yaml"} {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte("store: {password: [1]}"))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := Parse(raw, "fuzz")
		if err != nil {
			return
		}
		c.Defaults()
		_ = c.Validate()
		if _, err := c.Redacted(); err != nil {
			t.Fatal(err)
		}
	})
}
