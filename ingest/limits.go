package ingest

// Limits caps what one stream may cost. The zero value means the defaults.
type Limits struct {
	// MaxRecordBytes caps one record (one line, one JSON record). Longer
	// records are reported as ErrRecordTooLarge and skipped. Default 1 MiB.
	MaxRecordBytes int
	// MaxDecompressedBytes caps the decompressed size of one stream. When
	// exceeded the stream stops with ErrDecompressedTooLarge; what was
	// decoded before is kept. Default 4 GiB.
	MaxDecompressedBytes int64
}

// Default limits.
const (
	DefaultMaxRecordBytes       = 1 << 20
	DefaultMaxDecompressedBytes = 4 << 30
)

// RecordBytes returns MaxRecordBytes or its default.
func (l Limits) RecordBytes() int {
	if l.MaxRecordBytes > 0 {
		return l.MaxRecordBytes
	}
	return DefaultMaxRecordBytes
}

// DecompressedBytes returns MaxDecompressedBytes or its default.
func (l Limits) DecompressedBytes() int64 {
	if l.MaxDecompressedBytes > 0 {
		return l.MaxDecompressedBytes
	}
	return DefaultMaxDecompressedBytes
}
