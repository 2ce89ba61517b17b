package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/checkpoint"
	"github.com/vigilsec/vigil/ingest/logtype"
)

const (
	ctLeaf  = "AWSLogs/111122223333/CloudTrail/eu-west-1/"
	orgLeaf = "AWSLogs/o-abc123def4/444455556666/CloudTrail/us-east-1/"
	vpcLeaf = "AWSLogs/111122223333/vpcflowlogs/eu-west-1/"
)

// layout puts deliveries laid out like CloudTrail (account and
// organization trails) and VPC flow logs, with digest files and damaged
// objects, and returns the IDs of the good CloudTrail records.
func layout(t testing.TB, c *awss3.Client, bucket string) (want []string, bad map[string]string) {
	add := func(key string, body []byte, ids []string) {
		put(t, c, bucket, key, body)
		want = append(want, ids...)
	}
	b, ids := ctFile("a14", 7, "2026-03-14T09:31:00Z")
	add(ctLeaf+"2026/03/14/111122223333_CloudTrail_eu-west-1_20260314T0930Z_aaaa.json.gz", gz(b), ids)
	b, ids = ctFile("a15", 5, "2026-03-15T10:01:00Z")
	add(ctLeaf+"2026/03/15/111122223333_CloudTrail_eu-west-1_20260315T1000Z_bbbb.json.gz", gz(b), ids)
	b, ids = ctFile("org15", 4, "2026-03-15T11:01:00Z")
	add(orgLeaf+"2026/03/15/444455556666_CloudTrail_us-east-1_20260315T1100Z_cccc.json.gz", gz(b), ids)
	// Outside the window: never read.
	b, _ = ctFile("a13", 3, "2026-03-13T10:01:00Z")
	put(t, c, bucket, ctLeaf+"2026/03/13/111122223333_CloudTrail_eu-west-1_20260313T1000Z_zzzz.json.gz", gz(b))
	// Digests, in their own folder and not: skipped.
	put(t, c, bucket, "AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2026/03/14/111122223333_CloudTrail-Digest_eu-west-1_trail_us-east-1_20260314T093000Z.json.gz",
		gz([]byte(`{"awsAccountId":"111122223333","digestStartTime":"2026-03-14T08:30:00Z","logFiles":[]}`)))
	put(t, c, bucket, ctLeaf+"2026/03/14/111122223333_CloudTrail-Digest_eu-west-1_x.json.gz", gz([]byte(`not a delivery`)))
	// A VPC flow delivery beside the trail: skipped by a cloudtrail source.
	put(t, c, bucket, vpcLeaf+"2026/03/14/111122223333_vpcflowlogs_eu-west-1_fl-1_20260314T0930Z_dd.log.gz",
		gz([]byte("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"+
			"2 111122223333 eni-1 10.0.0.1 10.0.0.2 443 50000 6 10 840 1773480600 1773480660 ACCEPT OK\n")))

	bad = map[string]string{}
	// A corrupt gzip: the records before the damage are kept.
	b, ids = ctFile("corrupt", 400, "2026-03-14T10:01:00Z")
	z := gz(b)
	z[len(z)*2/3] ^= 0xff
	z[len(z)*2/3+1] ^= 0xff
	key := ctLeaf + "2026/03/14/111122223333_CloudTrail_eu-west-1_20260314T1000Z_corr.json.gz"
	put(t, c, bucket, key, z)
	bad[key] = "corrupt"
	_ = ids
	// A truncated JSON document: the complete records are kept.
	b, ids = ctFile("trunc", 3, "2026-03-14T10:31:00Z")
	cut := b[:bytes.LastIndex(b, []byte(`{"eventVersion"`))+40]
	key = ctLeaf + "2026/03/14/111122223333_CloudTrail_eu-west-1_20260314T1030Z_trun.json.gz"
	add(key, gz(cut), ids[:2])
	bad[key] = "truncated"
	// An oversized record between two good ones.
	big := ctRecord("big-0", "2026-03-14T11:01:00Z")
	big = strings.Replace(big, `"eventName"`, `"padding":"`+strings.Repeat("x", 80<<10)+`","eventName"`, 1)
	key = ctLeaf + "2026/03/14/111122223333_CloudTrail_eu-west-1_20260314T1100Z_big0.json.gz"
	add(key, gz([]byte(`{"Records":[`+ctRecord("big-1", "2026-03-14T11:01:00Z")+","+big+","+
		ctRecord("big-2", "2026-03-14T11:01:00Z")+`]}`)), []string{"big-1", "big-2"})
	bad[key] = "oversized"
	// A gzip bomb: twice the test's decompressed cap in a few kilobytes.
	key = ctLeaf + "2026/03/14/111122223333_CloudTrail_eu-west-1_20260314T1130Z_bomb.json.gz"
	put(t, c, bucket, key, bomb())
	bad[key] = "bomb"
	return want, bad
}

