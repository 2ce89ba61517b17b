package correlate

// slotTable maps key hashes to slab slots: open addressing with linear
// probing and backward-shift deletion, so that the churn of windows opening
// and expiring leaves no tombstones behind (a Go map under such churn
// probes ever longer until it grows). Hash 0 marks an empty entry; a key
// hashing to 0 is stored as 1.
type slotTable struct {
	entries []slotEntry // a hash and its slot side by side: one cache miss per probe
	n       int
}

type slotEntry struct {
	hash uint64
	slot int32
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
	mask := uint64(len(t.entries) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch e := &t.entries[i]; e.hash {
		case h:
			return e.slot, true
		case 0:
			return 0, false
		}
	}
}

// put adds or replaces the slot of h.
func (t *slotTable) put(h uint64, slot int32) {
	if (t.n+1)*4 > len(t.entries)*3 {
		t.grow()
	}
	h = fixHash(h)
	mask := uint64(len(t.entries) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch e := &t.entries[i]; e.hash {
		case h:
			e.slot = slot
			return
		case 0:
			*e = slotEntry{h, slot}
			t.n++
			return
		}
	}
}

func (t *slotTable) grow() {
	old := t.entries
	t.entries, t.n = make([]slotEntry, max(64, 2*len(old))), 0
	for _, e := range old {
		if e.hash != 0 {
			t.put(e.hash, e.slot)
		}
	}
}

// del removes h, shifting later entries of its probe run back.
func (t *slotTable) del(h uint64) {
	if t.n == 0 {
		return
	}
	h = fixHash(h)
	mask := uint64(len(t.entries) - 1)
	i := h & mask
	for t.entries[i].hash != h {
		if t.entries[i].hash == 0 {
			return
		}
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; t.entries[j].hash != 0; j = (j + 1) & mask {
		home := t.entries[j].hash & mask
		// move j back to i unless its home lies cyclically in (i, j]
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			t.entries[i] = t.entries[j]
			i = j
		}
	}
	t.entries[i] = slotEntry{}
	t.n--
}

// each calls f for every entry.
func (t *slotTable) each(f func(h uint64, slot int32)) {
	for _, e := range t.entries {
		if e.hash != 0 {
			f(e.hash, e.slot)
		}
	}
}
