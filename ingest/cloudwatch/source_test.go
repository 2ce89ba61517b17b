package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/checkpoint"
	"github.com/vigilsec/vigil/ingest/logtype"
	"github.com/vigilsec/vigil/ingest/s3"
)

const eksGroup = "/aws/eks/prod/cluster"

var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

// client is the real SDK client pointed at srv, with dummy static
// credentials and retries without waiting.
func client(url string) *cwl.Client {
	return cwl.New(cwl.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 3
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		}),
	})
}

// auditEvent is a Kubernetes audit event message.
func auditEvent(id string, at time.Time) string {
	return fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"%s","stage":"ResponseComplete",`+
		`"requestURI":"/api/v1/namespaces/default/secrets","verb":"list","user":{"username":"alice"},"sourceIPs":["192.0.2.7"],`+
		`"objectRef":{"resource":"secrets","namespace":"default"},"responseStatus":{"code":200},`+
		`"requestReceivedTimestamp":"%s","stageTimestamp":"%s"}`, id, at.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano))
}

// auditEvents returns n audit events, the i-th at t0 plus millis[i] ms.
func auditEvents(prefix string, millis ...int64) []logEvent {
	var evs []logEvent
	for i, ms := range millis {
		at := t0.Add(time.Duration(ms) * time.Millisecond)
		id := fmt.Sprintf("%s%d", prefix, i)
		evs = append(evs, logEvent{stream: "kube-apiserver-audit-0a1b2c", id: "cw-" + id, ts: at.UnixMilli(), msg: auditEvent(id, at)})
	}
	return evs
}

type run struct {
	src   *Source
	ids   []string // auditIDs (Fields) of the events read
	evs   []*ingest.Event
	bad   []*ingest.DecodeError
	slept []time.Duration
}

func start(t *testing.T, url string, cp checkpoint.Store, typ, format string) *run {
	t.Helper()
	decs, err := logtype.Decoders(logtype.Config{FlowFormat: format})
	if err != nil {
		t.Fatal(err)
	}
	r := &run{}
	r.src, err = New(context.Background(), Config{
		Group: eksGroup, StreamPrefix: "kube-apiserver-audit-", Client: client(url), LogType: typ, Decoder: decs[typ],
		Checkpoints: cp, Since: t0, Until: t0.Add(30 * time.Minute), PageLimit: 100,
		Now:   func() time.Time { return t0.Add(time.Hour) },
		Sleep: func(_ context.Context, d time.Duration) error { r.slept = append(r.slept, d); return nil },
		Bad:   func(e *ingest.DecodeError) { r.bad = append(r.bad, e) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.src.Close() })
	return r
}

// read acks up to n batches (all when n is 0).
func (r *run) read(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; n == 0 || i < n; i++ {
		evs, ack, err := r.src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			r.evs = append(r.evs, e)
			if id, ok := e.Fields["auditID"].(string); ok {
				r.ids = append(r.ids, id)
			}
		}
		if err := ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPagingThroughEmptyPages(t *testing.T) {
	f, srv := newFake(t, eksGroup, 2)
	f.empty = true
	f.add(auditEvents("a", 0, 10, 20, 30, 40, 50, 60)...)
	f.add(logEvent{stream: "other-stream", id: "cw-x", ts: t0.UnixMilli(), msg: auditEvent("x", t0)})
	r := start(t, srv.URL, nil, ingest.TypeK8sAudit, "")
	r.read(t, 0)
	if want := []string{"a0", "a1", "a2", "a3", "a4", "a5", "a6"}; !slices.Equal(r.ids, want) {
		t.Errorf("read %v, want %v", r.ids, want)
	}
	if f.calls < 8 {
		t.Errorf("%d calls; want the empty pages followed too", f.calls)
	}
	for _, e := range r.evs {
		if e.Source != "cloudwatch://"+eksGroup+"/kube-apiserver-audit-0a1b2c" {
			t.Errorf("Source = %q", e.Source)
		}
	}
}

func TestBoundaryMillisecondAcrossRestarts(t *testing.T) {
	f, srv := newFake(t, eksGroup, 2)
	// b0…b3 share one millisecond; pages are [a0 b0] [b1 b2] [b3 c0].
	f.add(auditEvents("a", 0)...)
	f.add(auditEvents("b", 5, 5, 5, 5)...)
	f.add(auditEvents("c", 9)...)
	cp, err := checkpoint.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	first := start(t, srv.URL, cp, ingest.TypeK8sAudit, "")
	first.read(t, 2) // killed mid-query, inside the shared millisecond
	_ = first.src.Close()
	second := start(t, srv.URL, cp, ingest.TypeK8sAudit, "")
	second.read(t, 0)
	if want := []string{"b3", "c0"}; !slices.Equal(second.ids, want) {
		t.Errorf("after restart read %v, want %v", second.ids, want)
	}
	// A late event in the checkpoint's millisecond is read; nothing else is
	// read again.
	f.add(logEvent{stream: "kube-apiserver-audit-0a1b2c", id: "cw-c1", ts: t0.Add(9 * time.Millisecond).UnixMilli(),
		msg: auditEvent("c1", t0.Add(9*time.Millisecond))})
	third := start(t, srv.URL, cp, ingest.TypeK8sAudit, "")
	third.read(t, 0)
	if want := []string{"c1"}; !slices.Equal(third.ids, want) {
		t.Errorf("third run read %v, want %v", third.ids, want)
	}
}

func TestThrottlingBackoff(t *testing.T) {
	f, srv := newFake(t, eksGroup, 10)
	f.add(auditEvents("a", 0, 1, 2)...)
	f.throttle = 7 // three SDK attempts per call: two calls fail, the third succeeds
	r := start(t, srv.URL, nil, ingest.TypeK8sAudit, "")
	r.read(t, 0)
	if want := []string{"a0", "a1", "a2"}; !slices.Equal(r.ids, want) {
		t.Errorf("read %v, want %v", r.ids, want)
	}
	if want := []time.Duration{time.Second, 2 * time.Second}; !slices.Equal(r.slept, want) {
		t.Errorf("backoff %v, want %v", r.slept, want)
	}
}

func TestLogTypes(t *testing.T) {
	const stream = "kube-apiserver-audit-agent"
	at := t0.UnixMilli()
	tests := []struct {
		name, typ, format string
		msgs              []string
		want              int
	}{
		{"vpcflow without header", ingest.TypeVPCFlow, "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}",
			[]string{"2 111122223333 eni-1 10.0.0.1 10.0.0.2 443 50000 6 10 840 1773478800 1773478860 ACCEPT OK",
				"2 111122223333 eni-1 10.0.0.1 10.0.0.2 443 50000 6 10 840 1773478800 1773478860 ACCEPT OK",
				"2 111122223333 eni-1 10.0.0.3 10.0.0.2 22 50001 6 3 180 1773478800 1773478860 REJECT OK"}, 3},
		{"auditd lines of one event coalesce", ingest.TypeAuditd, "",
			[]string{`type=SYSCALL msg=audit(1773478800.123:4242): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=4243 auid=1000 uid=0 comm="id" exe="/usr/bin/id" key="exec"`,
				`type=EXECVE msg=audit(1773478800.123:4242): argc=1 a0="id"`,
				`type=PROCTITLE msg=audit(1773478800.123:4242): proctitle=6964`,
				`type=SYSCALL msg=audit(1773478801.000:4243): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=4244 auid=1000 uid=0 comm="w" exe="/usr/bin/w" key="exec"`}, 2},
		{"cloudtrail record per message", ingest.TypeCloudTrail, "",
			[]string{`{"eventVersion":"1.09","eventTime":"2026-03-14T09:00:00Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","eventID":"e-1"}`,
				`{"eventVersion":"1.09","eventTime":"2026-03-14T09:00:00Z","eventSource":"iam.amazonaws.com","eventName":"ListRoles","eventID":"e-2"}`,
				`{"eventVersion":"1.09","eventTime":`}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFake(t, eksGroup, 2)
			for i, m := range tc.msgs {
				f.add(logEvent{stream: stream, id: fmt.Sprintf("cw-%d", i), ts: at, msg: m})
			}
			r := start(t, srv.URL, nil, tc.typ, tc.format)
			r.read(t, 0)
			ids := map[string]bool{}
			for _, e := range r.evs {
				ids[e.ID] = true
				if e.Type != tc.typ || e.Source != "cloudwatch://"+eksGroup+"/"+stream {
					t.Errorf("event %s type %q source %q", e.ID, e.Type, e.Source)
				}
			}
			if len(r.evs) != tc.want || len(ids) != tc.want {
				t.Errorf("%d events with %d distinct IDs, want %d", len(r.evs), len(ids), tc.want)
			}
			if tc.typ == ingest.TypeCloudTrail && (len(r.bad) != 1 || !strings.Contains(r.bad[0].Source, "#cw-2")) {
				t.Errorf("bad records %v, want the truncated message named by its event ID", r.bad)
			}
		})
	}
}

// Open honours AWS_ENDPOINT_URL_CLOUDWATCH_LOGS and reads the URL options.
func TestOpenEndpointFromEnvironment(t *testing.T) {
	f, srv := newFake(t, eksGroup, 5)
	f.add(auditEvents("a", 0, 1)...)
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": filepath.Join(dir, "c"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "k"), "AWS_ACCESS_KEY_ID": "AKIDTEST",
		"AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_REGION": "eu-west-1",
		"AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": srv.URL,
	} {
		t.Setenv(k, v)
	}
	ctx := context.Background()
	src, err := Open(ctx, "cloudwatch://"+eksGroup+"?type=k8saudit&stream_prefix=kube-apiserver-audit-&delay=0s",
		s3.Options{Since: t0, Until: t0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if src.cfg.Group != eksGroup || src.cfg.StreamPrefix != "kube-apiserver-audit-" {
		t.Errorf("group %q prefix %q", src.cfg.Group, src.cfg.StreamPrefix)
	}
	r := &run{src: src}
	r.read(t, 0)
	if want := []string{"a0", "a1"}; !slices.Equal(r.ids, want) {
		t.Errorf("read %v, want %v", r.ids, want)
	}
	for _, raw := range []string{
		"cloudwatch://?type=k8saudit",
		"cloudwatch:///aws/eks/x/cluster",
		"cloudwatch:///aws/eks/x/cluster?type=syslog",
		"cloudwatch:///aws/eks/x/cluster?type=k8saudit&streamprefix=kube",
		"cloudwatch:///aws/eks/x/cluster?type=k8saudit&delay=soon",
		"s3://bucket/prefix?type=cloudtrail",
	} {
		if _, err := Open(ctx, raw, s3.Options{}); err == nil {
			t.Errorf("Open(%q) succeeded", raw)
		}
	}
}

// FuzzHoldBack checks that holding back auditd lines only splits a page:
// every message is kept or held, in order, and a held one shares the stamp
// of its stream's last message.
func FuzzHoldBack(f *testing.F) {
	f.Add("type=SYSCALL msg=audit(1773478800.123:4242): syscall=59\ntype=EXECVE msg=audit(1773478800.123:4242): argc=1", "a\na")
	f.Add("type=SYSCALL msg=audit(1.1:1): x\ntype=SYSCALL msg=audit(1.1:2): y\nnot audit", "a\nb\na")
	f.Fuzz(func(t *testing.T, msgs, streams string) {
		ms, ss := strings.Split(msgs, "\n"), strings.Split(streams, "\n")
		var page []types.FilteredLogEvent
		for i, m := range ms {
			page = append(page, types.FilteredLogEvent{Message: aws.String(m), LogStreamName: aws.String(ss[i%len(ss)]),
				EventId: aws.String(fmt.Sprint(i))})
		}
		keep, held := holdBack(page)
		if len(keep)+len(held) != len(page) {
			t.Fatalf("%d kept + %d held of %d", len(keep), len(held), len(page))
		}
		last := map[string]string{}
		for _, e := range page {
			last[*e.LogStreamName] = stampOf(*e.Message)
		}
		for _, e := range held {
			if st := stampOf(*e.Message); st == "" || st != last[*e.LogStreamName] {
				t.Errorf("held %q of stream %q", *e.Message, *e.LogStreamName)
			}
		}
	})
}

// A source that saw no event saves where it started: after a long pause it
// still reads from there.
func TestStartSavedWithoutEvents(t *testing.T) {
	f, srv := newFake(t, eksGroup, 10)
	cp, err := checkpoint.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	first := start(t, srv.URL, cp, ingest.TypeK8sAudit, "")
	first.read(t, 0)
	_ = first.src.Close()
	f.add(auditEvents("late", 60_000)...) // a minute after Since, while the source was down
	decs, err := logtype.Decoders(logtype.Config{})
	if err != nil {
		t.Fatal(err)
	}
	r := &run{}
	r.src, err = New(context.Background(), Config{Group: eksGroup, StreamPrefix: "kube-apiserver-audit-", Client: client(srv.URL), LogType: ingest.TypeK8sAudit,
		Decoder: decs[ingest.TypeK8sAudit], Checkpoints: cp, Until: t0.Add(30 * time.Minute),
		Now: func() time.Time { return t0.Add(24 * time.Hour) }}) // no Since: the checkpoint decides
	if err != nil {
		t.Fatal(err)
	}
	defer r.src.Close()
	r.read(t, 0)
	if want := []string{"late0"}; !slices.Equal(r.ids, want) {
		t.Errorf("read %v, want %v", r.ids, want)
	}
}

// Following, a batch waiting for its ack is not read again by the next
// polls (its consumer may take a while to make it durable); a restart
// before the ack reads it again, one after it does not.
func TestUnackedBatchNotReadAgain(t *testing.T) {
	f, srv := newFake(t, eksGroup, 10)
	f.add(auditEvents("a", 0, 1)...)
	decs, err := logtype.Decoders(logtype.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := checkpoint.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	open := func() *Source {
		src, err := New(context.Background(), Config{
			Group: eksGroup, StreamPrefix: "kube-apiserver-audit-", Client: client(srv.URL), LogType: ingest.TypeK8sAudit,
			Decoder: decs[ingest.TypeK8sAudit], Checkpoints: cp, Since: t0,
			Now:   func() time.Time { return t0.Add(time.Hour) },
			Sleep: func(ctx context.Context, _ time.Duration) error { return sleep(ctx, time.Millisecond) },
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = src.Close() })
		return src
	}
	next := func(src *Source, wait time.Duration) ([]*ingest.Event, func(context.Context) error, error) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		return src.Next(ctx)
	}
	calls := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.calls
	}

	src := open()
	evs, ack, err := next(src, 30*time.Second)
	if err != nil || len(evs) != 2 {
		t.Fatalf("first batch: %d events, %v", len(evs), err)
	}
	before := calls()
	for calls() < before+3 {
		time.Sleep(time.Millisecond)
	}
	if again, _, err := next(src, 50*time.Millisecond); err == nil {
		t.Fatalf("read %d events again while the first batch waits for its ack", len(again))
	}
	// Not acknowledged: a restart reads the batch again.
	_ = src.Close()
	src = open()
	if evs, ack, err = next(src, 30*time.Second); err != nil || len(evs) != 2 {
		t.Fatalf("after a restart without ack: %d events, %v", len(evs), err)
	}
	if err := ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.add(auditEvents("b", 2)...)
	if evs, _, err = next(src, 30*time.Second); err != nil || len(evs) != 1 || evs[0].Fields["auditID"] != "b0" {
		t.Fatalf("after the ack: %d events, %v; want b0 alone", len(evs), err)
	}
}
