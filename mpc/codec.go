package mpc

import (
	"encoding/binary"
	"unsafe"
)

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// u64sToBytes serialises the concatenation of xs as little-endian words.
func u64sToBytes(xs ...[]uint64) []byte {
	n := 0
	for _, x := range xs {
		n += len(x)
	}
	b := make([]byte, 8*n)
	off := 0
	for _, x := range xs {
		if len(x) == 0 {
			continue
		}
		if littleEndian {
			copy(b[off:], unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 8*len(x)))
		} else {
			for i, v := range x {
				binary.LittleEndian.PutUint64(b[off+8*i:], v)
			}
		}
		off += 8 * len(x)
	}
	return b
}

// bytesToU64s parses little-endian words; len(b) must be a multiple of 8.
func bytesToU64s(b []byte) []uint64 {
	out := make([]uint64, len(b)/8)
	if len(out) == 0 {
		return out
	}
	if littleEndian {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), 8*len(out)), b)
		return out
	}
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return out
}
