package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// faults makes the broker answer some requests with errors while on() is
// true: every third produce request fails with NOT_LEADER_FOR_PARTITION
// or, now and then, REQUEST_TIMED_OUT, and every third offset commit with
// REBALANCE_IN_PROGRESS or ILLEGAL_GENERATION. It returns how many
// requests it failed.
func faults(cl *kfake.Cluster, on func() bool) func() (produce, commit int) {
	var mu sync.Mutex
	var np, nc, seenP, seenC int
	cl.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		cl.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		if seenP++; !on() || seenP%3 != 0 {
			return nil, nil, false
		}
		np++
		code := kerr.NotLeaderForPartition.Code
		if np%4 == 0 {
			code = kerr.RequestTimedOut.Code
		}
		req := kr.(*kmsg.ProduceRequest)
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
	})
	cl.ControlKey(int16(kmsg.OffsetCommit), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		cl.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		if seenC++; !on() || seenC%3 != 0 {
			return nil, nil, false
		}
		nc++
		code := kerr.RebalanceInProgress.Code
		if nc%2 == 0 {
			code = kerr.IllegalGeneration.Code
		}
		req := kr.(*kmsg.OffsetCommitRequest)
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	return func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return np, nc
	}
}

// TestBrokerFaults runs ingest → detect → store while the broker fails
// produce requests and offset commits; a role that gives up is restarted,
// as its supervisor would. Every event ends up in ClickHouse, once after
// merging.
func TestBrokerFaults(t *testing.T) {
	const n = 10000
	storeURL, conn := clickhouseDB(t)
	cl, bus := broker(t)
	db := storeURL[strings.LastIndex(storeURL, "/")+1:]
	dir := t.TempDir()
	writeCloudTrail(t, dir, ledgerEvents(n), 500)

	var mu sync.Mutex
	faulty := true
	failed := faults(cl, func() bool { mu.Lock(); defer mu.Unlock(); return faulty })

	ingest, detect, store := pipeline(t, bus, storeURL, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	supDone := make(chan struct{})
	go func() {
		supervise(ctx, t, []*proc{ingest, detect, store}, map[*proc]bool{ingest: true})
		close(supDone)
	}()
	defer func() { cancel(); <-supDone }()

	time.Sleep(10 * time.Second)
	mu.Lock()
	faulty = false
	mu.Unlock()
	np, nc := failed()
	t.Logf("failed %d produce requests and %d commits; starts: ingest %d, detect %d, store %d",
		np, nc, ingest.starts, detect.starts, store.starts)
	if np == 0 || nc == 0 {
		t.Fatalf("faults not exercised: %d produce, %d commit", np, nc)
	}
	waitFor(t, 60*time.Second, fmt.Sprintf("%d events in ClickHouse", n), func() (bool, string) {
		got := count(t, conn, db, "SELECT uniqExact(event_id) FROM DB.events")
		return got == n, fmt.Sprintf("%d distinct events", got)
	})
	if rows, uniq := collapsed(t, conn, db); rows != uniq || uniq != n {
		t.Fatalf("after OPTIMIZE FINAL: %d rows, %d distinct event IDs, want %d of each", rows, uniq, n)
	}
}
