package sqs

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/awsconf"
	"github.com/vigilsec/vigil/ingest/s3"
)

// unavailable skips the test, or fails it under CI=true.
func unavailable(t testing.TB, why string) {
	t.Helper()
	msg := "SQS integration test: " + why +
		"; start the servers with `eval \"$(deploy/s3/start.sh)\" \"$(deploy/sqs/start.sh)\"`"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// env holds clients of the test servers, with a fresh bucket and queue.
type env struct {
	s3       *awss3.Client
	sqs      *awssqs.Client
	bucket   string
	queue    string // queue URL
	s3URL    string
	queueRaw string // the source URL
}

func setup(t *testing.T) *env {
	t.Helper()
	s3ep, sqsep := os.Getenv("VIGIL_S3_ENDPOINT"), os.Getenv("VIGIL_SQS_ENDPOINT")
	if s3ep == "" || sqsep == "" {
		unavailable(t, "VIGIL_S3_ENDPOINT or VIGIL_SQS_ENDPOINT is not set")
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
		"AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_S3": "", "AWS_ENDPOINT_URL_SQS": "",
	} {
		t.Setenv(k, v)
	}
	ctx := context.Background()
	e := &env{s3URL: s3ep}
	var err error
	if e.s3, err = s3.NewClient(ctx, awsconf.Options{Endpoint: s3ep, PathStyle: true}); err != nil {
		t.Fatal(err)
	}
	cfg, err := awsconf.Load(ctx, awsconf.Options{}, awsconf.Retry{})
	if err != nil {
		t.Fatal(err)
	}
	e.sqs = awssqs.NewFromConfig(cfg, func(o *awssqs.Options) { o.BaseEndpoint = aws.String(sqsep) })
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	name := "vigil-test-" + hex.EncodeToString(b[:])
	e.bucket = name
	if _, err := e.s3.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		unavailable(t, "cannot create a bucket: "+err.Error())
	}
	out, err := e.sqs.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(name),
		Attributes: map[string]string{"VisibilityTimeout": "2"}})
	if err != nil {
		unavailable(t, "cannot create a queue: "+err.Error())
	}
	e.queue = aws.ToString(out.QueueUrl)
	e.queueRaw = "sqs+" + e.queue + "?type=cloudtrail&wait=1s&visibility=2s&endpoint=" +
		url.QueryEscape(s3ep) + "&path_style=true"
	return e
}

func (e *env) putTrail(t *testing.T, key, prefix string, n int) []string {
	t.Helper()
	var recs, ids []string
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, i)
		ids = append(ids, id)
		recs = append(recs, fmt.Sprintf(`{"eventVersion":"1.09","eventTime":"2026-03-14T09:31:00Z",`+
			`"eventSource":"iam.amazonaws.com","eventName":"ListUsers","eventID":"%s","recipientAccountId":"111122223333"}`, id))
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(`{"Records":[` + strings.Join(recs, ",") + `]}`)) // bytes.Buffer writes do not fail
	_ = zw.Close()
	_, err := e.s3.PutObject(context.Background(), &awss3.PutObjectInput{
		Bucket: aws.String(e.bucket), Key: aws.String(key), Body: bytes.NewReader(buf.Bytes())})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func (e *env) send(t *testing.T, body string) {
	t.Helper()
	_, err := e.sqs.SendMessage(context.Background(), &awssqs.SendMessageInput{QueueUrl: aws.String(e.queue), MessageBody: aws.String(body)})
	if err != nil {
		t.Fatal(err)
	}
}

func s3Notification(bucket, key string) string {
	rec := map[string]any{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
		"s3": map[string]any{"bucket": map[string]any{"name": bucket},
			"object": map[string]any{"key": url.QueryEscape(key), "size": 100}}}
	b, _ := json.Marshal(map[string]any{"Records": []any{rec}})
	return string(b)
}

