package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsec/vigil/detect/notify"
)

func TestNotifyTest(t *testing.T) {
	const secret = "whsec_dmlnaWwtdGVzdC1zZWNyZXQtMDAwMDAx"
	t.Setenv("VIGIL_WEBHOOK_SECRET", secret)
	s, err := notify.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	var verified atomic.Int32
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body bytes.Buffer
		body.ReadFrom(r.Body)
		if notify.Verify([]notify.Secret{s}, r.Header, body.Bytes(), time.Now()) == nil {
			verified.Add(1)
		}
	}))
	defer good.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(403) }))
	defer bad.Close()

	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	os.WriteFile(cfg, []byte(`notify:
  destinations:
    - {name: good, type: webhook, url: '`+good.URL+`', secret_env: [VIGIL_WEBHOOK_SECRET]}
    - {name: bad, type: webhook, url: '`+bad.URL+`', secret_env: [VIGIL_WEBHOOK_SECRET]}
  routes:
    - {name: ok-route, default: true, destinations: [good]}
    - {name: mixed, match: {severity: [critical]}, destinations: [good, bad]}
  outbound: {allow_http: [127.0.0.1], allow_networks: [127.0.0.1/32]}
`), 0o600)

	for _, tc := range []struct {
		name string
		args []string
		code int
		out  []string
	}{
		{"webhook shortcut", []string{"test", "--webhook", good.URL, "--webhook-allow-insecure", "--route", "webhook"}, 0, []string{"ok    webhook-1"}},
		{"config route", []string{"test", "--config", cfg, "--route", "ok-route"}, 0, []string{"ok    good"}},
		{"a failing destination", []string{"test", "--config", cfg, "--route", "mixed"}, 1, []string{"ok    good", "FAIL  bad: receiver refused: Forbidden (HTTP 403)"}},
		{"unknown route", []string{"test", "--config", cfg, "--route", "nope"}, 2, nil},
		{"http without the flag", []string{"test", "--webhook", good.URL, "--route", "webhook"}, 2, nil},
		{"no route", []string{"test", "--config", cfg}, 2, nil},
		{"no subcommand", nil, 2, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errw bytes.Buffer
			err := runNotify(context.Background(), tc.args, stdio{out: &out, err: &errw})
			code := 0
			if err != nil {
				code = 2
				if e, ok := err.(exitError); ok {
					code = int(e)
				}
			}
			if code != tc.code {
				t.Fatalf("exit %d (%v), want %d; stdout %q stderr %q", code, err, tc.code, out.String(), errw.String())
			}
			for _, want := range tc.out {
				if !strings.Contains(out.String(), want) {
					t.Errorf("stdout %q lacks %q", out.String(), want)
				}
			}
		})
	}
	if verified.Load() != 3 {
		t.Errorf("%d verified sample alerts, want 3", verified.Load())
	}
}
