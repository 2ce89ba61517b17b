package clickhouse

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/storage/batch"
)

// benchEvents returns n CloudTrail-like events with records of about 700
// bytes, spread over one day.
func benchEvents(n int) []*ingest.Event {
	base := at("00:00:00")
	evs := make([]*ingest.Event, n)
	for i := range evs {
		id := fmt.Sprintf("bench-%08d", i)
		actor := fmt.Sprintf("arn:aws:sts::111122223333:assumed-role/app-%d/i-%05d", i%50, i%997)
		evs[i] = &ingest.Event{
			ID: id, Type: ingest.TypeCloudTrail, Time: base.Add(time.Duration(i) * 86400 * time.Second / time.Duration(n)),
			Source: "s3://org-trail/AWSLogs/111122223333/CloudTrail/eu-west-1/2026/03/14/file.json.gz",
			Raw: fmt.Appendf(nil, `{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","arn":%q,"accountId":"111122223333"},`+
				`"eventTime":"2026-03-14T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"eu-west-1",`+
				`"sourceIPAddress":"10.0.%d.%d","userAgent":"aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5","requestParameters":`+
				`{"bucketName":"acme-data","key":"exports/%d/part-%05d.parquet"},"responseElements":null,"eventID":%q,`+
				`"readOnly":true,"eventType":"AwsApiCall","recipientAccountId":"111122223333"}`,
				actor, i%250, i%200, i%31, i, id),
			Norm: ingest.Normalized{
				Account: "111122223333", Region: "eu-west-1", Actor: actor, Action: "s3:GetObject",
				Target: "acme-data", SrcIP: fmt.Sprintf("10.0.%d.%d", i%250, i%200), Outcome: "success",
				UserAgent: "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5",
			},
		}
	}
	return evs
}

// BenchmarkInsertEvents compares, in one run, the batch writer over
// Store.InsertEvents with bare clickhouse-go batch inserts of the same rows
// in batches of the same size: row by row (the usual idiom) and column by
// column from prepared slices (the fastest the driver allows). Each
// iteration writes benchRows rows; the metric is rows/s.
func BenchmarkInsertEvents(b *testing.B) {
	const benchRows, batchRows = 100_000, 10_000
	s := testStore(b, Config{})
	evs := benchEvents(benchRows)
	now := s.now().UTC()
	ctx := context.Background()
	report := func(b *testing.B) {
		b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	}

	b.Run("bare-rows", func(b *testing.B) {
		for b.Loop() {
			for i := 0; i < len(evs); i += batchRows {
				bt, err := s.conn.PrepareBatch(ctx, insertEvents)
				if err != nil {
					b.Fatal(err)
				}
				for _, e := range evs[i:min(i+batchRows, len(evs))] {
					m := &e.Norm
					err := bt.Append(e.ID, e.Time, now, e.Type, e.Source, m.Account, m.Region, m.Actor, m.Action, m.Target,
						m.SrcIP, m.DstIP, uint16(m.SrcPort), uint16(m.DstPort), m.Protocol, m.Outcome, m.UserAgent, e.Raw)
					if err != nil {
						b.Fatal(err)
					}
				}
				if err := bt.Send(); err != nil {
					b.Fatal(err)
				}
			}
		}
		report(b)
	})

	b.Run("bare-columns", func(b *testing.B) {
		type columns struct {
			strs  [15][]string
			times [2][]time.Time
			ports [2][]uint16
			raws  [][]byte
		}
		var chunks []columns
		for i := 0; i < len(evs); i += batchRows {
			var c columns
			for _, e := range evs[i:min(i+batchRows, len(evs))] {
				m := &e.Norm
				for j, v := range []string{e.ID, e.Type, e.Source, m.Account, m.Region, m.Actor, m.Action, m.Target,
					m.SrcIP, m.DstIP, m.Protocol, m.Outcome, m.UserAgent} {
					c.strs[j] = append(c.strs[j], v)
				}
				c.times[0], c.times[1] = append(c.times[0], e.Time), append(c.times[1], now)
				c.ports[0], c.ports[1] = append(c.ports[0], uint16(m.SrcPort)), append(c.ports[1], uint16(m.DstPort))
				c.raws = append(c.raws, e.Raw)
			}
			chunks = append(chunks, c)
		}
		for b.Loop() {
			for _, c := range chunks {
				bt, err := s.conn.PrepareBatch(ctx, insertEvents)
				if err != nil {
					b.Fatal(err)
				}
				cols := []any{c.strs[0], c.times[0], c.times[1], c.strs[1], c.strs[2], c.strs[3], c.strs[4], c.strs[5],
					c.strs[6], c.strs[7], c.strs[8], c.strs[9], c.ports[0], c.ports[1], c.strs[10], c.strs[11], c.strs[12], c.raws}
				for j, col := range cols {
					if err := bt.Column(j).Append(col); err != nil {
						b.Fatal(err)
					}
				}
				if err := bt.Send(); err != nil {
					b.Fatal(err)
				}
			}
		}
		report(b)
	})

	b.Run("writer", func(b *testing.B) {
		for b.Loop() {
			w, err := batch.New(batch.Config[*ingest.Event]{Size: batchRows}, s.InsertEvents)
			if err != nil {
				b.Fatal(err)
			}
			for _, e := range evs {
				if err := w.Add(ctx, e); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Close(ctx); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
}
