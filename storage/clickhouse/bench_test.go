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

// BenchmarkInsertEvents compares the batch writer over Store.InsertEvents
// with bare clickhouse-go batch inserts of the same rows, in batches of the
// same size: row by row (the usual idiom) and column by column from
// slices prepared beforehand (the fastest the driver allows). Each
// iteration writes the rows once each way, in turn, so that load on a
// shared machine weighs on all three alike. Metrics: rows/s of each, and
// the writer's rate as a percentage of the bare row-by-row insert's.
func BenchmarkInsertEvents(b *testing.B) {
	const benchRows, batchRows = 100_000, 10_000
	s := testStore(b, Config{})
	evs := benchEvents(benchRows)
	now := s.now().UTC()
	ctx := context.Background()

	bareRows := func() {
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

	var chunks [][]any // per batch, the 18 columns in INSERT order
	for i := 0; i < len(evs); i += batchRows {
		var strs [13][]string
		var raws [][]byte
		tcols, pcols := [2][]time.Time{}, [2][]uint16{}
		for _, e := range evs[i:min(i+batchRows, len(evs))] {
			m := &e.Norm
			for j, v := range []string{e.ID, e.Type, e.Source, m.Account, m.Region, m.Actor, m.Action, m.Target,
				m.SrcIP, m.DstIP, m.Protocol, m.Outcome, m.UserAgent} {
				strs[j] = append(strs[j], v)
			}
			tcols[0], tcols[1] = append(tcols[0], e.Time), append(tcols[1], now)
			pcols[0], pcols[1] = append(pcols[0], uint16(m.SrcPort)), append(pcols[1], uint16(m.DstPort))
			raws = append(raws, e.Raw)
		}
		chunks = append(chunks, []any{strs[0], tcols[0], tcols[1], strs[1], strs[2], strs[3], strs[4], strs[5],
			strs[6], strs[7], strs[8], strs[9], pcols[0], pcols[1], strs[10], strs[11], strs[12], raws})
	}
	bareColumns := func() {
		for _, cols := range chunks {
			bt, err := s.conn.PrepareBatch(ctx, insertEvents)
			if err != nil {
				b.Fatal(err)
			}
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

	writer := func() {
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

	var spent [3]time.Duration
	for b.Loop() {
		for i, run := range []func(){bareRows, bareColumns, writer} {
			start := time.Now()
			run()
			spent[i] += time.Since(start)
		}
	}
	rate := func(d time.Duration) float64 { return float64(benchRows) * float64(b.N) / d.Seconds() }
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(rate(spent[0]), "bare-rows-rows/s")
	b.ReportMetric(rate(spent[1]), "bare-columns-rows/s")
	b.ReportMetric(rate(spent[2]), "writer-rows/s")
	b.ReportMetric(100*rate(spent[2])/rate(spent[0]), "writer-%-of-bare-rows")
	b.ReportMetric(100*rate(spent[2])/rate(spent[1]), "writer-%-of-bare-columns")
}
