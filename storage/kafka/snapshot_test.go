package kafka

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

// testLarge is the size above which the stores of the tests hold values
// by location: below the tests' chunks of 1,000 bytes, above manifests.
const testLarge = 512

func openSnapshots(t *testing.T, cfg Config, chunk int) *Snapshots {
	t.Helper()
	s, err := openSnapshotStore(testContext(t), cfg, "", chunk, testLarge)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func saveSnapshot(t *testing.T, s *Snapshots, name string, off int64, data []byte) {
	t.Helper()
	if _, err := s.Save(testContext(t), name, off, data); err != nil {
		t.Fatal(err)
	}
}

func loadSnapshot(t *testing.T, s *Snapshots, name string, off int64, data []byte) {
	t.Helper()
	got, err := s.Load(testContext(t), name)
	if err != nil {
		t.Fatal(err)
	}
	if got.Offset != off || !bytes.Equal(got.Data, data) {
		t.Fatalf("loaded %s at offset %d (%d bytes), want offset %d (%d bytes)", name, got.Offset, len(got.Data), off, len(data))
	}
}

// random returns n incompressible bytes.
func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// TestSnapshotsRoundTrip: snapshots split into many chunks load back, also
// in another instance opened before they were saved (the next owner of a
// partition); every name keeps its own snapshot; a new snapshot replaces
// the old one, whose chunks are deleted.
func TestSnapshotsRoundTrip(t *testing.T) {
	_, cfg := clusterConfig(t)
	s := openSnapshots(t, cfg, 1000)
	if s.Topic() != DefaultSnapshotTopic {
		t.Errorf("topic %q, want %q", s.Topic(), DefaultSnapshotTopic)
	}
	other := openSnapshots(t, cfg, 1000)
	if _, err := s.Load(testContext(t), "g/1"); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("empty store: %v, want ErrNoSnapshot", err)
	}
	a, b, a2 := random(5500), []byte(strings.Repeat("state ", 10_000)), random(2100)
	saveSnapshot(t, s, "g/1", 42, a)
	saveSnapshot(t, s, "g/10", 7, b)
	loadSnapshot(t, s, "g/1", 42, a)
	loadSnapshot(t, other, "g/1", 42, a)
	loadSnapshot(t, other, "g/10", 7, b)
	if got, err := other.Load(testContext(t), "g/10"); err != nil || got.Stored >= len(b)/10 {
		t.Errorf("repetitive snapshot of %d bytes stored in %d (%v), want it compressed", len(b), got.Stored, err)
	}

	saveSnapshot(t, s, "g/1", 90, a2)
	loadSnapshot(t, other, "g/1", 90, a2)
	if keys := s.store.Keys("g/1/"); len(keys) != 3 { // 2,100 random bytes in chunks of 1,000
		t.Errorf("chunks of g/1 after the second save: %q, want only the 3 of the new one", keys)
	}
	// The other instance takes the partition over and saves in turn.
	saveSnapshot(t, other, "g/1", 120, a)
	loadSnapshot(t, s, "g/1", 120, a)
	loadSnapshot(t, s, "g/10", 7, b)
	if keys := other.store.Keys("g/1/"); len(keys) != 6 {
		t.Errorf("chunks of g/1 after the other's save: %q, want only the 6 of the new one", keys)
	}
	// A restarted instance reads them all from the topic.
	loadSnapshot(t, openSnapshots(t, cfg, 1000), "g/1", 120, a)
}

