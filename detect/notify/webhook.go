package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/detect"
)

// Standard Webhooks (https://www.standardwebhooks.com) header names.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Tolerance is how far a webhook-timestamp may be from the receiver's
// clock before Verify rejects the message (replay protection).
const Tolerance = 5 * time.Minute

// secretPrefix starts a Standard Webhooks secret: whsec_<base64 key>.
const secretPrefix = "whsec_"

// Secret is a webhook signing key. It prints and logs as [redacted].
type Secret struct{ key []byte }

// ParseSecret decodes a secret in the Standard Webhooks form
// whsec_<base64 key>; the HMAC key is the decoded bytes.
func ParseSecret(s string) (Secret, error) {
	s = strings.TrimSpace(s)
	b64, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return Secret{}, errors.New("webhook secret must have the form whsec_<base64 key>")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil {
		return Secret{}, errors.New("webhook secret: the part after whsec_ is not base64")
	}
	if len(key) < 16 {
		return Secret{}, errors.New("webhook secret: key shorter than 16 bytes")
	}
	return Secret{key: key}, nil
}

// String returns "[redacted]".
func (Secret) String() string { return "[redacted]" }

// LogValue keeps the key out of logs.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// Sign returns the webhook-signature value for a message: "v1,<base64
// HMAC-SHA256 over id.timestamp.body>" for each secret, separated by
// spaces (two secrets during a rotation).
func Sign(secrets []Secret, id string, timestamp int64, body []byte) string {
	var b strings.Builder
	for i, s := range secrets {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(mac(s.key, id, timestamp, body)))
	}
	return b.String()
}

func mac(key []byte, id string, timestamp int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(nil, timestamp, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a received webhook the way a receiver must: the
// timestamp is within Tolerance of now, and one of the v1 signatures in
// the webhook-signature header matches one of the secrets (a receiver in
// the middle of a rotation passes both). It is the reference for the
// recipe in README.md.
func Verify(secrets []Secret, h http.Header, body []byte, now time.Time) error {
	id, ts := h.Get(HeaderID), h.Get(HeaderTimestamp)
	if id == "" || ts == "" {
		return errors.New("missing webhook-id or webhook-timestamp")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp is not an integer")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > Tolerance || d < -Tolerance {
		return fmt.Errorf("webhook-timestamp is %v away from now (tolerance %v)", d.Round(time.Second), Tolerance)
	}
	for sig := range strings.FieldsSeq(h.Get(HeaderSignature)) {
		v, b64, ok := strings.Cut(sig, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			continue
		}
		for _, s := range secrets {
			if hmac.Equal(got, mac(s.key, id, sec, body)) {
				return nil
			}
		}
	}
	return errors.New("no valid signature")
}

// WebhookBody is the JSON a generic webhook receives: the alert's fields
// as in `vigil replay --format json`, with count and last_time covering
// every alert of the group, plus the route, the rendered link, and the
// grouped alert IDs.
type WebhookBody struct {
	*detect.Alert
	// Link is the destination's link template rendered for the alert.
	Link string `json:"link,omitempty"`
	// Route is the route that sent the notification.
	Route string `json:"route"`
	// Alerts is the number of alerts folded into this notification.
	Alerts int `json:"alerts"`
	// AlertIDs lists them when there is more than one.
	AlertIDs []string `json:"alert_ids,omitempty"`
	// Runbook is the rule's runbook, when known.
	Runbook string `json:"runbook,omitempty"`
}

// Webhook is a generic HTTPS webhook, signed the Standard Webhooks way.
type Webhook struct {
	name    string
	url     *url.URL
	secrets []Secret
	link    *linkTemplate
	c       *client
	now     func() time.Time
}

var _ Destination = (*Webhook)(nil)

// Name returns the destination's name.
func (w *Webhook) Name() string { return w.name }

// Send posts the notification once. The webhook-id is the alert ID, the
// same on every retry, so a receiver can drop duplicates.
func (w *Webhook) Send(ctx context.Context, n *Notification) error {
	a := *n.Alert
	a.Count, a.LastTime = n.Count, n.LastTime
	link, err := w.link.render(&a)
	if err != nil {
		return fmt.Errorf("link template: %w", err)
	}
	body := WebhookBody{Alert: &a, Link: link, Route: n.Route, Alerts: len(n.AlertIDs), Runbook: n.Runbook}
	if len(n.AlertIDs) > 1 {
		body.AlertIDs = n.AlertIDs
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ts := w.now().Unix()
	h := http.Header{}
	h.Set(HeaderID, a.AlertID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	if len(w.secrets) > 0 {
		h.Set(HeaderSignature, Sign(w.secrets, a.AlertID, ts, raw))
	}
	return w.c.post(ctx, w.url, h, raw, w.now())
}
