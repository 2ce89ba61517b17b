package vpcflow

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/vigilsec/vigil/ingest"
)

// benchLines is how many records one benchmark iteration decodes.
const benchLines = 10000

func benchDecode(b *testing.B, c Config, in []byte) {
	d, err := New(c)
	if err != nil {
		b.Fatal(err)
	}
	events := 0
	h := ingest.Handler{Event: func(*ingest.Event) error { events++; return nil }}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(context.Background(), bytes.NewReader(in), "bench", h); err != nil {
			b.Fatal(err)
		}
	}
	if events != b.N*benchLines {
		b.Fatalf("decoded %d events, want %d", events, b.N*benchLines)
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDecodeV2 decodes default-format records.
func BenchmarkDecodeV2(b *testing.B) {
	var in bytes.Buffer
	for i := range benchLines {
		fmt.Fprintf(&in, "2 111122223333 eni-0a1b2c3d4e5f60001 10.1.%d.%d 198.51.100.%d %d 443 6 %d %d %d %d ACCEPT OK\n",
			i/256%256, i%256, i%200, 32768+i%20000, 1+i%50, 60+i*7, 1700000000+i, 1700000060+i)
	}
	benchDecode(b, Config{}, in.Bytes())
}

// BenchmarkDecodeV5 decodes version 5 custom-format records (29 fields)
// after a header line.
func BenchmarkDecodeV5(b *testing.B) {
	var in bytes.Buffer
	in.WriteString("version srcaddr dstaddr srcport dstport protocol start end type packets bytes account-id vpc-id subnet-id instance-id interface-id region az-id sublocation-type sublocation-id action tcp-flags pkt-srcaddr pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service traffic-path flow-direction log-status\n")
	for i := range benchLines {
		fmt.Fprintf(&in, "5 10.1.%d.%d 52.94.1.%d %d 443 6 %d %d IPv4 %d %d 111122223333 vpc-0aa11bb22cc33dd44 subnet-0ee55ff66aa77bb88 i-0123abcd4567ef890 eni-0a1b2c3d4e5f60001 eu-west-1 euw1-az2 - - ACCEPT 19 10.1.%d.%d 52.94.1.%d - S3 8 egress OK\n",
			i/256%256, i%256, i%200, 32768+i%20000, 1700000000+i, 1700000060+i, 1+i%50, 60+i*7, i/256%256, i%256, i%200)
	}
	benchDecode(b, Config{}, in.Bytes())
}
