package correlate

import (
	"bytes"
	"testing"
)

// FuzzRestore feeds snapshots, real and mangled, to Restore: it must
// return an error or a working correlator, never panic.
func FuzzRestore(f *testing.F) {
	rs := loadRules(f, allRules...)
	evs := attack()
	for _, cut := range []int{3, len(evs) / 2, len(evs) - 2} {
		p := newPipeline(f, rs, Config{})
		p.feed(f, evs[:cut]...)
		var buf bytes.Buffer
		if err := p.c.Snapshot(&buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := newPipeline(t, rs, Config{})
		if err := p.c.Restore(bytes.NewReader(data)); err != nil {
			return
		}
		p.feed(t, evs...)
		p.flush()
	})
}
