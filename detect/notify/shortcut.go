package notify

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ShortcutRoute is the name of the route WebhookShortcut adds.
const ShortcutRoute = "webhook"

// WebhookShortcut returns the configuration behind `vigil run --webhook
// URL`: one route, named "webhook", that sends every alert at once
// (ungrouped) to a signed generic webhook per URL. The signing secret is
// read from the variable secretEnv (VIGIL_WEBHOOK_SECRET) when the
// Notifier is built; it has the form whsec_<base64 key>. With
// allowInsecure, http:// URLs are accepted when their host is loopback
// (127.0.0.0/8, ::1 or localhost), for a receiver on the same machine;
// https:// URLs keep the full policy either way.
func WebhookShortcut(urls []string, secretEnv string, allowInsecure bool) (Config, error) {
	var c Config
	return c, c.AddWebhookShortcut(urls, secretEnv, allowInsecure)
}

// AddWebhookShortcut adds WebhookShortcut's destinations and route to c.
// The route matches every alert and continues, so configured routes still
// apply.
func (c *Config) AddWebhookShortcut(urls []string, secretEnv string, allowInsecure bool) error {
	if len(urls) == 0 {
		return errors.New("--webhook: no URL")
	}
	if secretEnv == "" {
		return errors.New("--webhook: no secret variable")
	}
	r := Route{Name: ShortcutRoute, Continue: true}
	for i, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return fmt.Errorf("--webhook %q: not an absolute URL", raw)
		}
		if u.Scheme == "http" {
			host := strings.ToLower(u.Hostname())
			if !allowInsecure {
				return fmt.Errorf("--webhook %s: http:// needs --webhook-allow-insecure (loopback only)", redactURL(u))
			}
			if !loopbackHost(host) {
				return fmt.Errorf("--webhook %s: --webhook-allow-insecure permits http:// to loopback only", redactURL(u))
			}
			c.Outbound.AllowHTTP = append(c.Outbound.AllowHTTP, host)
			c.Outbound.AllowNetworks = append(c.Outbound.AllowNetworks, "127.0.0.0/8", "::1/128")
		}
		name := fmt.Sprintf("webhook-%d", i+1)
		c.Destinations = append(c.Destinations, DestinationConfig{
			Name: name, Type: TypeWebhook, URL: raw, SecretEnv: []string{secretEnv},
		})
		r.Destinations = append(r.Destinations, name)
	}
	c.Routes = append(c.Routes, r)
	return nil
}

// loopbackHost reports whether host names the local machine.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	if a, err := parseAddr(host); err == nil {
		return a.Unmap().IsLoopback()
	}
	return false
}

// redactURL prints a URL without its query, which may carry a token.
func redactURL(u *url.URL) string {
	c := *u
	c.RawQuery, c.User, c.Fragment = "", nil, ""
	return c.String()
}
