package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/kafka"
)

// eventsOnTopic returns how many messages the events topic holds, summed
// over its partitions.
func eventsOnTopic(t *testing.T, ctx context.Context, addr string) int64 {
	t.Helper()
	cl := &kafkago.Client{Addr: kafkago.TCP(addr)}
	md, err := cl.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{storage.TopicEvents}})
	if err != nil || len(md.Topics) != 1 {
		t.Fatalf("metadata: %v", err)
	}
	var reqs []kafkago.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		reqs = append(reqs, kafkago.LastOffsetOf(p.ID))
	}
	resp, err := cl.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{storage.TopicEvents: reqs}})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, po := range resp.Topics[storage.TopicEvents] {
		n += po.LastOffset
	}
	return n
}

// TestIngestBusResumesFromKafkaCheckpoints runs vigil ingest --bus over an
// S3 listing twice, with the default checkpoints (the compacted topic on
// the bus): the restarted ingester puts only the delivery added in between
// on the events topic.
func TestIngestBusResumesFromKafkaCheckpoints(t *testing.T) {
	c, bucket, ep := s3TestBucket(t)
	cl, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	addr := cl.ListenAddrs()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	now := time.Now().UTC()
	leaf := fmt.Sprintf("AWSLogs/111122223333/CloudTrail/eu-west-1/%s/", now.Format("2006/01/02"))
	key := func(name string) string {
		return leaf + "111122223333_CloudTrail_eu-west-1_" + now.Format("20060102T1504Z") + "_" + name + ".json.gz"
	}
	source := "s3://" + bucket + "/AWSLogs/?type=cloudtrail&endpoint=" + ep + "&path_style=true"
	ckptKey := "s3://" + bucket + "/AWSLogs/?type=cloudtrail"

	// ingest runs the role until the checkpoint on the bus records obj as
	// read, then stops it.
	ingest := func(obj string) {
		t.Helper()
		roleCtx, stop := context.WithCancel(ctx)
		defer stop()
		stderr := &lockedBuffer{}
		done := make(chan error, 1)
		go func() {
			done <- runIngestCommand(roleCtx, []string{"--bus", "kafka://" + addr + "?partitions=2", "--source", source},
				stdio{out: &lockedBuffer{}, err: stderr})
		}()
		for {
			select {
			case err := <-done:
				t.Fatalf("ingest ended early: %v\n%s", err, stderr.String())
			case <-time.After(100 * time.Millisecond):
			}
			if ctx.Err() != nil {
				t.Fatalf("the checkpoint never recorded %s\n%s", obj, stderr.String())
			}
			s, err := kafka.OpenCheckpoints(ctx, kafka.Config{Brokers: []string{addr}}, "")
			if err != nil {
				continue // the role has not created the topic yet
			}
			b, err := s.Load(ctx, ckptKey)
			_ = s.Close()
			if err == nil && strings.Contains(string(b), obj) {
				break
			}
		}
		stop()
		if err := <-done; err != nil {
			t.Fatalf("ingest: %v\n%s", err, stderr.String())
		}
	}

	putGzip(t, c, bucket, key("first"), `{"Records":[`+ctEvent("first-1", now.Add(-time.Minute), false)+","+
		ctEvent("first-2", now.Add(-time.Minute), true)+`]}`)
	ingest(key("first"))
	if n := eventsOnTopic(t, ctx, addr); n != 2 {
		t.Fatalf("first run put %d events on the bus, want 2", n)
	}
	putGzip(t, c, bucket, key("second"), `{"Records":[`+ctEvent("second-1", now.Add(-time.Minute), false)+`]}`)
	ingest(key("second"))
	if n := eventsOnTopic(t, ctx, addr); n != 3 {
		t.Errorf("after the restart the bus holds %d events, want 3 (the first delivery not read again)", n)
	}
}
