package kafka

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultSnapshotTopic is the default topic of Snapshots.
const DefaultSnapshotTopic = "vigil.correlator-state"

// DefaultSnapshotChunk is the default size of the chunks of a snapshot:
// half of Kafka's default 1 MB message limit.
const DefaultSnapshotChunk = 512 << 10

// Errors of Snapshots.Load.
var (
	// ErrNoSnapshot: no snapshot was ever saved under the name (or its
	// manifest was deleted).
	ErrNoSnapshot = errors.New("kafka: no snapshot")
	// ErrDamagedSnapshot: the manifest does not agree with the chunks,
	// which are missing, of another size or checksum, or not gzip.
	ErrDamagedSnapshot = errors.New("kafka: damaged snapshot")
)

// Snapshots stores state snapshots, which may exceed Kafka's message size
// limit, on a compacted topic: a Checkpoints store whose values are the
// chunks of a snapshot and a manifest.
//
// Save compresses a snapshot with gzip, writes it in chunks under the keys
// NAME/GENERATION/N, a new generation for every Save, and then, last, the
// manifest under the key NAME, which names the generation, the number of
// chunks, their sha256 and the offset the snapshot covers. Once the
// manifest is acknowledged it tombstones the chunks of the generation it
// replaced. A crash between the writes leaves the previous manifest and
// its chunks in place, so Load returns the previous complete snapshot;
// Load returns a snapshot only when its manifest and all its chunks agree.
//
// Memory: Snapshots holds the manifests of every name in the topic and the
// chunks of at most 4 KiB (a small snapshot, the tail of a large one), and
// of every larger chunk only its partition and offset; Save keeps no copy
// of the chunks it writes. Load reads the chunks of the snapshot it loads
// from the topic, with one reader per partition, in the order of their
// offsets, and keeps none of them.
//
// Load refreshes the store first, so it sees the snapshots saved by other
// instances (the previous owner of a partition). Two instances may save
// under one name at once, briefly, during a rebalance: each writes and
// deletes only its own generations, so the manifest always names complete
// chunks, except that the first Save of an instance under a name deletes
// the generations no manifest names (those of a crashed writer).
type Snapshots struct {
	store *Checkpoints
	chunk int

	mu   sync.Mutex
	gens map[string]string // name → the generation this instance saved last
}

// Snapshot is a snapshot loaded by Snapshots.Load.
type Snapshot struct {
	// Data is the snapshot as it was saved (uncompressed).
	Data []byte
	// Offset is the input offset the snapshot covers, as it was saved.
	Offset int64
	// Stored is the size of its compressed chunks.
	Stored int
	// Saved is when it was saved.
	Saved time.Time
}

// manifest is the value of a snapshot's manifest key.
type manifest struct {
	Generation string    `json:"generation"`
	Chunks     int       `json:"chunks"`
	Size       int       `json:"size"`   // compressed bytes
	SHA256     string    `json:"sha256"` // of the compressed bytes
	Offset     int64     `json:"offset"`
	Encoding   string    `json:"encoding"` // "gzip"
	Saved      time.Time `json:"saved"`
}

// OpenSnapshots returns the snapshot store on topic (default
// vigil.correlator-state), creating the topic like OpenCheckpoints when it
// is missing. chunk is the size of a chunk (default
// DefaultSnapshotChunk); it must stay below the topic's max.message.bytes.
func OpenSnapshots(ctx context.Context, c Config, topic string, chunk int) (*Snapshots, error) {
	return openSnapshotStore(ctx, c, topic, chunk, largeValue)
}

// openSnapshotStore is OpenSnapshots on a store holding the values longer
// than large by location.
func openSnapshotStore(ctx context.Context, c Config, topic string, chunk, large int) (*Snapshots, error) {
	if topic == "" {
		topic = DefaultSnapshotTopic
	}
	if chunk <= 0 {
		chunk = DefaultSnapshotChunk
	}
	store, err := openCheckpointStore(ctx, c, topic, large)
	if err != nil {
		return nil, err
	}
	return &Snapshots{store: store, chunk: chunk, gens: map[string]string{}}, nil
}

// Topic returns the topic's name.
func (s *Snapshots) Topic() string { return s.store.Topic() }

// Close releases the producer's connections.
func (s *Snapshots) Close() error { return s.store.Close() }

