package kafka

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func openSnapshots(t *testing.T, cfg Config, chunk int) *Snapshots {
	t.Helper()
	s, err := OpenSnapshots(testContext(t), cfg, "", chunk)
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
	s := openSnapshots(t, cfg, 0)
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
	loadSnapshot(t, openSnapshots(t, cfg, 0), "g/3", 1<<40, big)
}