// TestSnapshotsTornWrite: a writer that crashed after writing the chunks of
// a new snapshot and before its manifest leaves the previous snapshot
// loadable; a manifest whose chunks are damaged or missing yields
// ErrDamagedSnapshot, never wrong data.
func TestSnapshotsTornWrite(t *testing.T) {
	_, cfg := clusterConfig(t)
	s := openSnapshots(t, cfg, 1000)
	old := random(3000)
	saveSnapshot(t, s, "g/0", 100, old)

	// Chunks of a new generation, no manifest.
	for i := range 4 {
		if err := s.store.Save(testContext(t), chunkKey("g/0", newGeneration(), i), random(1000)); err != nil {
			t.Fatal(err)
		}
	}
	loadSnapshot(t, openSnapshots(t, cfg, 1000), "g/0", 100, old)

	// The next instance's first save deletes the torn generation.
	next := openSnapshots(t, cfg, 1000)
	saveSnapshot(t, next, "g/0", 200, old)
	if keys := next.store.Keys("g/0/"); len(keys) != 4 { // 3,000 random bytes and gzip's framing
		t.Errorf("chunks after a save over a torn write: %q, want only the 4 of the new snapshot", keys)
	}

	// A damaged chunk, then a missing one.
	chunk := next.store.Keys("g/0/")[1]
	if err := next.store.Save(testContext(t), chunk, random(1000)); err != nil {
		t.Fatal(err)
	}
	if _, err := openSnapshots(t, cfg, 1000).Load(testContext(t), "g/0"); !errors.Is(err, ErrDamagedSnapshot) || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("damaged chunk: %v, want a checksum error wrapping ErrDamagedSnapshot", err)
	}
	if err := next.store.Save(testContext(t), chunk, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := openSnapshots(t, cfg, 1000).Load(testContext(t), "g/0"); !errors.Is(err, ErrDamagedSnapshot) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing chunk: %v, want a missing-chunk error wrapping ErrDamagedSnapshot", err)
	}
	// A complete save repairs it.
	saveSnapshot(t, next, "g/0", 300, old)
	loadSnapshot(t, openSnapshots(t, cfg, 1000), "g/0", 300, old)
}

// TestSnapshotsLarge: a snapshot larger than Kafka's default 1 MB message
// limit is stored in chunks of the default size.
func TestSnapshotsLarge(t *testing.T) {
	_, cfg := clusterConfig(t)
	s, err := OpenSnapshots(testContext(t), cfg, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	big := random(3<<20 + 12345)
	n, err := s.Save(testContext(t), "g/3", 1<<40, big)
	if err != nil {
		t.Fatal(err)
	}
	if n < len(big) {
		t.Errorf("stored %d bytes of %d random ones", n, len(big))
	}
	if keys := s.store.Keys("g/3/"); len(keys) != 7 {
		t.Errorf("%d chunks, want 7 of at most %d bytes", len(keys), DefaultSnapshotChunk)
	}
	loadSnapshot(t, s, "g/3", 1<<40, big)
	// Every chunk is larger than 4 KiB: only the manifest is in memory.
	if held, mb := s.store.held(), load(t, s.store, "g/3"); held != len(mb) {
		t.Errorf("%d bytes held in memory, want only the manifest's %d", held, len(mb))
	}
	r, err := OpenSnapshots(testContext(t), cfg, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	loadSnapshot(t, r, "g/3", 1<<40, big)
	if held := r.store.held(); held >= 1<<10 {
		t.Errorf("a restarted instance holds %d bytes in memory, want only the manifest", held)
	}
}

// TestSnapshotsMemory: the store holds the manifests and the chunks small
// enough to be held, and only the location of the others, after a save and
// after a load, in the instance that saved and in a new one; both load the
// snapshots right from the topic.
func TestSnapshotsMemory(t *testing.T) {
	_, cfg := clusterConfig(t)
	s := openSnapshots(t, cfg, 1000)
	data := map[string][]byte{"g/1": random(20_000), "g/2": random(7_300), "g/3": []byte(strings.Repeat("state ", 1000))}
	stored := map[string]int{}
	for name, d := range data {
		n, err := s.Save(testContext(t), name, int64(len(d)), d)
		if err != nil {
			t.Fatal(err)
		}
		stored[name] = n
	}
	// held is what the store must hold: the manifests and each snapshot's
	// last chunk when it is at most testLarge bytes.
	held := func(r *Snapshots) int {
		n := 0
		for name := range data {
			n += len(load(t, r.store, name))
			if tail := stored[name] % 1000; tail > 0 && tail <= testLarge {
				n += tail
			}
		}
		return n
	}
	want := held(s)
	if want >= 3*testLarge+3*1000 {
		t.Fatalf("%d bytes to hold, want a few hundred (stored %v)", want, stored)
	}
	if got := s.store.held(); got != want {
		t.Errorf("after the saves: %d bytes held, want %d", got, want)
	}
	for name, d := range data {
		loadSnapshot(t, s, name, int64(len(d)), d)
	}
	if got := s.store.held(); got != want {
		t.Errorf("after the loads: %d bytes held, want %d", got, want)
	}
	r := openSnapshots(t, cfg, 1000)
	if got := r.store.held(); got != want {
		t.Errorf("a new instance: %d bytes held, want %d", got, want)
	}
	for name, d := range data {
		loadSnapshot(t, r, name, int64(len(d)), d)
	}
	if got := r.store.held(); got != want {
		t.Errorf("a new instance after the loads: %d bytes held, want %d", got, want)
	}
}