// Save stores data as the snapshot name covering offset and returns the
// number of bytes stored (compressed), once Kafka acknowledged the
// manifest.
func (s *Snapshots) Save(ctx context.Context, name string, offset int64, data []byte) (int, error) {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	if _, err := zw.Write(data); err != nil {
		return 0, fmt.Errorf("snapshot %s: compress: %w", name, err)
	}
	if err := zw.Close(); err != nil {
		return 0, fmt.Errorf("snapshot %s: compress: %w", name, err)
	}
	stored := z.Bytes()
	sum := sha256.Sum256(stored)
	m := manifest{Generation: newGeneration(), Size: len(stored), SHA256: hex.EncodeToString(sum[:]),
		Offset: offset, Encoding: "gzip", Saved: time.Now().UTC()}
	for rest := stored; len(rest) > 0; m.Chunks++ { // gzip output is never empty
		n := min(len(rest), s.chunk)
		if err := s.store.Save(ctx, chunkKey(name, m.Generation, m.Chunks), rest[:n]); err != nil {
			return 0, fmt.Errorf("snapshot %s: %w", name, err)
		}
		rest = rest[n:]
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return 0, fmt.Errorf("snapshot %s: %w", name, err)
	}
	if err := s.store.Save(ctx, name, mb); err != nil {
		return 0, fmt.Errorf("snapshot %s: %w", name, err)
	}
	s.mu.Lock()
	prev, saved := s.gens[name]
	s.gens[name] = m.Generation
	s.mu.Unlock()
	// The new snapshot is complete: delete the chunks it replaces. A
	// failure here leaves garbage, not a wrong snapshot.
	for _, k := range s.store.Keys(name + "/") {
		gen, _, ok := strings.Cut(strings.TrimPrefix(k, name+"/"), "/")
		if !ok || gen == m.Generation || (saved && gen != prev) {
			continue
		}
		if err := s.store.Save(ctx, k, nil); err != nil {
			return len(stored), fmt.Errorf("snapshot %s: delete old chunks: %w", name, err)
		}
	}
	return len(stored), nil
}

// Load returns the latest complete snapshot saved under name, by this
// instance or another, or ErrNoSnapshot when there is none. A manifest
// whose chunks are missing or do not match its checksum is an error that
// wraps ErrDamagedSnapshot.
func (s *Snapshots) Load(ctx context.Context, name string) (Snapshot, error) {
	if err := s.store.Refresh(ctx); err != nil {
		return Snapshot{}, err
	}
	mb, err := s.store.Load(ctx, name)
	if err != nil {
		return Snapshot{}, err
	}
	if mb == nil {
		return Snapshot{}, ErrNoSnapshot
	}
	var m manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %s: manifest: %w (%w)", name, err, ErrDamagedSnapshot)
	}
	if m.Encoding != "gzip" || m.Chunks <= 0 {
		return Snapshot{}, fmt.Errorf("snapshot %s: manifest with encoding %q and %d chunks (%w)", name, m.Encoding, m.Chunks, ErrDamagedSnapshot)
	}
	keys := make([]string, m.Chunks)
	for i := range keys {
		keys[i] = chunkKey(name, m.Generation, i)
	}
	chunks, err := s.store.loadAll(ctx, keys)
	if err != nil {
		return Snapshot{}, err
	}
	stored := make([]byte, 0, m.Size)
	for i, b := range chunks {
		if b == nil {
			return Snapshot{}, fmt.Errorf("snapshot %s: chunk %d of %d of generation %s is missing (%w)", name, i, m.Chunks, m.Generation, ErrDamagedSnapshot)
		}
		stored = append(stored, b...)
		chunks[i] = nil
	}
	sum := sha256.Sum256(stored)
	if len(stored) != m.Size || hex.EncodeToString(sum[:]) != m.SHA256 {
		return Snapshot{}, fmt.Errorf("snapshot %s: generation %s: %d bytes that do not match the manifest's checksum (%w)", name, m.Generation, len(stored), ErrDamagedSnapshot)
	}
	zr, err := gzip.NewReader(bytes.NewReader(stored))
	if err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %s: %w (%w)", name, err, ErrDamagedSnapshot)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %s: %w (%w)", name, err, ErrDamagedSnapshot)
	}
	return Snapshot{Data: data, Offset: m.Offset, Stored: len(stored), Saved: m.Saved}, nil
}

// chunkKey is the key of chunk n of a generation of snapshot name.
func chunkKey(name, gen string, n int) string {
	return name + "/" + gen + "/" + strconv.Itoa(n)
}

// newGeneration returns a new generation name: the time, then random
// bytes, so that two writers never share one.
func newGeneration() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return strconv.FormatInt(time.Now().UnixNano(), 36) + hex.EncodeToString(b[:])
}
