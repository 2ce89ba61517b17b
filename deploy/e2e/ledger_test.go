package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"
)

// pipeline starts ingest, detect and store as processes over bus into the
// ClickHouse database storeURL, reading the CloudTrail files of dir.
func pipeline(t testing.TB, bus, storeURL, dir string) (ingest, detect, store *proc) {
	ingest = newProc(t, "ingest", append([]string{"ingest", "--bus", bus, "--source", "file://" + dir}, busArgs...)...)
	detect = newProc(t, "detect", append([]string{"detect", "--bus", bus, "--lateness", "1s"}, busArgs...)...)
	store = newProc(t, "store", append([]string{"store", "--bus", bus, "--store", storeURL}, busArgs...)...)
	return ingest, detect, store
}

// TestNoLossLedger sends N uniquely identified events through ingest →
// detect → store, each role a process of the built binary, while the
// processes are killed with SIGKILL at random (seeded) points and
// restarted. Afterwards every event is in ClickHouse, and once parts are
// merged each exactly once.
func TestNoLossLedger(t *testing.T) {
	const n = 20000
	storeURL, conn := clickhouseDB(t)
	_, bus := broker(t)
	dir := t.TempDir()
	writeCloudTrail(t, dir, ledgerEvents(n), 1000)
	db := storeURL[strings.LastIndex(storeURL, "/")+1:]

	ingest, detect, store := pipeline(t, bus, storeURL, dir)
	procs := []*proc{ingest, detect, store}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	supCtx, stopSup := context.WithCancel(ctx)
	supDone := make(chan struct{})
	go func() { supervise(supCtx, t, procs, map[*proc]bool{ingest: true}); close(supDone) }()
	defer func() { stopSup(); <-supDone }()

	seed := envSeed()
	t.Logf("chaos seed %d (set E2E_SEED to repeat)", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	// Ingest of files is over in a second or two: the first kill is its.
	time.Sleep(time.Duration(100+rng.IntN(500)) * time.Millisecond)
	ingest.kill()
	chaosCtx, stopChaos := context.WithTimeout(ctx, 12*time.Second)
	kills := 1 + chaos(chaosCtx, rng, procs)
	stopChaos()
	t.Logf("%d kills; starts: ingest %d, detect %d, store %d", kills, ingest.starts, detect.starts, store.starts)

	waitFor(t, 60*time.Second, fmt.Sprintf("%d events in ClickHouse", n), func() (bool, string) {
		got := count(t, conn, db, "SELECT uniqExact(event_id) FROM DB.events")
		return got == n, fmt.Sprintf("%d distinct events", got)
	})
	rows, uniq := collapsed(t, conn, db)
	if rows != uniq || uniq != n {
		t.Fatalf("after OPTIMIZE FINAL: %d rows, %d distinct event IDs, want %d of each", rows, uniq, n)
	}
	mine := count(t, conn, db, "SELECT count() FROM DB.events WHERE event_id LIKE 'e2e00000-%'")
	if mine != n {
		t.Fatalf("%d of the ledger's events stored, want %d", mine, n)
	}
}

// envSeed reads E2E_SEED, or picks a seed when it is unset.
func envSeed() uint64 {
	var s uint64
	if _, err := fmt.Sscan(os.Getenv("E2E_SEED"), &s); err != nil || s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	return s
}
