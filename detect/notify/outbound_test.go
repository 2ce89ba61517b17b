package notify

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// URLs the default policy refuses without any network access.
func TestCheckURLRefuses(t *testing.T) {
	p, err := newPolicy(Outbound{})
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{
		"http://hooks.example.com/x",         // plain http
		"ftp://hooks.example.com/x",          // other scheme
		"https://user:pw@hooks.example.com/", // credentials
		"https://127.0.0.1/",
		"https://127.8.9.10:8443/",
		"https://[::1]/",
		"https://169.254.169.254/latest/meta-data/",
		"https://[::ffff:169.254.169.254]/",
		"https://[::ffff:a9fe:a9fe]/",
		"https://[64:ff9b::a9fe:a9fe]/", // NAT64 form of 169.254.169.254
		"https://[2002:a9fe:a9fe::1]/",  // 6to4 form of 169.254.169.254
		"https://[::169.254.169.254]/",  // IPv4-compatible form
		"https://[fd00:ec2::254]/",      // AWS IPv6 metadata
		"https://[fe80::1%25eth0]/",
		"https://2130706433/", // 127.0.0.1 as a decimal number
		"https://2852039166/", // 169.254.169.254 as a decimal number
		"https://0x7f000001/",
		"https://017700000001/",
		"https://0177.0.0.1/",
		"https://127.1/",
		"https://0x7f.0.0.1./",
		"https://10.0.0.8/",
		"https://172.16.3.4/",
		"https://192.168.1.1/",
		"https://100.64.0.1/",
		"https://0.0.0.0/",
		"https://[::]/",
		"https://224.0.0.1/",
		"https://255.255.255.255/",
		"https:///nohost",
	} {
		if _, err := p.checkURL(raw); !errors.Is(err, ErrRefused) {
			t.Errorf("checkURL(%q) = %v, want refused", raw, err)
		}
	}
	for _, raw := range []string{
		"https://hooks.example.com/services/x",
		"https://93.184.215.14/",
		"https://[2606:4700::1111]/",
		"https://[64:ff9b::5db8:d70e]/", // NAT64 form of a public address
		"https://0x7f.example.com/",     // a name, not a number
		"https://beef.cafe/",
	} {
		if _, err := p.checkURL(raw); err != nil {
			t.Errorf("checkURL(%q) = %v, want allowed", raw, err)
		}
	}
}

