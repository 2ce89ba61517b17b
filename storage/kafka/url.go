package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// DefaultPort is the broker port ParseURL adds to a host without one.
const DefaultPort = "9092"

// ParseURL returns the Config of a bus URL, as given to --bus:
//
//	kafka://[user[:password]@]host[:port][,host[:port]...][?option=value&...]
//
// Hosts without a port get 9092. Options:
//
//	tls=true              TLS, trusting the system's roots
//	tls_ca=FILE           TLS, trusting the CAs of the PEM file
//	tls_server_name=NAME  the name to verify the brokers' certificates for
//	sasl=MECHANISM        PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; default
//	                      SCRAM-SHA-512 when the URL has a user
//	client_id=ID          Config.ClientID
//	partitions=N          Config.Partitions
//	replication=N         Config.ReplicationFactor
//	events=, signals=, alerts=, deadletter=   topic names
//
// Unknown options are errors. A password in the URL lands in
// Config.SASL.Password; log such a URL only through url.URL.Redacted.
func ParseURL(raw string) (Config, error) {
	var c Config
	u, err := url.Parse(raw)
	if err != nil {
		return c, fmt.Errorf("kafka: bus URL: %w", err)
	}
	if u.Scheme != "kafka" {
		return c, fmt.Errorf("kafka: bus URL %s: scheme %q, want kafka", u.Redacted(), u.Scheme)
	}
	bad := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("kafka: bus URL %s: %s", u.Redacted(), fmt.Sprintf(format, args...))
	}
	if u.Path != "" && u.Path != "/" {
		return bad("unexpected path %q", u.Path)
	}
	for _, h := range strings.Split(u.Host, ",") {
		if h == "" {
			return bad("empty broker address")
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(h, DefaultPort)
		}
		c.Brokers = append(c.Brokers, h)
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		c.SASL = SASL{Mechanism: MechanismSCRAMSHA512, Username: u.User.Username(), Password: Secret(pw)}
	}
	var tlsOpt string // the tls option, "" when absent
	var tlsCfg tls.Config
	num := func(key, v string) (int, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("option %s=%q is not a count", key, v)
		}
		return n, nil
	}
	for key, vs := range u.Query() {
		v := vs[len(vs)-1]
		var err error
		switch key {
		case "tls":
			tlsOpt = v
		case "tls_ca":
			tlsCfg.RootCAs, err = caPool(v)
		case "tls_server_name":
			tlsCfg.ServerName = v
		case "sasl":
			c.SASL.Mechanism = strings.ToUpper(v)
		case "client_id":
			c.ClientID = v
		case "partitions":
			c.Partitions, err = num(key, v)
		case "replication":
			c.ReplicationFactor, err = num(key, v)
		case "events":
			c.Topics.Events = v
		case "signals":
			c.Topics.Signals = v
		case "alerts":
			c.Topics.Alerts = v
		case "deadletter":
			c.Topics.DeadLetter = v
		default:
			return bad("unknown option %q", key)
		}
		if err != nil {
			return bad("%v", err)
		}
	}
	tlsOn := tlsCfg.RootCAs != nil || tlsCfg.ServerName != ""
	if tlsOpt != "" {
		on, err := strconv.ParseBool(tlsOpt)
		switch {
		case err != nil:
			return bad("option tls=%q is not a boolean", tlsOpt)
		case !on && tlsOn:
			return bad("tls=false with TLS options")
		}
		tlsOn = on
	}
	if tlsOn {
		tlsCfg.MinVersion = tls.VersionTLS12
		c.TLS = &tlsCfg
	}
	if _, err := c.resolve(); err != nil {
		return bad("%v", err)
	}
	return c, nil
}

// caPool reads the PEM certificates of file.
func caPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificate in %s", file)
	}
	return pool, nil
}
