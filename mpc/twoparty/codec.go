package twoparty

import "encoding/binary"

// u64sBytes encodes words little-endian.
func u64sBytes(ws []uint64) []byte {
	b := make([]byte, 8*len(ws))
	for i, w := range ws {
		binary.LittleEndian.PutUint64(b[8*i:], w)
	}
	return b
}

// bytesU64s decodes little-endian words (len(b) is a multiple of 8; the caller checks).
func bytesU64s(b []byte) []uint64 {
	ws := make([]uint64, len(b)/8)
	for i := range ws {
		ws[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return ws
}
