package notify

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readmeYAML returns the configuration example of README.md.
func readmeYAML(t testing.TB) []byte {
	t.Helper()
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(raw)
	if m == nil {
		t.Fatal("README.md has no yaml block")
	}
	return m[1]
}

// The README's example configuration loads, and a Notifier is built from
// it when its variables are set.
func TestReadmeConfig(t *testing.T) {
	c, err := Parse(readmeYAML(t), "README.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Destinations) != 4 || len(c.Routes) != 3 || c.Routes[1].GroupWindow != 5*time.Minute ||
		c.Outbound.Timeout != 10*time.Second || c.Retry.MaxAge != time.Hour || c.Destinations[0].Rate.PerMinute != 120 {
		t.Fatalf("decoded %+v", c)
	}
	env := map[string]string{
		"VIGIL_WEBHOOK_SECRET": testSecret, "VIGIL_WEBHOOK_SECRET_NEXT": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"VIGIL_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/x", "VIGIL_PAGERDUTY_ROUTING_KEY": "k",
	}
	c.Getenv = func(k string) string { return env[k] }
	if _, err := New(c); err != nil {
		t.Fatal(err)
	}
	delete(env, "VIGIL_WEBHOOK_SECRET_NEXT")
	if _, err := New(c); err == nil || !strings.Contains(err.Error(), "VIGIL_WEBHOOK_SECRET_NEXT is not set") {
		t.Errorf("missing secret: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	const dest = "destinations: [{name: d, type: alertmanager, url: 'https://am.example.com'}]\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", dest + "routes: [{name: r, destinations: [d], colour: red}]", "field colour not found"},
		{"unknown destination", dest + "routes: [{name: r, destinations: [nope]}]", `unknown destination "nope"`},
		{"no destinations", dest + "routes: [{name: r}]", "no destinations"},
		{"two defaults", dest + "routes: [{name: a, default: true, destinations: [d]}, {name: b, default: true, destinations: [d]}]", "more than one default"},
		{"default with match", dest + "routes: [{name: a, default: true, match: {severity: [high]}, destinations: [d]}]", "takes no match"},
		{"bad severity", dest + "routes: [{name: a, match: {min_severity: urgent}, destinations: [d]}]", `severity "urgent"`},
		{"bad glob", dest + "routes: [{name: a, match: {rule_ids: ['[']}, destinations: [d]}]", "bad glob"},
		{"bad type", "destinations: [{name: d, type: email, url: x}]", `type "email"`},
		{"webhook without secret", "destinations: [{name: d, type: webhook, url: 'https://x.example'}]", "secret_env"},
		{"pagerduty without key", "destinations: [{name: d, type: pagerduty}]", "routing_key_env"},
		{"duplicate destination", "destinations: [{name: d, type: slack, url_env: A}, {name: d, type: slack, url_env: B}]", "duplicate name"},
		{"bad name", "destinations: [{name: 'a b', type: slack, url_env: A}]", "must match"},
		{"negative window", dest + "routes: [{name: a, destinations: [d], group_window: -1m}]", "group_window"},
		{"bad duration", dest + "routes: [{name: a, destinations: [d], group_window: soon}]", "soon"},
		{"bad network", "outbound: {allow_networks: [nowhere]}", "allow_networks"},
		{"template field", "templates: [{rules: ['*'], summary: '{{ .Nope }}'}]", "can't evaluate field Nope"},
		{"template syntax", "templates: [{rules: ['*'], summary: '{{ .Count '}]", "summary template"},
		{"template without rules", "templates: [{summary: x}]", "no rules"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "notify.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "notify.yaml: ") {
				t.Errorf("Parse = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestWebhookShortcut(t *testing.T) {
	for _, tc := range []struct {
		name     string
		urls     []string
		insecure bool
		want     string // error substring, "" for success
	}{
		{"https", []string{"https://hooks.example.com/x"}, false, ""},
		{"two urls", []string{"https://a.example.com/", "https://b.example.com/"}, false, ""},
		{"http needs the flag", []string{"http://127.0.0.1:8080/"}, false, "--webhook-allow-insecure"},
		{"http loopback", []string{"http://127.0.0.1:8080/"}, true, ""},
		{"http localhost", []string{"http://localhost:8080/"}, true, ""},
		{"http ipv6 loopback", []string{"http://[::1]:8080/"}, true, ""},
		{"http elsewhere", []string{"http://hooks.example.com/"}, true, "loopback only"},
		{"http private", []string{"http://10.0.0.1/"}, true, "loopback only"},
		{"no url", nil, false, "no URL"},
		{"relative", []string{"/hook"}, false, "not an absolute URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := WebhookShortcut(tc.urls, "VIGIL_WEBHOOK_SECRET", tc.insecure)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.Getenv = func(string) string { return testSecret }
			if _, err := New(c); err != nil {
				t.Fatal(err)
			}
		})
	}
	// Without the secret the notifier is not built.
	c, _ := WebhookShortcut([]string{"https://hooks.example.com/"}, "VIGIL_WEBHOOK_SECRET", false)
	c.Getenv = func(string) string { return "" }
	if _, err := New(c); err == nil || !strings.Contains(err.Error(), "VIGIL_WEBHOOK_SECRET is not set") {
		t.Errorf("New without secret = %v", err)
	}
}
