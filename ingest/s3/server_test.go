package s3

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vigilsec/vigil/ingest/awsconf"
)

// endpointEnv points the integration tests at an S3 server, as printed by
// deploy/s3/start.sh.
const endpointEnv = "VIGIL_S3_ENDPOINT"

// unavailable skips the test, or fails it under CI=true.
func unavailable(t testing.TB, why string) {
	t.Helper()
	msg := "S3 integration test: " + why + "; start a server with `eval \"$(deploy/s3/start.sh)\"`"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// isolate points the AWS SDK at dummy static credentials and away from any
// instance metadata service or user configuration.
func isolate(t testing.TB, access, secret string) {
	dir := t.TempDir()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_ACCESS_KEY_ID", access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "us-east-1")
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS",
		"AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "AWS_ENDPOINT_URL_STS", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"} {
		t.Setenv(k, "")
	}
}

// testBucket returns a client of the test server and a fresh bucket on it.
func testBucket(t testing.TB) (*awss3.Client, string, string) {
	t.Helper()
	ep := os.Getenv(endpointEnv)
	if ep == "" {
		unavailable(t, endpointEnv+" is not set")
	}
	access, secret := os.Getenv("VIGIL_S3_ACCESS_KEY"), os.Getenv("VIGIL_S3_SECRET_KEY")
	if access == "" {
		access, secret = "vigil-test", "vigil-test-secret"
	}
	isolate(t, access, secret)
	c, err := NewClient(context.Background(), awsconf.Options{Endpoint: ep, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	bucket := "vigil-test-" + hex.EncodeToString(b[:])
	if _, err := c.CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		unavailable(t, "cannot create a bucket at "+ep+": "+err.Error())
	}
	return c, bucket, ep
}

func put(t testing.TB, c *awss3.Client, bucket, key string, body []byte) {
	t.Helper()
	_, err := c.PutObject(context.Background(), &awss3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b) // writes to a bytes.Buffer do not fail
	_ = w.Close()
	return buf.Bytes()
}

// ctRecord is one CloudTrail record with the given eventID.
func ctRecord(id, when string) string {
	return fmt.Sprintf(`{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice"},`+
		`"eventTime":"%s","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"eu-west-1",`+
		`"sourceIPAddress":"192.0.2.10","eventID":"%s","recipientAccountId":"111122223333"}`, when, id)
}

// ctFile is a CloudTrail delivery holding n records named prefix-0…n-1.
func ctFile(prefix string, n int, when string) ([]byte, []string) {
	recs := make([]string, n)
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("%s-%d", prefix, i)
		recs[i] = ctRecord(ids[i], when)
	}
	return []byte(`{"Records":[` + strings.Join(recs, ",") + `]}`), ids
}
