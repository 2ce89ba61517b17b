package kafka

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/vigilsec/vigil/storage"
)

// produceFault answers the first produce request for one partition badly.
type produceFault struct {
	name string
	// answer returns the control function's result for the faulty
	// request.
	answer func(req *kmsg.ProduceRequest) (kmsg.Response, error, bool)
	// wantErr is the error Write returns, nil when it recovers.
	wantErr kafka.Error
}

// produceError answers every partition of req with code.
func produceError(code int16) func(req *kmsg.ProduceRequest) (kmsg.Response, error, bool) {
	return func(req *kmsg.ProduceRequest) (kmsg.Response, error, bool) {
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	}
}

func TestWriteRetriesOnlyFailedMessages(t *testing.T) {
	for _, tc := range []produceFault{
		{name: "not leader", answer: produceError(kerr.NotLeaderForPartition.Code)},
		{name: "not enough replicas", answer: produceError(kerr.NotEnoughReplicas.Code)},
		// No answer at all: the request times out on the client.
		{name: "timeout", answer: func(*kmsg.ProduceRequest) (kmsg.Response, error, bool) { return nil, nil, true }},
		{name: "not retriable", answer: produceError(kerr.InvalidRecord.Code), wantErr: kafka.InvalidRecord},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, cfg := newCluster(t)
			cfg.Producer.WriteTimeout = 300 * time.Millisecond
			ctx := testContext(t)
			p := newProducer(t, cfg)

			var mu sync.Mutex
			requests := map[int32]int{} // produce requests per partition
			faulty := int32(-1)
			cl.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
				cl.KeepControl()
				req := kr.(*kmsg.ProduceRequest)
				mu.Lock()
				defer mu.Unlock()
				for _, rt := range req.Topics {
					for _, rp := range rt.Partitions {
						requests[rp.Partition]++
						if faulty < 0 {
							faulty = rp.Partition
							return tc.answer(req)
						}
					}
				}
				return nil, nil, false
			})

			sent := records(200, 16)
			err := p.Write(ctx, sent...)
			mu.Lock()
			defer mu.Unlock()
			if tc.wantErr != 0 {
				var ke kafka.Error
				if !errors.As(err, &ke) || ke != tc.wantErr {
					t.Fatalf("write: got %v, want %v", err, tc.wantErr)
				}
				if requests[faulty] != 1 {
					t.Fatalf("partition %d written %d times after a non-retriable error", faulty, requests[faulty])
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for part, n := range requests {
				if want := 1 + b2i(part == faulty); n != want {
					t.Errorf("partition %d got %d produce requests, want %d", part, n, want)
				}
			}
			total := int64(0)
			for _, end := range endOffsets(t, ctx, cfg, storage.TopicEvents) {
				total += end
			}
			if total != int64(len(sent)) {
				t.Fatalf("topic holds %d messages, want %d: each written once", total, len(sent))
			}
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestWriteGivesUpAfterAttempts(t *testing.T) {
	cl, cfg := newCluster(t)
	cfg.Producer.Attempts = 3
	ctx := testContext(t)
	p := newProducer(t, cfg)
	var mu sync.Mutex
	n := 0
	cl.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		cl.KeepControl()
		mu.Lock()
		n++
		mu.Unlock()
		return produceError(kerr.NotLeaderForPartition.Code)(kr.(*kmsg.ProduceRequest))
	})
	err := p.Write(ctx, records(1, 1)...)
	var ke kafka.Error
	if !errors.As(err, &ke) || ke != kafka.NotLeaderForPartition {
		t.Fatalf("write: got %v, want NOT_LEADER_FOR_PARTITION", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 3 {
		t.Fatalf("%d produce requests, want 3 attempts", n)
	}
}

func TestSASL(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sasl    SASL
		wantErr bool
	}{
		{"scram-sha-256", SASL{Mechanism: MechanismSCRAMSHA256, Username: "scram", Password: "s3cret"}, false},
		{"scram-sha-512", SASL{Mechanism: MechanismSCRAMSHA512, Username: "scram512", Password: "s3cret"}, false},
		{"plain", SASL{Mechanism: MechanismPLAIN, Username: "plain", Password: "pw"}, false},
		{"wrong password", SASL{Mechanism: MechanismSCRAMSHA256, Username: "scram", Password: "guess"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, cfg := clusterConfig(t, kfake.EnableSASL(),
				kfake.Superuser(MechanismSCRAMSHA256, "scram", "s3cret"),
				kfake.Superuser(MechanismSCRAMSHA512, "scram512", "s3cret"),
				kfake.Superuser(MechanismPLAIN, "plain", "pw"))
			cfg.SASL = tc.sasl
			ctx := testContext(t)
			err := EnsureTopics(ctx, cfg)
			if tc.wantErr {
				if err == nil {
					t.Fatal("wrong password accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := newProducer(t, cfg).Write(ctx, records(3, 1)...); err != nil {
				t.Fatal(err)
			}
			c := newConsumer(t, cfg, "sasl", nil)
			if err := c.Commit(ctx, fetchN(t, ctx, c, 3)...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestWriteHonoursContext(t *testing.T) {
	cl, cfg := newCluster(t)
	cfg.Producer.BackoffMin, cfg.Producer.BackoffMax = time.Hour, time.Hour
	ctx, cancel := context.WithCancel(testContext(t))
	p := newProducer(t, cfg)
	cl.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		cl.KeepControl()
		cancel() // while Write waits to retry
		return produceError(kerr.NotLeaderForPartition.Code)(kr.(*kmsg.ProduceRequest))
	})
	if err := p.Write(ctx, records(1, 1)...); !errors.Is(err, context.Canceled) {
		t.Fatalf("write: got %v, want context.Canceled", err)
	}
}
