package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/ingest"
)

// cloudWatchStub answers FilterLogEvents with two Kubernetes audit events
// on one page, whatever the query.
func cloudWatchStub(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "Logs_20140328.FilterLogEvents" {
			http.Error(w, `{"__type":"InvalidParameterException"}`, 400)
			return
		}
		var evs []map[string]any
		for i, id := range []string{"a-1", "a-2"} {
			at := time.Date(2026, 3, 14, 9, 0, i, 0, time.UTC)
			evs = append(evs, map[string]any{"logStreamName": "kube-apiserver-audit-1", "timestamp": at.UnixMilli(),
				"eventId": "cw-" + id, "ingestionTime": at.UnixMilli(),
				"message": fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"%s","stage":"ResponseComplete","verb":"get","requestURI":"/api","user":{"username":"bob"},"requestReceivedTimestamp":"%s","stageTimestamp":"%s"}`,
					id, at.Format(time.RFC3339), at.Format(time.RFC3339))})
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(map[string]any{"events": evs})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func awsTestEnv(t *testing.T, cloudwatchURL string) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": filepath.Join(dir, "c"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "k"), "AWS_ACCESS_KEY_ID": "AKIDTEST",
		"AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_REGION": "us-east-1",
		"AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": cloudwatchURL,
	} {
		t.Setenv(k, v)
	}
}

func TestIngestBackfill(t *testing.T) {
	awsTestEnv(t, cloudWatchStub(t))
	ckpt := filepath.Join(t.TempDir(), "ckpt")
	args := []string{"--source", "cloudwatch:///aws/eks/prod/cluster?type=k8saudit&stream_prefix=kube-apiserver-audit-",
		"--since", "2026-03-14", "--until", "2026-03-15", "--checkpoints", ckpt, "--progress", "none"}
	tests := []struct {
		name  string
		extra []string
		lines int
		want  string // in the stderr summary
	}{
		{"first run writes the events", nil, 2, "2 events"},
		{"the checkpoint holds the boundary: nothing again", nil, 0, "0 events"},
		{"count only", []string{"--output", "count", "--checkpoints", ""}, 0, "2 events"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errw bytes.Buffer
			err := runIngest(context.Background(), append(append([]string{}, args...), tc.extra...), stdio{out: &out, err: &errw})
			if err != nil {
				t.Fatalf("%v\n%s", err, errw.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if out.Len() == 0 {
				lines = nil
			}
			if len(lines) != tc.lines {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), tc.lines, out.String())
			}
			for _, l := range lines {
				var ev struct {
					ID, Type, Source string
					Time             time.Time
					Fields           map[string]any
				}
				if err := json.Unmarshal([]byte(l), &ev); err != nil {
					t.Fatal(err)
				}
				var raw map[string]any
				_ = json.Unmarshal([]byte(l), &raw)
				if raw["event_id"] == "" || raw["log_type"] != "k8saudit" || raw["source"] != "cloudwatch:///aws/eks/prod/cluster/kube-apiserver-audit-1" ||
					ev.Fields["verb"] != "get" {
					t.Errorf("line %s", l)
				}
			}
			if !strings.Contains(errw.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", errw.String(), tc.want)
			}
		})
	}
}

func TestIngestUsage(t *testing.T) {
	awsTestEnv(t, "http://127.0.0.1:1")
	tests := []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"--source", "file:///tmp/x"}, "reads s3://"},
		{[]string{"--source", "s3://b/p?type=cloudtrail", "--since", "yesterday"}, "--since"},
		{[]string{"--source", "s3://b/p?type=cloudtrail", "--since", "2026-03-15", "--until", "2026-03-14"}, "after --since"},
		{[]string{"--source", "s3://b/p?type=auditd"}, "type="},
		{[]string{"--source", "s3://b/p?type=cloudtrail", "--output", "csv"}, "--output"},
	}
	for _, tc := range tests {
		var out, errw bytes.Buffer
		err := runIngest(context.Background(), tc.args, stdio{out: &out, err: &errw})
		var code exitError
		switch {
		case tc.want == "" && !errors.As(err, &code):
			t.Errorf("%v: err %v, want a usage exit", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: err %v, want one mentioning %q", tc.args, err, tc.want)
		}
	}
}

func TestProgressLine(t *testing.T) {
	in := &ingestRun{}
	in.events.Store(100)
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		srcs     []ingest.Source
		until    time.Time
		contains []string
		done     float64
	}{
		{"no position", nil, since.AddDate(0, 0, 10), []string{"100 events"}, -1},
		{"following", []ingest.Source{fixedProgress{at: since.AddDate(0, 0, 4)}}, time.Time{}, []string{"3 objects, 2.0 MB", "at 2026-01-05"}, -1},
		{"backfill", []ingest.Source{fixedProgress{at: since.AddDate(0, 0, 4)}}, since.AddDate(0, 0, 10), []string{"40%", "ETA"}, 0.4},
	}
	for _, tc := range tests {
		line, done := in.progressLine(tc.srcs, since, tc.until, time.Now().Add(-time.Second))
		for _, c := range tc.contains {
			if !strings.Contains(line, c) {
				t.Errorf("%s: line %q lacks %q", tc.name, line, c)
			}
		}
		if done != tc.done {
			t.Errorf("%s: done %v, want %v", tc.name, done, tc.done)
		}
	}
	if got := bar(0.4); got != "[########............] " {
		t.Errorf("bar(0.4) = %q", got)
	}
}

// fixedProgress is a source that reports fixed progress.
type fixedProgress struct {
	ingest.Source
	at time.Time
}

func (f fixedProgress) Progress() (int64, int64, time.Time) { return 3, 2e6, f.at }