var testLimits = ingest.Limits{MaxRecordBytes: 64 << 10, MaxDecompressedBytes: 8 << 20}

// bomb returns a gzip stream that inflates to twice testLimits'
// decompressed cap, built once.
var bomb = sync.OnceValue(func() []byte {
	return gz(append([]byte(`{"Records":[`), bytes.Repeat([]byte(" "), 2*int(testLimits.MaxDecompressedBytes))...))
})

// collector gathers what a source produced.
type collector struct {
	mu  sync.Mutex
	ids []string
	bad []*ingest.DecodeError
}

func (c *collector) report(e *ingest.DecodeError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bad = append(c.bad, e)
}

// drain reads src until EOF, or until stop batches were acked when stop >
// 0, and returns the IDs read.
func (c *collector) drain(t testing.TB, src ingest.Source, stop int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for n := 0; stop == 0 || n < stop; n++ {
		evs, ack, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			c.ids = append(c.ids, e.ID)
		}
		if err := ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func newSource(t testing.TB, c *awss3.Client, bucket string, cp checkpoint.Store, now time.Time, batch int, col *collector) *Source {
	t.Helper()
	decs, err := logtype.Decoders(logtype.Config{Limits: testLimits})
	if err != nil {
		t.Fatal(err)
	}
	src, err := New(context.Background(), Config{
		Bucket: bucket, Prefix: "AWSLogs/", Client: c, Decoder: decs[ingest.TypeCloudTrail],
		LogType: ingest.TypeCloudTrail, Limits: testLimits, Checkpoints: cp, BatchSize: batch,
		Since: time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 3, 15, 23, 0, 0, 0, time.UTC),
		Bad: col.report, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestListingBackfill(t *testing.T) {
	c, bucket, _ := testBucket(t)
	want, bad := layout(t, c, bucket)
	col := &collector{}
	src := newSource(t, c, bucket, nil, time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC), 0, col)
	col.drain(t, src, 0)

	got := sorted(col.ids)
	var good []string
	for _, id := range got {
		if !strings.HasPrefix(id, "corrupt-") {
			good = append(good, id)
		}
	}
	if !slices.Equal(good, sorted(want)) {
		t.Errorf("events:\n got %v\nwant %v", good, sorted(want))
	}
	if n := len(got) - len(good); n == 0 || n >= 400 {
		t.Errorf("corrupt object gave %d of its 400 records, want the ones before the damage", n)
	}
	reported := map[string]*ingest.DecodeError{}
	for _, e := range col.bad {
		key := strings.TrimPrefix(e.Source, "s3://"+bucket+"/")
		if _, ok := bad[key]; !ok {
			t.Errorf("unexpected report %v", e)
		}
		reported[key] = e
	}
	for key, what := range bad {
		e, ok := reported[key]
		switch {
		case !ok:
			t.Errorf("%s object %s not reported", what, key)
		case what == "bomb" && !errors.Is(e, ingest.ErrDecompressedTooLarge):
			t.Errorf("bomb reported as %v", e)
		case what == "oversized" && !errors.Is(e, ingest.ErrRecordTooLarge):
			t.Errorf("oversized record reported as %v", e)
		case what == "corrupt" && e.Offset <= 0:
			t.Errorf("corrupt object reported without its offset: %v", e)
		}
	}
	objects, bytes, _ := src.Progress()
	if objects != 7 || bytes == 0 {
		t.Errorf("Progress = %d objects, %d bytes; want 7 objects", objects, bytes)
	}
}

func TestListingRestart(t *testing.T) {
	c, bucket, _ := testBucket(t)
	want, _ := layout(t, c, bucket)
	cp, err := checkpoint.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC)
	first := &collector{}
	// Three batches of two: the first object is left half read.
	src := newSource(t, c, bucket, cp, now, 2, first)
	first.drain(t, src, 3)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	second := &collector{}
	second.drain(t, newSource(t, c, bucket, cp, now, 2, second), 0)

	all := map[string]int{}
	for _, id := range append(first.ids, second.ids...) {
		all[id]++
	}
	for _, id := range want {
		if all[id] == 0 {
			t.Errorf("event %s lost across the restart", id)
		}
	}
	if len(first.ids) != 6 {
		t.Errorf("first run read %d events, want 6", len(first.ids))
	}
	// Everything done and the days older than the lookback: a third run
	// reads nothing.
	third := &collector{}
	third.drain(t, newSource(t, c, bucket, cp, now, 2, third), 0)
	if len(third.ids) != 0 {
		t.Errorf("third run read %d events again", len(third.ids))
	}
}

func TestListingLateDelivery(t *testing.T) {
	c, bucket, _ := testBucket(t)
	layout(t, c, bucket)
	cp, err := checkpoint.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Within the lookback, days stay open: a file delivered late into the
	// 14th is read by the next run, and nothing else is read again.
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	first := &collector{}
	first.drain(t, newSource(t, c, bucket, cp, now, 0, first), 0)
	b, ids := ctFile("late", 3, "2026-03-14T23:55:00Z")
	put(t, c, bucket, ctLeaf+"2026/03/14/111122223333_CloudTrail_eu-west-1_20260314T2355Z_late.json.gz", gz(b))
	second := &collector{}
	second.drain(t, newSource(t, c, bucket, cp, now, 0, second), 0)
	if !slices.Equal(sorted(second.ids), ids) {
		t.Errorf("second run read %v, want only the late file's %v", second.ids, ids)
	}
}

func TestSkip(t *testing.T) {
	tests := []struct {
		name, typ string
		skip      bool
	}{
		{"CloudTrail-Digest", ingest.TypeCloudTrail, true},
		{"CloudTrail-Digest", ingest.TypeVPCFlow, true},
		{"CloudTrail", ingest.TypeCloudTrail, false},
		{"CloudTrail", ingest.TypeVPCFlow, true},
		{"vpcflowlogs", ingest.TypeCloudTrail, true},
		{"vpcflowlogs", ingest.TypeVPCFlow, false},
		{"aws-service=vpcflowlogs", ingest.TypeCloudTrail, true},
		{"111122223333", ingest.TypeCloudTrail, false},
		{"o-abc123def4", ingest.TypeVPCFlow, false},
	}
	for _, tc := range tests {
		if got := skipFolder(tc.name, tc.typ); got != tc.skip {
			t.Errorf("skipFolder(%q, %q) = %v", tc.name, tc.typ, got)
		}
	}
	keys := []struct {
		key  string
		skip bool
	}{
		{ctLeaf + "2026/03/14/111122223333_CloudTrail_eu-west-1_20260314T0930Z_aaaa.json.gz", false},
		{ctLeaf + "2026/03/14/111122223333_CloudTrail-Digest_eu-west-1_x.json.gz", true},
		{ctLeaf + "2026/03/14/", true},
	}
	for _, k := range keys {
		if got := skipKey(k.key); got != k.skip {
			t.Errorf("skipKey(%q) = %v", k.key, got)
		}
	}
	d := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	if got := (leaf{prefix: "p/"}).day(d); got != "p/2026/03/04/" {
		t.Errorf("plain day folder %q", got)
	}
	if got := (leaf{prefix: "p/", hive: true}).day(d); got != "p/year=2026/month=03/day=04/" {
		t.Errorf("hive day folder %q", got)
	}
}

// Following (no Until), the source polls again and picks up a new delivery
// in a known folder without a restart.
func TestListingFollows(t *testing.T) {
	c, bucket, _ := testBucket(t)
	b, _ := ctFile("first", 2, "2026-03-15T10:01:00Z")
	put(t, c, bucket, ctLeaf+"2026/03/15/111122223333_CloudTrail_eu-west-1_20260315T1000Z_f1.json.gz", gz(b))
	decs, err := logtype.Decoders(logtype.Config{})
	if err != nil {
		t.Fatal(err)
	}
	src, err := New(context.Background(), Config{Bucket: bucket, Prefix: "AWSLogs/", Client: c,
		Decoder: decs[ingest.TypeCloudTrail], LogType: ingest.TypeCloudTrail, PollInterval: 20 * time.Millisecond,
		Now: func() time.Time { return time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	col := &collector{}
	col.drain(t, src, 1)
	b, ids := ctFile("second", 2, "2026-03-15T11:01:00Z")
	put(t, c, bucket, ctLeaf+"2026/03/15/111122223333_CloudTrail_eu-west-1_20260315T1100Z_f2.json.gz", gz(b))
	col.drain(t, src, 1)
	if got := sorted(col.ids); !slices.Equal(got, []string{"first-0", "first-1", "second-0", "second-1"}) {
		t.Errorf("read %v, want both deliveries (%v last)", got, ids)
	}
}

// Once, the source reads what is there and ends, under the following
// checkpoint: a second pass reads only a delivery added in between.
func TestListingOnce(t *testing.T) {
	c, bucket, _ := testBucket(t)
	b, _ := ctFile("first", 2, "2026-03-15T10:01:00Z")
	put(t, c, bucket, ctLeaf+"2026/03/15/111122223333_CloudTrail_eu-west-1_20260315T1000Z_o1.json.gz", gz(b))
	decs, err := logtype.Decoders(logtype.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := checkpoint.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pass := func() []string {
		src, err := New(context.Background(), Config{Bucket: bucket, Prefix: "AWSLogs/", Client: c,
			Decoder: decs[ingest.TypeCloudTrail], LogType: ingest.TypeCloudTrail, Checkpoints: cp, Once: true,
			Now: func() time.Time { return time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC) }})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		col := &collector{}
		col.drain(t, src, 0) // returns at io.EOF
		return sorted(col.ids)
	}
	if got := pass(); !slices.Equal(got, []string{"first-0", "first-1"}) {
		t.Errorf("first pass read %v", got)
	}
	b, _ = ctFile("second", 1, "2026-03-15T11:01:00Z")
	put(t, c, bucket, ctLeaf+"2026/03/15/111122223333_CloudTrail_eu-west-1_20260315T1100Z_o2.json.gz", gz(b))
	if got := pass(); !slices.Equal(got, []string{"second-0"}) {
		t.Errorf("second pass read %v, want only the new delivery", got)
	}
	if got := pass(); len(got) != 0 {
		t.Errorf("third pass read %v, want nothing", got)
	}
}

// A vpcflow source opened by URL reads the flow log deliveries of the same
// layout and skips the CloudTrail folders.
func TestOpenVPCFlow(t *testing.T) {
	c, bucket, ep := testBucket(t)
	layout(t, c, bucket)
	col := &collector{}
	src, err := Open(context.Background(), "s3://"+bucket+"/AWSLogs/?type=vpcflow&path_style=true&endpoint="+ep,
		Options{Since: time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC), Bad: col.report})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	col.drain(t, src, 0)
	if len(col.ids) != 1 || len(col.bad) != 0 {
		t.Errorf("read %d flow records with %d bad ones (%v), want 1 and none", len(col.ids), len(col.bad), col.bad)
	}
	for _, raw := range []string{
		"s3://" + bucket + "/AWSLogs/",
		"s3://" + bucket + "/AWSLogs/?type=auditd",
		"s3://" + bucket + "/AWSLogs/?type=vpcflow&lookback=-1h",
		"s3://" + bucket + "/AWSLogs/?type=vpcflow&prefix=x",
		"s3:///AWSLogs/?type=vpcflow",
	} {
		if _, err := Open(context.Background(), raw, Options{}); err == nil {
			t.Errorf("Open(%q) succeeded", raw)
		}
	}
}

// A source stopped before any day was done resumes at the day it started,
// however long it was down.
func TestListingResumesAtStart(t *testing.T) {
	c, bucket, _ := testBucket(t)
	b, _ := ctFile("d14", 2, "2026-03-14T10:01:00Z")
	put(t, c, bucket, ctLeaf+"2026/03/14/111122223333_CloudTrail_eu-west-1_20260314T1000Z_d14.json.gz", gz(b))
	cp, err := checkpoint.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	decs, err := logtype.Decoders(logtype.Config{})
	if err != nil {
		t.Fatal(err)
	}
	open := func(now time.Time) *Source {
		src, err := New(context.Background(), Config{Bucket: bucket, Prefix: "AWSLogs/", Client: c,
			Decoder: decs[ingest.TypeCloudTrail], LogType: ingest.TypeCloudTrail, Checkpoints: cp,
			PollInterval: time.Hour, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	// Started on the 15th at noon with a 24h lookback: the 14th is read,
	// nothing is done yet. Then down for days; a delivery lands on the
	// 15th meanwhile.
	col := &collector{}
	src := open(time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC))
	col.drain(t, src, 1)
	_ = src.Close()
	b, want := ctFile("d15", 2, "2026-03-15T18:01:00Z")
	put(t, c, bucket, ctLeaf+"2026/03/15/111122223333_CloudTrail_eu-west-1_20260315T1800Z_d15.json.gz", gz(b))
	later := &collector{}
	src = open(time.Date(2026, 3, 19, 12, 0, 0, 0, time.UTC))
	defer src.Close()
	later.drain(t, src, 1)
	if !slices.Equal(sorted(later.ids), want) {
		t.Errorf("after the pause read %v, want the 15th's %v", later.ids, want)
	}
}
