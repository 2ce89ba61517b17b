package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/logtype"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/memory"
)

// BenchmarkIngestToBus measures ingest from the local S3 server into the
// in-process bus: listing, download, gunzip, CloudTrail decoding, bus
// writes, acknowledgements; a consumer group drains the topic.
func BenchmarkIngestToBus(b *testing.B) {
	c, bucket, _ := testBucket(b)
	const objects, perObject = 16, 2000
	var total int64
	for i := range objects {
		body, _ := ctFile(fmt.Sprintf("bench%02d", i), perObject, "2026-03-14T09:31:00Z")
		z := gz(body)
		total += int64(len(body))
		put(b, c, bucket, fmt.Sprintf("%s2026/03/14/111122223333_CloudTrail_eu-west-1_20260314T%02d00Z_bench.json.gz", ctLeaf, i), z)
	}
	decs, err := logtype.Decoders(logtype.Config{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(total)
	b.ResetTimer()
	events := 0
	for b.Loop() {
		bus, err := memory.New(memory.Config{})
		if err != nil {
			b.Fatal(err)
		}
		prod, err := memory.NewProducer[*ingest.Event](bus, storage.TopicEvents)
		if err != nil {
			b.Fatal(err)
		}
		cons, err := memory.NewConsumer[*ingest.Event](bus, storage.TopicEvents, "bench")
		if err != nil {
			b.Fatal(err)
		}
		drained := make(chan int)
		go func() {
			n := 0
			for {
				m, err := cons.Fetch(ctx)
				if err != nil {
					drained <- n
					return
				}
				n++
				_ = cons.Commit(ctx, m) // the only member holds the partition: no error
			}
		}()
		src, err := New(ctx, Config{Bucket: bucket, Prefix: "AWSLogs/", Client: c, Decoder: decs[ingest.TypeCloudTrail],
			LogType: ingest.TypeCloudTrail, Since: time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC),
			Until: time.Date(2026, 3, 14, 23, 0, 0, 0, time.UTC), Now: func() time.Time { return time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC) }})
		if err != nil {
			b.Fatal(err)
		}
		for {
			evs, ack, err := src.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			msgs := make([]storage.Message[*ingest.Event], len(evs))
			for i, e := range evs {
				msgs[i] = storage.Message[*ingest.Event]{Key: []byte(e.Source), Value: e}
			}
			if err := prod.Write(ctx, msgs...); err != nil {
				b.Fatal(err)
			}
			if err := ack(ctx); err != nil {
				b.Fatal(err)
			}
		}
		_ = src.Close()
		_ = prod.Close()
		if n := <-drained; n != objects*perObject {
			b.Fatalf("bus got %d events, want %d", n, objects*perObject)
		}
		_ = cons.Close()
		events += objects * perObject
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
