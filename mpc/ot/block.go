package ot

import "encoding/binary"

// Block is a 128-bit string: Block[0] holds bits 0–63, Block[1] bits 64–127.
type Block [2]uint64

// Xor returns b ⊕ c.
func (b Block) Xor(c Block) Block { return Block{b[0] ^ c[0], b[1] ^ c[1]} }

// Bit returns bit i (0–127) of b.
func (b Block) Bit(i int) uint64 { return b[i>>6] >> (i & 63) & 1 }

// PutBytes writes b as 16 little-endian bytes.
func (b Block) PutBytes(dst []byte) {
	binary.LittleEndian.PutUint64(dst, b[0])
	binary.LittleEndian.PutUint64(dst[8:], b[1])
}

// BlockFrom reads 16 little-endian bytes.
func BlockFrom(src []byte) Block {
	return Block{binary.LittleEndian.Uint64(src), binary.LittleEndian.Uint64(src[8:])}
}

// transpose64 transposes a 64×64 bit matrix in place: bit j of a[i] becomes bit i of a[j].
func transpose64(a *[64]uint64) {
	m := uint64(0x00000000FFFFFFFF)
	for j := 32; j != 0; {
		for k := 0; k < 64; k = (k + j + 1) &^ j {
			t := (a[k]>>uint(j) ^ a[k+j]) & m
			a[k] ^= t << uint(j)
			a[k+j] ^= t
		}
		j >>= 1
		m ^= m << uint(j)
	}
}

// transpose128 turns 128 rows of m bits (rows[r] holds m/64 words; bit j of the matrix row is
// bit j%64 of word j/64) into m blocks: bit r of out[j] is bit j of row r. m is a multiple of 64.
func transpose128(rows *[128][]uint64, m int) []Block {
	out := make([]Block, m)
	parallel(m/64, 64, func(lo, hi int) {
		var a [64]uint64
		for w := lo; w < hi; w++ {
			for g := 0; g < 2; g++ {
				for r := 0; r < 64; r++ {
					a[r] = rows[64*g+r][w]
				}
				transpose64(&a)
				for j := 0; j < 64; j++ {
					out[64*w+j][g] = a[j]
				}
			}
		}
	})
	return out
}

// xorInto sets dst ^= src.
func xorInto(dst, src []uint64) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] ^= src[i]
	}
}

// putWords appends the little-endian encoding of ws to dst.
func putWords(dst []byte, ws []uint64) []byte {
	for _, w := range ws {
		dst = binary.LittleEndian.AppendUint64(dst, w)
	}
	return dst
}

// getWords decodes len(dst) little-endian words from src (len(src) ≥ 8·len(dst)).
func getWords(dst []uint64, src []byte) {
	for i := range dst {
		dst[i] = binary.LittleEndian.Uint64(src[8*i:])
	}
}
