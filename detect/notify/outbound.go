package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"
)

// DefaultTimeout bounds one HTTP request to a destination.
const DefaultTimeout = 10 * time.Second

// maxDrain is how much of a response body is read (and discarded) so the
// connection can be reused. Response bodies are never logged or echoed.
const maxDrain = 64 << 10

// Outbound is the outbound safety policy shared by every destination.
//
// By default a destination URL must be https, its host must not be a
// numeric form other than a canonical IP literal (2130706433, 0x7f.1,
// 017700000001 are refused before any lookup), and every address the host
// resolves to must be public: loopback, private (RFC 1918, ULA), link-local
// (which holds 169.254.169.254), CGNAT, multicast, unspecified and reserved
// ranges are refused, also when written as IPv4-mapped, IPv4-compatible,
// NAT64 or 6to4 IPv6 addresses. The checked address is the one dialled (the
// host is not resolved again), so DNS rebinding cannot swap it. Redirects
// are not followed and no proxy is used.
type Outbound struct {
	// AllowHTTP lists hosts (as written in URLs, without port) that may be
	// reached over plain http://. Default: none.
	AllowHTTP []string `yaml:"allow_http"`
	// AllowNetworks lists address prefixes (CIDR, or a single address) that
	// may be dialled although the default policy refuses them, e.g.
	// 127.0.0.1/32 for a receiver on the same host. Default: none.
	AllowNetworks []string `yaml:"allow_networks"`
	// Timeout bounds each request, connection and response included.
	// Default DefaultTimeout.
	Timeout time.Duration `yaml:"timeout"`
	// RootCAs replaces the system roots for https, e.g. for a private CA.
	// Default: the system roots.
	RootCAs *x509.CertPool `yaml:"-"`
}

// blockedPrefixes are refused in addition to what netip.Addr's predicates
// catch (loopback, private, link-local, multicast, unspecified).
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // CGNAT
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, broadcast
	netip.MustParsePrefix("fec0::/10"),      // site-local (deprecated)
	netip.MustParsePrefix("100::/64"),       // discard-only
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("fd00:ec2::/32"),  // AWS IPv6 metadata (also ULA)
	netip.MustParsePrefix("::/96"),          // IPv4-compatible (deprecated)
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2001::/32"),      // Teredo (embeds an obfuscated IPv4 address)
}

// Prefixes of IPv6 addresses that carry an IPv4 address; the carried
// address is checked as well (NAT64 and 6to4 to a public address pass).
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	v4compat  = netip.MustParsePrefix("::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// embeddedV4 returns the IPv4 address carried inside an IPv6 address of
// the forms an attacker may use to reach an IPv4 target.
func embeddedV4(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	switch {
	case a.Is4In6():
		return a.Unmap(), true
	case nat64.Contains(a), v4compat.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// policy is the compiled form of Outbound.
type policy struct {
	allowHTTP []string
	allowNets []netip.Prefix
	timeout   time.Duration
	rootCAs   *x509.CertPool
}

func newPolicy(o Outbound) (*policy, error) {
	p := &policy{timeout: o.Timeout, rootCAs: o.RootCAs}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	for _, h := range o.AllowHTTP {
		p.allowHTTP = append(p.allowHTTP, strings.ToLower(strings.Trim(h, "[]")))
	}
	for _, s := range o.AllowNetworks {
		pr, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("outbound.allow_networks: %q is neither a CIDR prefix nor an address", s)
			}
			pr = netip.PrefixFrom(a, a.BitLen())
		}
		p.allowNets = append(p.allowNets, pr.Masked())
	}
	return p, nil
}

// ErrRefused is wrapped by every error of the outbound safety policy.
var ErrRefused = errors.New("refused by the outbound policy")

// checkAddr refuses an address the policy does not allow.
func (p *policy) checkAddr(a netip.Addr) error {
	a = a.WithZone("")
	for _, pr := range p.allowNets {
		if pr.Contains(a) || pr.Contains(a.Unmap()) {
			return nil
		}
	}
	if why := forbidden(a); why != "" {
		return fmt.Errorf("%w: address %s is %s", ErrRefused, a, why)
	}
	if v4, ok := embeddedV4(a); ok {
		if why := forbidden(v4); why != "" {
			return fmt.Errorf("%w: address %s embeds %s, which is %s", ErrRefused, a, v4, why)
		}
	}
	return nil
}

// forbidden says why a is not a public unicast address, or "" when it is.
func forbidden(a netip.Addr) string {
	u := a.Unmap()
	switch {
	case !u.IsValid():
		return "invalid"
	case u.IsLoopback():
		return "loopback"
	case u.IsPrivate():
		return "private"
	case u.IsLinkLocalUnicast():
		return "link-local (metadata services live there)"
	case u.IsUnspecified():
		return "unspecified"
	case u.IsMulticast(), u.IsLinkLocalMulticast(), u.IsInterfaceLocalMulticast():
		return "multicast"
	}
	for _, pr := range blockedPrefixes {
		if pr.Contains(u) {
			return "reserved (" + pr.String() + ")"
		}
	}
	return ""
}

// numericHost reports whether host is a number form that inet_aton and
// browsers would read as an IPv4 address (2130706433, 0x7f000001,
// 0177.0.0.1, 127.1) without being a canonical dotted quad.
func numericHost(host string) bool {
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	if len(labels) > 4 {
		return false
	}
	for _, l := range labels {
		if !numericLabel(l) {
			return false
		}
	}
	return true
}

func numericLabel(l string) bool {
	if l == "" {
		return false
	}
	digits := "0123456789"
	if len(l) > 2 && (l[:2] == "0x" || l[:2] == "0X") {
		l, digits = l[2:], "0123456789abcdefABCDEF"
	}
	for _, c := range l {
		if !strings.ContainsRune(digits, c) {
			return false
		}
	}
	return true
}

// checkURL validates a destination URL against the policy without any
// network access: scheme, host form, and the address when the host is an
// IP literal.
func (p *policy) checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: unparsable URL", ErrRefused)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: credentials in the URL", ErrRefused)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return nil, fmt.Errorf("%w: URL without host", ErrRefused)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !slices.Contains(p.allowHTTP, host) {
			return nil, fmt.Errorf("%w: http:// to %s (https required unless the host is in outbound.allow_http)", ErrRefused, host)
		}
	default:
		return nil, fmt.Errorf("%w: scheme %q", ErrRefused, u.Scheme)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if err := p.checkAddr(a); err != nil {
			return nil, err
		}
	} else if numericHost(host) {
		return nil, fmt.Errorf("%w: ambiguous numeric host %q", ErrRefused, host)
	}
	return u, nil
}

