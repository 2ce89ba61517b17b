package correlate

import (
	"math/rand/v2"
	"testing"
)

// TestSlotTable checks the table against a map under random churn, with
// hashes drawn from a small range so that probe runs collide and wrap.
func TestSlotTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var tab slotTable
	ref := map[uint64]int32{}
	for i := range 200000 {
		h := rng.Uint64N(300)
		if h == 1 {
			h = 0 // stored as 1: keep 1 itself out of the draw
		}
		switch rng.IntN(3) {
		case 0, 1:
			tab.put(h, int32(i))
			ref[fixHash(h)] = int32(i)
		default:
			tab.del(h)
			delete(ref, fixHash(h))
		}
		if tab.len() != len(ref) {
			t.Fatalf("step %d: %d entries, want %d", i, tab.len(), len(ref))
		}
	}
	for h := range uint64(300) {
		got, ok := tab.get(h)
		want, wok := ref[fixHash(h)]
		if ok != wok || got != want {
			t.Errorf("hash %d: got %d %v, want %d %v", h, got, ok, want, wok)
		}
	}
	n := 0
	tab.each(func(uint64, int32) { n++ })
	if n != len(ref) {
		t.Errorf("each visited %d, want %d", n, len(ref))
	}
}
