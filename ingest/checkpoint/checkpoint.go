// Package checkpoint stores the durable resume positions of ingest sources:
// which S3 objects were read, how far a CloudWatch Logs group was followed.
//
// A source saves its checkpoint only after the events it read up to that
// point are durably on the bus, so a restarted source resumes where the last
// acknowledged batch ended. Values are opaque to the store: each source
// encodes its own state (JSON).
//
// Dir keeps checkpoints as files in a local directory, for the embedded
// (single-process) mode. The Kafka mode keeps them in a compacted topic
// behind the same Store interface (storage/kafka.Checkpoints).
package checkpoint

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Store loads and saves checkpoints by key. Keys name what is followed
// ("s3://bucket/prefix", "cloudwatch://group?stream_prefix=…").
//
// Load returns nil and no error when nothing was saved under key. Save
// returns only once the value is durable, replacing the previous one
// atomically: after a crash Load returns either the old or the new value,
// never a mix. Implementations are safe for concurrent use.
type Store interface {
	Load(ctx context.Context, key string) ([]byte, error)
	Save(ctx context.Context, key string, value []byte) error
}

// Dir is a Store in a local directory: one file per key, named by the
// SHA-256 of the key, written to a temporary file, synced and renamed.
// Several sources of one process may share a Dir; two processes must not
// follow the same key in the same directory.
type Dir struct {
	path string
}

var _ Store = (*Dir)(nil)

// NewDir returns a Store in the directory path, creating it if needed.
func NewDir(path string) (*Dir, error) {
	if path == "" {
		return nil, errors.New("checkpoint: empty directory path")
	}
	if err := os.MkdirAll(path, 0o750); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return &Dir{path: path}, nil
}

// file returns the path of key's file.
func (d *Dir) file(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(d.path, hex.EncodeToString(sum[:16])+".ckpt")
}

// Load returns the value saved under key, or nil when there is none.
func (d *Dir) Load(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(d.file(key))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return b, nil
}

// Save durably replaces the value under key.
func (d *Dir) Save(ctx context.Context, key string, value []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	final := d.file(key)
	f, err := os.CreateTemp(d.path, ".tmp-*")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(value)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		_ = os.Remove(tmp) // best effort; the error below is what matters
		return fmt.Errorf("checkpoint %s: %w", key, err)
	}
	if dir, err := os.Open(d.path); err == nil {
		_ = dir.Sync() // makes the rename durable where the platform allows it
		_ = dir.Close()
	}
	return nil
}