func TestCheckURLAllowList(t *testing.T) {
	p, err := newPolicy(Outbound{AllowHTTP: []string{"127.0.0.1", "alertmanager.local"}, AllowNetworks: []string{"127.0.0.0/8", "10.1.2.3"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		raw string
		ok  bool
	}{
		{"http://127.0.0.1:9093/", true},
		{"http://alertmanager.local:9093/", true},
		{"https://10.1.2.3/", true},
		{"https://10.1.2.4/", false},
		{"http://[::1]/", false},                 // not in allow_http
		{"https://[::1]/", false},                // not in allow_networks
		{"https://169.254.169.254/", false},      // allow list does not open the metadata address
		{"http://other.example.com/", false},     // http only for listed hosts
		{"https://[::ffff:127.0.0.1]:9/", true},  // mapped form of an allowed address
		{"https://[::ffff:10.1.2.4]:9/", false},  // mapped form of a refused one
		{"https://2130706433/", false},           // numeric forms stay refused
		{"https://[64:ff9b::7f00:1]:9/", false},  // NAT64 is not loopback itself
		{"https://[64:ff9b::a9fe:a9fe]/", false}, // nor the metadata address
	} {
		_, err := p.checkURL(tc.raw)
		if (err == nil) != tc.ok {
			t.Errorf("checkURL(%q) = %v, want ok=%v", tc.raw, err, tc.ok)
		}
	}
	if _, err := newPolicy(Outbound{AllowNetworks: []string{"not-a-net"}}); err == nil {
		t.Error("a bad allow_networks entry was accepted")
	}
}

// A host name is resolved once, every address is checked, and the
// checked address is the one dialled: a name resolving to loopback or the
// metadata address is refused before any connection.
func TestResolvedAddressChecked(t *testing.T) {
	rc := newReceiver(t)
	port := rc.Listener.Addr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port()
	for _, tc := range []struct {
		name    string
		addrs   []string
		allowed []string
		refused bool
	}{
		{"name resolving to loopback", []string{"127.0.0.1"}, nil, true},
		{"name resolving to the metadata address", []string{"169.254.169.254"}, nil, true},
		{"name resolving to a mapped metadata address", []string{"::ffff:169.254.169.254"}, nil, true},
		{"one bad address among good ones", []string{"93.184.215.14", "10.0.0.1"}, nil, true},
		{"allowed loopback receiver", []string{"127.0.0.1"}, []string{"127.0.0.1/32"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := newPolicy(Outbound{AllowNetworks: tc.allowed, AllowHTTP: []string{"receiver.test"}, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			cl := newClient(p)
			var lookups int
			cl.lookup = func(_ context.Context, host string) ([]netip.Addr, error) {
				lookups++
				var out []netip.Addr
				for _, s := range tc.addrs {
					out = append(out, netip.MustParseAddr(s))
				}
				return out, nil
			}
			u, err := p.checkURL("http://receiver.test:" + strconv.Itoa(int(port)) + "/")
			if err != nil {
				t.Fatal(err)
			}
			before := len(rc.requests())
			err = cl.post(context.Background(), u, nil, []byte(`{}`), t0)
			if tc.refused {
				if !errors.Is(err, ErrRefused) {
					t.Fatalf("post = %v, want refused", err)
				}
				var se *SendError
				if !errors.As(err, &se) || se.Retry {
					t.Errorf("a refusal must not be retried: %#v", err)
				}
				if len(rc.requests()) != before {
					t.Error("the receiver was reached")
				}
			} else if err != nil {
				t.Fatalf("post = %v", err)
			}
			if lookups != 1 {
				t.Errorf("%d lookups, want 1", lookups)
			}
		})
	}
}

// Redirects are not followed, wherever they point: the notification is
// dead-lettered and the target is never contacted.
func TestRedirectNotFollowed(t *testing.T) {
	for _, target := range []string{
		"http://169.254.169.254/latest/meta-data/iam/security-credentials/",
		"http://[::ffff:169.254.169.254]/",
		"/elsewhere", // even on the same receiver
	} {
		t.Run(target, func(t *testing.T) {
			clock := newFakeClock()
			rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) int {
				http.Redirect(w, r, target, http.StatusFound)
				return http.StatusFound
			})
			c := webhookConfig(clock, rc.URL)
			log := NewMemoryLog()
			c.Log = log
			n := mustNew(t, c)
			if err := n.Deliver(context.Background(), testAlert("r1", "", "e1")); err != nil {
				t.Fatal(err)
			}
			if got := len(rc.requests()); got != 1 {
				t.Errorf("receiver got %d requests, want 1 (no redirect followed)", got)
			}
			as := log.Attempts()
			if len(as) != 1 || as[0].Status != StatusDeadLetter || !strings.Contains(as[0].Error, "redirect not followed") {
				t.Errorf("attempts = %+v, want one dead letter for the redirect", as)
			}
		})
	}
}

// Destinations whose URL the policy refuses are refused when the Notifier
// is built, before anything is sent.
func TestNewRefusesUnsafeDestinations(t *testing.T) {
	clock := newFakeClock()
	for _, raw := range []string{
		"https://127.0.0.1/", "https://[::1]/", "https://169.254.169.254/",
		"https://[::ffff:169.254.169.254]/", "https://2130706433/", "http://hooks.example.com/",
	} {
		c := webhookConfig(clock, raw)
		c.Outbound = Outbound{}
		if _, err := New(c); !errors.Is(err, ErrRefused) {
			t.Errorf("New with %s = %v, want refused", raw, err)
		}
	}
	// A Slack URL is a secret: its refusal does not echo it.
	c := Config{Getenv: func(string) string { return "http://127.0.0.1/services/T000/B000/SECRETTOKEN" },
		Destinations: []DestinationConfig{{Name: "s", Type: TypeSlack, URLEnv: "SLACK_URL"}},
		Routes:       []Route{{Name: "r", Default: true, Destinations: []string{"s"}}}}
	_, err := New(c)
	if err == nil || strings.Contains(err.Error(), "SECRETTOKEN") {
		t.Errorf("New = %v, want a refusal without the URL", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{"0", 0},
		{"-3", 0},
		{"1.5", 0},
		{"Sat, 14 Mar 2026 12:00:30 GMT", 30 * time.Second},
		{"Sat, 14 Mar 2026 11:00:00 GMT", 0}, // in the past
		{"soon", 0},
		{"99999999999", 24 * time.Hour},
	} {
		if got := retryAfter(tc.in, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestNumericHost(t *testing.T) {
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"2130706433", true}, {"0x7f000001", true}, {"0X7F.1", true}, {"127.1", true},
		{"017700000001", true}, {"1.2.3.4.", true}, {"1.2.3.4.5", false},
		{"example.com", false}, {"0x", false}, {"0xg1", false}, {"12a", false}, {"", false},
	} {
		if got := numericHost(tc.host); got != tc.want {
			t.Errorf("numericHost(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}