func TestNotifications(t *testing.T) {
	e := setup(t)
	leaf := "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/03/14/"
	k1, k2, k3 := leaf+"111122223333_CloudTrail_eu-west-1_20260314T0930Z_one.json.gz",
		leaf+"111122223333_CloudTrail_eu-west-1_20260314T0935Z_two two.json.gz",
		leaf+"111122223333_CloudTrail_eu-west-1_20260314T0940Z_three.json.gz"
	want := append(append(e.putTrail(t, k1, "one", 5), e.putTrail(t, k2, "two", 3)...), e.putTrail(t, k3, "three", 4)...)

	sns, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": "m-2",
		"TopicArn": "arn:aws:sns:us-east-1:111122223333:deliveries", "Message": s3Notification(e.bucket, k2)})
	eb, _ := json.Marshal(map[string]any{"version": "0", "detail-type": "Object Created", "source": "aws.s3",
		"detail": map[string]any{"bucket": map[string]any{"name": e.bucket}, "object": map[string]any{"key": k3, "size": 10}}})
	e.send(t, s3Notification(e.bucket, k1))
	e.send(t, string(sns))
	e.send(t, string(eb))
	e.send(t, s3Notification(e.bucket, k1)) // a duplicate
	e.send(t, `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-03-14T09:00:00.000Z","Bucket":"`+e.bucket+`"}`)
	e.send(t, `hello, not a notification`)

	var reported atomic.Bool
	opts := s3.Options{Bad: func(d *ingest.DecodeError) {
		if errors.Is(d, ErrNotNotification) {
			reported.Store(true)
		}
	}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// First run: one batch read and never acknowledged, then a crash.
	src, err := Open(ctx, e.queueRaw+"&bogus=1", opts)
	if err == nil {
		t.Fatal("unknown parameter accepted")
	}
	if src, err = Open(ctx, e.queueRaw+"&batch=2", opts); err != nil {
		t.Fatal(err)
	}
	if _, _, err := src.Next(ctx); err != nil {
		t.Fatal(err)
	}
	_ = src.Close()

	// Second run: everything is read once the messages are visible again.
	// The first batch is held unacknowledged for longer than the queue's
	// visibility timeout; meanwhile no other consumer may get a message the
	// source holds, only the malformed one it left alone.
	src, err = Open(ctx, e.queueRaw, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	seen := map[string]int{}
	held := false
	// Read until every event was seen and the malformed message, the last
	// one sent, was reached.
	for (missing(want, seen) || !reported.Load()) && ctx.Err() == nil {
		nctx, ncancel := context.WithTimeout(ctx, 2*time.Second)
		evs, ack, err := src.Next(nctx)
		ncancel()
		if errors.Is(err, context.DeadlineExceeded) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			seen[ev.ID]++
		}
		if !held {
			held = true
			deadline := time.Now().Add(4 * time.Second)
			for time.Now().Before(deadline) {
				out, err := e.sqs.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(e.queue),
					MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range out.Messages {
					if b := aws.ToString(m.Body); !strings.HasPrefix(b, "hello") {
						t.Errorf("a message the source holds was delivered elsewhere: %.80s", b)
					}
				}
			}
		}
		if err := ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if missing(want, seen) {
		t.Fatalf("events missing: saw %v", seen)
	}
	_ = src.Close()
	// All notifications were deleted: only the malformed message is left.
	time.Sleep(2500 * time.Millisecond)
	out, err := e.sqs.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(e.queue),
		MaxNumberOfMessages: 10, WaitTimeSeconds: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 || !strings.HasPrefix(aws.ToString(out.Messages[0].Body), "hello") {
		var bodies []string
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
		}
		t.Errorf("left in the queue: %q, want only the malformed message", bodies)
	}
	if !reported.Load() {
		t.Error("malformed message not reported")
	}
}

func missing(want []string, seen map[string]int) bool {
	for _, id := range want {
		if seen[id] == 0 {
			return true
		}
	}
	return false
}

func TestOpenErrors(t *testing.T) {
	for _, raw := range []string{
		"sqs://",
		"sqs://sqs.eu-west-1.amazonaws.com/111122223333/q",
		"sqs://sqs.eu-west-1.amazonaws.com/111122223333/q?type=nope",
		"sqs+ftp://host/1/q?type=cloudtrail",
		"sqs://sqs.eu-west-1.amazonaws.com/111122223333/q?type=cloudtrail&wait=forever",
		"sqs://sqs.eu-west-1.amazonaws.com/111122223333/q?type=cloudtrail&path_style=maybe",
	} {
		if _, err := Open(context.Background(), raw, s3.Options{}); err == nil {
			t.Errorf("Open(%q) succeeded", raw)
		}
	}
	for host, want := range map[string]string{
		"sqs.eu-west-1.amazonaws.com": "eu-west-1", "us-east-2.queue.amazonaws.com": "us-east-2", "127.0.0.1:4100": "",
	} {
		if got := regionOf(host); got != want {
			t.Errorf("regionOf(%q) = %q, want %q", host, got, want)
		}
	}
}
