package correlate

import (
	"encoding/binary"
	"encoding/hex"
)

// Kinds of eventID.
const (
	idOther uint8 = iota // held in the idTable by serial number
	idHex                // 32 lowercase hex digits (ingest.StableID)
	idUUID               // a lowercase UUID (CloudTrail eventID, audit IDs)
	idShort              // up to 16 bytes, kept in place; idShort+n for length n
)

// eventID is an event ID stored in 17 bytes instead of a string: the IDs
// vigil sees are almost all hex digests or UUIDs, which pack into 16 bytes
// without loss.
type eventID struct {
	b    [16]byte
	kind uint8
}

// evRef is a contributing event: its time (unix ns) and ID.
type evRef struct {
	t  int64
	id eventID
}

// idTable holds the IDs that do not pack, by serial number.
type idTable struct {
	other  map[uint64]string
	serial uint64
}

func newIDTable() idTable { return idTable{other: map[uint64]string{}} }

// ref packs an ID; release it when it is no longer referenced.
func (t *idTable) ref(s string) eventID {
	var id eventID
	switch {
	case len(s) == 32 && unhex(id.b[:], s):
		id.kind = idHex
	case len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' &&
		unhex(id.b[0:4], s[0:8]) && unhex(id.b[4:6], s[9:13]) && unhex(id.b[6:8], s[14:18]) &&
		unhex(id.b[8:10], s[19:23]) && unhex(id.b[10:16], s[24:36]):
		id.kind = idUUID
	case len(s) <= 16:
		id = eventID{kind: idShort + uint8(len(s))}
		copy(id.b[:], s)
	default:
		id = eventID{}
		t.serial++
		binary.LittleEndian.PutUint64(id.b[:], t.serial)
		t.other[t.serial] = s
	}
	return id
}

// nibble maps lowercase hex digits to their value, anything else to 0xff
// (uppercase digits would not come back as written).
var nibble = func() (t [256]uint8) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = uint8(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = uint8(c - 'a' + 10)
	}
	return t
}()

// unhex decodes 2*len(dst) lowercase hex digits of s into dst.
func unhex(dst []byte, s string) bool {
	for i := range dst {
		hi, lo := nibble[s[2*i]], nibble[s[2*i+1]]
		if hi|lo > 0x0f {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// release forgets an ID held in the table.
func (t *idTable) release(id eventID) {
	if id.kind == idOther {
		delete(t.other, binary.LittleEndian.Uint64(id.b[:]))
	}
}

// str returns the ID as text.
func (t *idTable) str(id eventID) string {
	switch {
	case id.kind == idHex:
		return hex.EncodeToString(id.b[:])
	case id.kind == idUUID:
		h := hex.EncodeToString(id.b[:])
		return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	case id.kind >= idShort:
		return string(id.b[:id.kind-idShort])
	}
	return t.other[binary.LittleEndian.Uint64(id.b[:])]
}