// client is the HTTP client of every destination: it dials only addresses
// the policy allows, pins the address it checked, follows no redirects and
// uses no proxy.
type client struct {
	p      *policy
	http   *http.Client
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

func newClient(p *policy) *client {
	c := &client{p: p, lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
		return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	}}
	d := &net.Dialer{
		Timeout: p.timeout,
		// Control sees the socket address right before connect: a second
		// check that holds whatever path led to this dial.
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: dialling %q", ErrRefused, address)
			}
			return p.checkAddr(ap.Addr())
		},
	}
	tr := &http.Transport{
		Proxy: nil, // a proxy would dial on our behalf, past the checks
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			addrs, err := c.resolve(ctx, host)
			if err != nil {
				return nil, err
			}
			var errs []error
			for _, a := range addrs {
				conn, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
				if err == nil {
					return conn, nil
				}
				errs = append(errs, err)
			}
			return nil, errors.Join(errs...)
		},
		TLSClientConfig:       &tls.Config{RootCAs: p.rootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   p.timeout,
		ResponseHeaderTimeout: p.timeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	c.http = &http.Client{
		Transport: tr,
		Timeout:   p.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return c
}

// resolve returns the addresses of host, all of them allowed by the
// policy; one forbidden address refuses the host.
func (c *client) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, c.p.checkAddr(a)
	}
	if numericHost(host) {
		return nil, fmt.Errorf("%w: ambiguous numeric host %q", ErrRefused, host)
	}
	addrs, err := c.lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%s: no addresses", host)
	}
	for _, a := range addrs {
		if err := c.p.checkAddr(a); err != nil {
			return nil, fmt.Errorf("%s: %w", host, err)
		}
	}
	return addrs, nil
}

// post sends body to u and classifies the outcome. The response body is
// drained (up to maxDrain bytes) and discarded, never returned.
func (c *client) post(ctx context.Context, u *url.URL, header http.Header, body []byte, now time.Time) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(string(body)))
	if err != nil {
		return &SendError{Reason: "building the request", Err: err}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "vigil-notify/1")
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, ErrRefused) {
			return &SendError{Reason: "outbound policy", Err: unwrapURLError(err)}
		}
		// Network errors and timeouts are worth retrying.
		return &SendError{Retry: true, Reason: "network", Err: unwrapURLError(err)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	resp.Body.Close()
	return classify(resp, now)
}

// unwrapURLError drops the *url.Error wrapper, whose text repeats the URL:
// a Slack URL, for one, is a secret.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// classify turns a response status into nil or a *SendError.
func classify(resp *http.Response, now time.Time) error {
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return nil
	case code >= 300 && code < 400:
		return &SendError{Status: code, Reason: "redirect not followed"}
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		return &SendError{Status: code, Retry: true, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), now),
			Reason: "receiver answered " + http.StatusText(code)}
	default:
		return &SendError{Status: code, Reason: "receiver refused: " + http.StatusText(code)}
	}
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var secs int64
	if _, err := fmt.Sscanf(v, "%d", &secs); err == nil && fmt.Sprint(secs) == v {
		if secs < 0 {
			return 0
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// SendError is a failed delivery attempt.
type SendError struct {
	// Status is the HTTP status, 0 when there was no response.
	Status int
	// Retry is true when a later attempt may succeed (5xx, 429, 408,
	// network errors).
	Retry bool
	// RetryAfter is the receiver's Retry-After, 0 when absent.
	RetryAfter time.Duration
	// Reason says what failed, without any response content.
	Reason string
	// Err is the underlying error, if any.
	Err error
}

// Error says what failed; it never includes a response body.
func (e *SendError) Error() string {
	var b strings.Builder
	b.WriteString(e.Reason)
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *SendError) Unwrap() error { return e.Err }

// parseAddr parses an IP literal, bracketed or not.
func parseAddr(host string) (netip.Addr, error) {
	return netip.ParseAddr(strings.Trim(host, "[]"))
}
