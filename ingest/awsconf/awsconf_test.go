package awsconf

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestFromQuery(t *testing.T) {
	tests := []struct {
		query string
		want  Options
		err   bool
	}{
		{"", Options{}, false},
		{"region=eu-west-1&endpoint=http://127.0.0.1:7070&path_style=true",
			Options{Region: "eu-west-1", Endpoint: "http://127.0.0.1:7070", PathStyle: true}, false},
		{"role_arn=arn:aws:iam::444455556666:role/r&external_id=x1&role_session_name=s&profile=p",
			Options{RoleARN: "arn:aws:iam::444455556666:role/r", ExternalID: "x1", SessionName: "s", Profile: "p"}, false},
		{"path_style=maybe", Options{}, true},
		{"endpoint=127.0.0.1:7070", Options{}, true},
		{"endpoint=ftp://host", Options{}, true},
		{"role_arn=reader", Options{}, true},
		{"external_id=x1", Options{}, true},
	}
	for _, tc := range tests {
		q, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := FromQuery(q)
		if (err != nil) != tc.err {
			t.Errorf("FromQuery(%q) error %v, want error %v", tc.query, err, tc.err)
			continue
		}
		if !tc.err && got != tc.want {
			t.Errorf("FromQuery(%q) = %+v, want %+v", tc.query, got, tc.want)
		}
	}
	for _, p := range []string{"region", "endpoint", "path_style", "role_arn", "external_id", "role_session_name", "profile"} {
		if !IsParam(p) {
			t.Errorf("IsParam(%q) = false", p)
		}
	}
	if IsParam("type") {
		t.Error("IsParam(type) = true")
	}
}

func TestLogValueRedacts(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("source", "aws", Options{Region: "eu-west-1", RoleARN: "arn:aws:iam::444455556666:role/r", ExternalID: "very-secret-id"})
	if strings.Contains(buf.String(), "very-secret-id") || !strings.Contains(buf.String(), "external_id=REDACTED") ||
		!strings.Contains(buf.String(), "role_arn=arn:aws:iam::444455556666:role/r") {
		t.Errorf("log line %q", buf.String())
	}
}

// isolate gives the SDK static base credentials and no user configuration.
func isolate(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": filepath.Join(dir, "c"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "k"), "AWS_ACCESS_KEY_ID": "AKIDBASE",
		"AWS_SECRET_ACCESS_KEY": "base-secret", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_REGION": "eu-west-1",
		"AWS_ENDPOINT_URL": "", "AWS_ROLE_ARN": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "",
	} {
		t.Setenv(k, v)
	}
}

// The role is assumed through STS (found by AWS_ENDPOINT_URL_STS) with the
// base credentials, the external ID and the session name.
func TestLoadAssumesRole(t *testing.T) {
	isolate(t)
	var mu sync.Mutex
	var form url.Values
	var auth string
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		_ = r.ParseForm()
		form, auth = r.PostForm, r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>`+
			`<Credentials><AccessKeyId>ASIAASSUMED</AccessKeyId><SecretAccessKey>assumed-secret</SecretAccessKey>`+
			`<SessionToken>assumed-token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>`+
			`<AssumedRoleUser><Arn>arn:aws:sts::444455556666:assumed-role/reader/vigil</Arn><AssumedRoleId>AROAEXAMPLE:vigil</AssumedRoleId></AssumedRoleUser>`+
			`</AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>`)
	}))
	defer sts.Close()
	t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)

	ctx := context.Background()
	cfg, err := Load(ctx, Options{RoleARN: "arn:aws:iam::444455556666:role/reader", ExternalID: "x-42"}, Retry{MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != "ASIAASSUMED" || creds.SessionToken != "assumed-token" {
		t.Errorf("credentials %s, want the assumed ones", creds.AccessKeyID)
	}
	mu.Lock()
	defer mu.Unlock()
	if form.Get("Action") != "AssumeRole" || form.Get("RoleArn") != "arn:aws:iam::444455556666:role/reader" ||
		form.Get("ExternalId") != "x-42" || form.Get("RoleSessionName") != DefaultSessionName {
		t.Errorf("AssumeRole request %v", form)
	}
	if !strings.Contains(auth, "Credential=AKIDBASE/") {
		t.Errorf("AssumeRole not signed with the base credentials: %q", auth)
	}
}

func TestLoadDefaultChain(t *testing.T) {
	isolate(t)
	cfg, err := Load(context.Background(), Options{Region: "ap-southeast-2"}, Retry{})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != "AKIDBASE" || cfg.Region != "ap-southeast-2" {
		t.Errorf("credentials %s region %s", creds.AccessKeyID, cfg.Region)
	}
	if _, err := Load(context.Background(), Options{Endpoint: "not a url"}, Retry{}); err == nil {
		t.Error("Load accepted an invalid endpoint")
	}
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"s3://b/p?type=cloudtrail":                                   "s3://b/p?type=cloudtrail",
		"s3://b/p?role_arn=arn:aws:iam::1:role/r&external_id=s3cr3t": "s3://b/p?external_id=REDACTED&role_arn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr",
		"s3://b/%zz?external_id=s3cr3t":                              "(unparsable source URL)",
	}
	for in, want := range tests {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestParseURLKeepsSecretsOut checks that a URL that does not parse is
// reported without its text, which may hold an external ID.
func TestParseURLKeepsSecretsOut(t *testing.T) {
	_, err := ParseURL("sqs", "sqs://queue\x7f?external_id=s3cr3t")
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || !strings.HasPrefix(err.Error(), "sqs source: invalid URL") {
		t.Errorf("error %v: want an sqs source error without the external ID", err)
	}
	u, err := ParseURL("s3", "s3://bucket/prefix?type=cloudtrail")
	if err != nil || u.Host != "bucket" || u.Path != "/prefix" {
		t.Errorf("parsed %v, %v", u, err)
	}
}
