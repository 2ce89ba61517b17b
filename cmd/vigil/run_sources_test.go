package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/awsconf"
	"github.com/vigilsec/vigil/ingest/s3"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/batch"
	"github.com/vigilsec/vigil/storage/memory"
)

// s3Unavailable skips the test, or fails it under CI=true, when the S3
// test server is missing.
func s3Unavailable(t *testing.T, why string) {
	t.Helper()
	msg := "S3 integration test: " + why + "; start a server with `eval \"$(deploy/s3/start.sh)\"`"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// s3TestBucket points the AWS SDK at the S3 test server named by
// VIGIL_S3_ENDPOINT, with its credentials and nothing of the user's, and
// returns a client, a fresh bucket and the endpoint.
func s3TestBucket(t *testing.T) (*awss3.Client, string, string) {
	t.Helper()
	ep := os.Getenv("VIGIL_S3_ENDPOINT")
	if ep == "" {
		s3Unavailable(t, "VIGIL_S3_ENDPOINT is not set")
	}
	access, secret := os.Getenv("VIGIL_S3_ACCESS_KEY"), os.Getenv("VIGIL_S3_SECRET_KEY")
	if access == "" {
		access, secret = "vigil-test", "vigil-test-secret"
	}
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": filepath.Join(dir, "c"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "k"), "AWS_ACCESS_KEY_ID": access,
		"AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_REGION": "us-east-1",
		"AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_S3": "", "AWS_ENDPOINT_URL_SQS": "", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": "",
		"AWS_ROLE_ARN": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "",
	} {
		t.Setenv(k, v)
	}
	c, err := s3.NewClient(context.Background(), awsconf.Options{Endpoint: ep, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	bucket := "vigil-run-" + hex.EncodeToString(b[:])
	if _, err := c.CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		s3Unavailable(t, "cannot create a bucket at "+ep+": "+err.Error())
	}
	return c, bucket, ep
}

// putGzip stores body gzipped under key.
func putGzip(t *testing.T, c *awss3.Client, bucket, key, body string) {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write([]byte(body)) // writes to a bytes.Buffer do not fail
	_ = w.Close()
	if _, err := c.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: bytes.NewReader(buf.Bytes())}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// ctEvent is a CloudTrail record; root makes it a root console sign-in.
func ctEvent(id string, at time.Time, root bool) string {
	who := `{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"}`
	name, source, typ := "GetObject", "s3.amazonaws.com", "AwsApiCall"
	extra := `"readOnly":true`
	if root {
		who = `{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"}`
		name, source, typ = "ConsoleLogin", "signin.amazonaws.com", "AwsConsoleSignIn"
		extra = `"readOnly":false,"responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"Yes"}`
	}
	return fmt.Sprintf(`{"eventVersion":"1.09","userIdentity":%s,"eventTime":"%s","eventSource":"%s","eventName":"%s",`+
		`"awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.77","userAgent":"Mozilla/5.0","eventID":"%s","eventType":"%s",`+
		`"recipientAccountId":"111122223333",%s}`, who, at.UTC().Format(time.RFC3339), source, name, id, typ, extra)
}

// TestRunS3Source runs vigil run over an S3 listing of the test server: a
// delivery holding a root console sign-in fires the root rule, its events
// are stored, a truncated delivery counts a decode error and keeps its
// complete records, and the run ends when the listing is read. A second
// run with the same checkpoints reads nothing new.
func TestRunS3Source(t *testing.T) {
	c, bucket, ep := s3TestBucket(t)
	now := time.Now().UTC()
	leaf := fmt.Sprintf("AWSLogs/111122223333/CloudTrail/eu-west-1/%s/", now.Format("2006/01/02"))
	stamp := now.Format("20060102T1504Z")
	putGzip(t, c, bucket, leaf+"111122223333_CloudTrail_eu-west-1_"+stamp+"_root.json.gz",
		`{"Records":[`+ctEvent("root-1", now.Add(-time.Minute), true)+","+ctEvent("read-1", now.Add(-time.Minute), false)+`]}`)
	putGzip(t, c, bucket, leaf+"111122223333_CloudTrail_eu-west-1_"+stamp+"_trunc.json.gz",
		`{"Records":[`+ctEvent("read-2", now.Add(-time.Minute), false)+`,{"eventVersion":"1.09","userIdent`)

	dir := t.TempDir()
	store := filepath.Join(dir, "vigil.duckdb")
	source := "s3://" + bucket + "/AWSLogs/?type=cloudtrail&endpoint=" + ep + "&path_style=true"
	args := []string{"run", "--format", "json", "--store", "duckdb://" + store, "--checkpoints", filepath.Join(dir, "checkpoints"),
		"--source", source}

	code, out, errw := vigil(t, "", args...)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errw)
	}
	var fired []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var a struct {
			RuleID string `json:"rule_id"`
		}
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("alert line %q: %v", line, err)
		}
		fired = append(fired, a.RuleID)
	}
	if !slices.Contains(fired, "aws-root-account-usage") {
		t.Errorf("alerts of rules %v, want aws-root-account-usage", fired)
	}
	if !strings.Contains(errw, "run: 3 events (cloudtrail 3), 1 decode errors, 0 unreadable inputs") {
		t.Errorf("summary:\n%s", errw)
	}
	events, alerts, ruleIDs := storeCounts(t, store)
	if events != 3 || alerts == 0 || !slices.Contains(ruleIDs, "aws-root-account-usage") {
		t.Errorf("store holds %d events and %d alerts of %v; want 3 events and the root alert", events, alerts, ruleIDs)
	}

	code, out, errw = vigil(t, "", args...)
	if code != 0 {
		t.Fatalf("second run: exit %d, stderr:\n%s", code, errw)
	}
	if out != "" || !strings.Contains(errw, "run: 0 events, 0 decode errors") {
		t.Errorf("second run read again: stdout %q, stderr:\n%s", out, errw)
	}
	if events2, _, _ := storeCounts(t, store); events2 != events {
		t.Errorf("second run changed the stored events from %d to %d", events, events2)
	}
}

