package main

import (
	"flag"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/cmd/vigil/config"
)

// addConfigFlags adds the flags that take the configuration file and
// override its common keys: --config, --listen, --log-format, --log-level.
// The command's own flags --source, --checkpoints, --bus, --rules,
// --store, --lateness and --flow-format override their keys too (see
// runConfigOf).
func addConfigFlags(fl *flag.FlagSet) *string {
	path := fl.String("config", "", "configuration file (example: deploy/vigil.yaml); VIGIL_* variables override it, flags override both")
	fl.String("listen", "", "address of /metrics, /healthz and /readyz, e.g. :9464 (default: listen in the config, else none)")
	fl.String("log-format", config.DefaultLogFormat, "log format: text or json")
	fl.String("log-level", config.DefaultLogLevel, "log level: debug, info, warn or error")
	return path
}

// runConfigOf builds the effective configuration: defaults, the file at
// path (none when empty), the VIGIL_* variables found by lookup, then the
// flags set on the command line. It returns the configuration, the names
// of the variables applied, and every validation problem.
func runConfigOf(fl *flag.FlagSet, path string, lookup func(string) (string, bool)) (config.Config, []string, error) {
	var c config.Config
	if path != "" {
		var err error
		if c, err = config.Load(path); err != nil {
			return c, nil, err
		}
	}
	applied, err := c.ApplyEnv(lookup)
	if err != nil {
		return c, applied, err
	}
	fl.Visit(func(f *flag.Flag) {
		v := f.Value.String()
		switch f.Name {
		case "source":
			c.Sources = []string(*f.Value.(*stringList))
		case "rules":
			c.Rules.Paths = []string(*f.Value.(*stringList))
		case "bus":
			c.Bus.URL = v
		case "checkpoints":
			c.Checkpoints = v
		case "store":
			c.Store.URL = v
		case "lateness":
			c.Detect.Lateness = f.Value.(flag.Getter).Get().(time.Duration)
		case "flow-format":
			c.Detect.FlowFormat = v
		case "listen":
			c.Listen = v
		case "log-format":
			c.Log.Format = v
		case "log-level":
			c.Log.Level = v
		}
	})
	c.Defaults()
	return c, applied, c.Validate()
}

// storeURLOf returns the store URL with what the configuration keeps
// outside it: the ClickHouse password (read from its variable or file) and
// the retention (as retention_days).
func storeURLOf(s config.Store, getenv func(string) string) (string, error) {
	if !strings.HasPrefix(s.URL, "clickhouse://") || (s.Password.IsZero() && s.Retention == 0) {
		return s.URL, nil
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		return "", fmt.Errorf("store.url: %w", err)
	}
	if !s.Password.IsZero() {
		pw, err := s.Password.Value(getenv)
		if err != nil {
			return "", fmt.Errorf("store.password: %w", err)
		}
		user := "default"
		if u.User != nil {
			user = u.User.Username()
		}
		u.User = url.UserPassword(user, pw)
	}
	if s.Retention > 0 {
		q := u.Query()
		q.Set("retention_days", strconv.Itoa(int(math.Ceil(s.Retention.Hours()/24))))
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}
