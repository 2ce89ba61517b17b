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
	case len(s) == 32 && lowerHex(s):
		hex.Decode(id.b[:], []byte(s))
		id.kind = idHex
	case len(s) == 36 && isUUID(s):
		hex.Decode(id.b[0:4], []byte(s[0:8]))
		hex.Decode(id.b[4:6], []byte(s[9:13]))
		hex.Decode(id.b[6:8], []byte(s[14:18]))
		hex.Decode(id.b[8:10], []byte(s[19:23]))
		hex.Decode(id.b[10:16], []byte(s[24:36]))
		id.kind = idUUID
	case len(s) <= 16:
		copy(id.b[:], s)
		id.kind = idShort + uint8(len(s))
	default:
		t.serial++
		binary.LittleEndian.PutUint64(id.b[:], t.serial)
		t.other[t.serial] = s
	}
	return id
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

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func isUUID(s string) bool {
	for i := 0; i < len(s); i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return false
			}
			continue
		}
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
