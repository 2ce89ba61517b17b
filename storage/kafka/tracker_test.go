package kafka

import (
	"testing"

	"github.com/vigilsec/vigil/storage"
)

func TestTracker(t *testing.T) {
	type op struct {
		fetch     bool // else done
		partition int
		offset    int64
		// commit is the offset Done returns to commit, -1 for none.
		commit int64
	}
	f := func(p int, off int64) op { return op{fetch: true, partition: p, offset: off} }
	d := func(p int, off, commit int64) op { return op{partition: p, offset: off, commit: commit} }
	for _, tc := range []struct {
		name string
		ops  []op
	}{
		{"in order", []op{f(0, 0), f(0, 1), d(0, 0, 0), d(0, 1, 1)}},
		{"out of order waits for the gap", []op{
			f(0, 0), f(0, 1), f(0, 2), f(0, 3),
			d(0, 2, -1), d(0, 3, -1), d(0, 1, -1), d(0, 0, 3),
		}},
		{"gaps in offsets", []op{f(0, 10), f(0, 14), f(0, 15), d(0, 14, -1), d(0, 10, 14), d(0, 15, 15)}},
		{"partitions are independent", []op{
			f(0, 0), f(1, 0), f(0, 1), f(1, 1),
			d(1, 1, -1), d(0, 0, 0), d(1, 0, 1), d(0, 1, 1),
		}},
		{"unknown or repeated done ignored", []op{f(0, 5), d(0, 4, -1), d(2, 0, -1), d(0, 5, 5), d(0, 5, -1)}},
		{"re-read after a rebalance starts over", []op{
			f(0, 0), f(0, 1), f(0, 2), d(0, 1, -1),
			f(0, 1), f(0, 2), // read again from the committed offset 1
			d(0, 0, -1), // offset 0 was dropped with the old state
			d(0, 2, -1), d(0, 1, 2),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tr Tracker[string]
			for i, o := range tc.ops {
				m := storage.Message[string]{Topic: "t", Partition: o.partition, Offset: o.offset}
				if o.fetch {
					tr.Fetched(m)
					continue
				}
				got, ok := tr.Done(m)
				switch {
				case o.commit < 0 && ok:
					t.Fatalf("op %d: done(%d/%d) commits %d, want nothing", i, o.partition, o.offset, got.Offset)
				case o.commit >= 0 && (!ok || got.Offset != o.commit || got.Partition != o.partition):
					t.Fatalf("op %d: done(%d/%d) commits %d/%d (%v), want %d", i, o.partition, o.offset, got.Partition, got.Offset, ok, o.commit)
				}
			}
		})
	}
}

func TestTrackerPending(t *testing.T) {
	var tr Tracker[int]
	for off := range int64(5) {
		tr.Fetched(storage.Message[int]{Partition: int(off % 2), Offset: off})
	}
	tr.Done(storage.Message[int]{Partition: 0, Offset: 0})
	tr.Done(storage.Message[int]{Partition: 1, Offset: 3})
	if n := tr.Pending(); n != 4 {
		t.Fatalf("pending %d, want 4", n)
	}
}

func BenchmarkTracker(b *testing.B) {
	var tr Tracker[int]
	const window = 8
	for i := int64(0); i < int64(b.N); i += window {
		for off := i; off < i+window; off++ {
			tr.Fetched(storage.Message[int]{Offset: off})
		}
		// Work finishes in reverse order: one commit per window.
		for off := i + window - 1; off >= i; off-- {
			tr.Done(storage.Message[int]{Offset: off})
		}
	}
}