// cloudWatchFollowStub answers FilterLogEvents with two Kubernetes audit
// events of a minute ago, whatever the query (the source skips what it
// has acknowledged), and counts the queries.
func cloudWatchFollowStub(t *testing.T, queries *atomic.Int64) string {
	t.Helper()
	base := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "Logs_20140328.FilterLogEvents" {
			http.Error(w, `{"__type":"InvalidParameterException"}`, http.StatusBadRequest)
			return
		}
		queries.Add(1)
		var evs []map[string]any
		for i, id := range []string{"f-1", "f-2"} {
			at := base.Add(time.Duration(i) * time.Second)
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

// TestRunCloudWatchSource follows a CloudWatch Logs group until the run is
// cancelled: the events read are stored, their checkpoint is written only
// once they are, and a second run resumes after them.
func TestRunCloudWatchSource(t *testing.T) {
	var queries atomic.Int64
	awsTestEnv(t, cloudWatchFollowStub(t, &queries))
	dir := t.TempDir()
	store, ckpt := filepath.Join(dir, "vigil.duckdb"), filepath.Join(dir, "checkpoints")
	args := []string{"run", "--format", "none", "--store", "duckdb://" + store, "--checkpoints", ckpt,
		"--source", "cloudwatch:///aws/eks/prod/cluster?type=k8saudit&stream_prefix=kube-apiserver-audit-&poll=20ms&delay=1ms&lookback=1h"}

	for i, want := range []string{"run: 2 events (k8saudit 2)", "run: 0 events"} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var out, errw bytes.Buffer
		done := make(chan int, 1)
		before := queries.Load()
		go func() { done <- run(ctx, args, strings.NewReader(""), &out, &errw) }()
		// Stop once the source checkpointed the first page (first run), or
		// queried again after resuming (second run).
		for ctx.Err() == nil {
			if i == 0 {
				if checkpointHolds(ckpt, "cw-f-2") {
					break
				}
			} else if queries.Load() > before+3 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("run %d: exit %d, stderr:\n%s", i, code, errw.String())
		}
		if !strings.Contains(errw.String(), want) || !strings.Contains(errw.String(), "interrupted") {
			t.Errorf("run %d: stderr lacks %q:\n%s", i, want, errw.String())
		}
		if events, _, _ := storeCounts(t, store); events != 2 {
			t.Errorf("run %d: store holds %d events, want 2", i, events)
		}
	}
}

// checkpointHolds reports whether a checkpoint file in dir contains s.
func checkpointHolds(dir, s string) bool {
	files, _ := os.ReadDir(dir) // not there yet: false
	for _, f := range files {
		if b, err := os.ReadFile(filepath.Join(dir, f.Name())); err == nil && strings.Contains(string(b), s) {
			return true
		}
	}
	return false
}

// TestAckGate: a batch is acknowledged only once its events are stored and
// detected, and the alerts detected until then are stored; acks come in
// batch order, an empty batch's right after its predecessor's.
func TestAckGate(t *testing.T) {
	g := newAckGate("store")
	var acked []string
	ack := func(name string) func(context.Context) error {
		return func(context.Context) error { acked = append(acked, name); return nil }
	}
	take := func() []string {
		g.mu.Lock()
		defer g.mu.Unlock()
		var names []string
		for _, pa := range g.ready {
			for _, a := range pa.acks {
				_ = a(context.Background())
			}
		}
		g.ready = nil
		names, acked = acked, nil
		return names
	}
	e1, e2, e3 := &ingest.Event{ID: "1"}, &ingest.Event{ID: "2"}, &ingest.Event{ID: "3"}
	b1 := g.register(e1, ack("b1"))
	g.after(b1, ack("empty-after-b1"))
	g.register(e2, ack("b2"))
	fetch := func(off int64, ev *ingest.Event) {
		g.fetchedEvent(storage.Message[*ingest.Event]{Offset: off, Value: ev})
	}
	fetch(0, e1)
	fetch(1, e2)
	g.eventsStored(2)
	if got := take(); len(got) != 0 {
		t.Fatalf("acked %v before detection", got)
	}
	g.eventsDetected(1, 1) // e1 matched, one alert written
	if got := take(); len(got) != 0 {
		t.Fatalf("acked %v before the alert is stored", got)
	}
	g.alertsDone("store", 1)
	if got := take(); !slices.Equal(got, []string{"b1", "empty-after-b1"}) {
		t.Fatalf("acked %v, want b1 then the empty batch", got)
	}
	g.eventsDetected(2, 1)
	if got := take(); !slices.Equal(got, []string{"b2"}) {
		t.Fatalf("acked %v, want b2", got)
	}
	// An empty batch with nothing pending before it is ready at once.
	g.after(nil, ack("empty"))
	if got := take(); !slices.Equal(got, []string{"empty"}) {
		t.Fatalf("acked %v, want the empty batch", got)
	}
	// Not yet fetched by the store: not acknowledged, whatever detect did.
	g.register(e3, ack("b3"))
	g.eventsDetected(3, 1)
	g.eventsStored(3)
	if got := take(); len(got) != 0 {
		t.Fatalf("acked %v before the store fetched the batch", got)
	}
	fetch(2, e3)
	g.eventsStored(3)
	if got := take(); !slices.Equal(got, []string{"b3"}) {
		t.Fatalf("acked %v, want b3", got)
	}
}

// TestStoreStageCommitsATrickle: messages that keep coming more often than
// the idle interval, and fewer than a batch, are still written and
// committed within about the idle interval (the acks of followed sources
// wait for that commit).
func TestStoreStageCommitsATrickle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus, err := memory.New(memory.Config{})
		if err != nil {
			t.Fatal(err)
		}
		prod, err := memory.NewProducer[int](bus, "trickle")
		if err != nil {
			t.Fatal(err)
		}
		cons, err := memory.NewConsumer[int](bus, "trickle", "store")
		if err != nil {
			t.Fatal(err)
		}
		var written atomic.Int64
		w, err := batch.New(batch.Config[int]{Size: 1000}, func(_ context.Context, rows []int) error {
			written.Add(int64(len(rows)))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		lc := lagConsumer[int]{Consumer: cons, committed: new(atomic.Int64)}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- storeStage(ctx, lc, w, 1000, time.Second) }()
		for i := range 30 { // one message every 100ms for 3s
			if err := prod.Write(ctx, storage.Message[int]{Value: i}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		synctest.Wait()
		if c := lc.committed.Load(); c < 20 || written.Load() < c {
			t.Errorf("after 3s of a trickle: %d committed, %d written; want at least 20 committed and written", c, written.Load())
		}
		cancel()
		<-done
	})
}

// TestRunSQSSource follows an SQS queue of S3 notifications until the run
// is stopped: the notified delivery's root sign-in fires the root rule, its
// events are stored, and the notification is deleted (acknowledged) once
// they are.
func TestRunSQSSource(t *testing.T) {
	sqsEndpoint := os.Getenv("VIGIL_SQS_ENDPOINT")
	if sqsEndpoint == "" {
		s3Unavailable(t, "VIGIL_SQS_ENDPOINT is not set (start it with `eval \"$(deploy/sqs/start.sh)\"`)")
	}
	c, bucket, ep := s3TestBucket(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := awsconf.Load(ctx, awsconf.Options{}, awsconf.Retry{})
	if err != nil {
		t.Fatal(err)
	}
	q := awssqs.NewFromConfig(cfg, func(o *awssqs.Options) { o.BaseEndpoint = aws.String(sqsEndpoint) })
	created, err := q.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(bucket), Attributes: map[string]string{"VisibilityTimeout": "2"}})
	if err != nil {
		s3Unavailable(t, "cannot create a queue at "+sqsEndpoint+": "+err.Error())
	}
	queue := aws.ToString(created.QueueUrl)

	now := time.Now().UTC()
	key := fmt.Sprintf("AWSLogs/111122223333/CloudTrail/eu-west-1/%s/111122223333_CloudTrail_eu-west-1_%s_sqs.json.gz",
		now.Format("2006/01/02"), now.Format("20060102T1504Z"))
	putGzip(t, c, bucket, key, `{"Records":[`+ctEvent("sqs-root", now.Add(-time.Minute), true)+`]}`)
	note, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{"eventVersion": "2.1", "eventSource": "aws:s3",
		"eventName": "ObjectCreated:Put", "s3": map[string]any{"bucket": map[string]any{"name": bucket},
			"object": map[string]any{"key": key, "size": 100}}}}})
	if _, err := q.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String(string(note))}); err != nil {
		t.Fatal(err)
	}

	store := filepath.Join(t.TempDir(), "vigil.duckdb")
	source := "sqs+" + queue + "?type=cloudtrail&wait=1s&visibility=2s&endpoint=" + url.QueryEscape(ep) + "&path_style=true"
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	out, errw := &lockedBuffer{}, &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(runCtx, []string{"run", "--format", "json", "--store", "duckdb://" + store, "--source", source},
			strings.NewReader(""), out, errw)
	}()
	for !strings.Contains(out.String(), "aws-root-account-usage") {
		select {
		case code := <-done:
			t.Fatalf("run ended early: exit %d\n%s", code, errw.String())
		case <-ctx.Done():
			t.Fatalf("no root alert:\n%s", errw.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	stop()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d\n%s", code, errw.String())
	}
	if events, _, ruleIDs := storeCounts(t, store); events != 1 || !slices.Contains(ruleIDs, "aws-root-account-usage") {
		t.Errorf("store holds %d events, alerts of %v; want the sign-in and its alert", events, ruleIDs)
	}
	time.Sleep(2500 * time.Millisecond) // past the visibility timeout: an undeleted message would be back
	left, err := q.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(left.Messages) != 0 {
		t.Errorf("%d messages left in the queue, want the notification deleted", len(left.Messages))
	}
}
