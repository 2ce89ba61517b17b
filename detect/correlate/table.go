package correlate

// slotTable maps key hashes to slab slots: open addressing with linear
// probing and backward-shift deletion, so that the churn of windows opening
// and expiring leaves no tombstones behind (a Go map under such churn
// probes ever longer until it grows). Hash 0 marks an empty entry; a key
// hashing to 0 is stored as 1.
type slotTable struct {
	hashes []uint64
	slots  []int32
	n      int
}

func fixHash(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}

func (t *slotTable) len() int { return t.n }

func (t *slotTable) get(h uint64) (int32, bool) {
	if t.n == 0 {
		return 0, false
	}
	h = fixHash(h)
	mask := uint64(len(t.hashes) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch t.hashes[i] {
		case h:
			return t.slots[i], true
		case 0:
			return 0, false
		}
	}
}

// put adds or replaces the slot of h.
func (t *slotTable) put(h uint64, slot int32) {
	if (t.n+1)*4 > len(t.hashes)*3 {
		t.grow()
	}
	h = fixHash(h)
	mask := uint64(len(t.hashes) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch t.hashes[i] {
		case h:
			t.slots[i] = slot
			return
		case 0:
			t.hashes[i], t.slots[i] = h, slot
			t.n++
			return
		}
	}
}

func (t *slotTable) grow() {
	old, oldSlots := t.hashes, t.slots
	size := max(64, 2*len(old))
	t.hashes, t.slots, t.n = make([]uint64, size), make([]int32, size), 0
	for i, h := range old {
		if h != 0 {
			t.put(h, oldSlots[i])
		}
	}
}

// del removes h, shifting later entries of its probe run back.
func (t *slotTable) del(h uint64) {
	if t.n == 0 {
		return
	}
	h = fixHash(h)
	mask := uint64(len(t.hashes) - 1)
	i := h & mask
	for t.hashes[i] != h {
		if t.hashes[i] == 0 {
			return
		}
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; t.hashes[j] != 0; j = (j + 1) & mask {
		home := t.hashes[j] & mask
		// move j back to i unless its home lies cyclically in (i, j]
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			t.hashes[i], t.slots[i] = t.hashes[j], t.slots[j]
			i = j
		}
	}
	t.hashes[i], t.slots[i] = 0, 0
	t.n--
}

// each calls f for every entry.
func (t *slotTable) each(f func(h uint64, slot int32)) {
	for i, h := range t.hashes {
		if h != 0 {
			f(h, t.slots[i])
		}
	}
}
