package fss

import (
	"crypto/aes"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestHashMatchesStdlib checks the batched kernel (where this CPU has one) against crypto/aes
// for every batch length up to 40 blocks, so both the eight-block loop and the tail run.
func TestHashMatchesStdlib(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var key [16]byte
	for i := range key {
		key[i] = byte(r.Uint32())
	}
	h := newHash(key)
	c, _ := aes.NewCipher(key[:])
	for n := 0; n <= 40; n++ {
		buf := make([]block, n)
		for i := range buf {
			buf[i] = block{r.Uint64(), r.Uint64()}
		}
		want := slices.Clone(buf)
		for i := range want {
			var b, e [16]byte
			binary.LittleEndian.PutUint64(b[:8], want[i].lo)
			binary.LittleEndian.PutUint64(b[8:], want[i].hi)
			c.Encrypt(e[:], b[:])
			want[i].lo ^= binary.LittleEndian.Uint64(e[:8])
			want[i].hi ^= binary.LittleEndian.Uint64(e[8:])
		}
		gen := slices.Clone(buf)
		h.blocksGeneric(gen)
		h.blocks(buf)
		if !slices.Equal(buf, want) || !slices.Equal(gen, want) {
			t.Fatalf("%d blocks: hash differs from AES-MMO through crypto/aes", n)
		}
	}
	if !useAsm {
		t.Log("no AES-NI kernel on this build: only the crypto/aes path was tested")
	}
}

func BenchmarkHash(b *testing.B) {
	h := newHash([16]byte{1})
	buf := make([]block, 8192)
	b.Run("batched", func(b *testing.B) {
		b.SetBytes(int64(16 * len(buf)))
		for b.Loop() {
			h.blocks(buf)
		}
	})
	b.Run("crypto-aes", func(b *testing.B) {
		b.SetBytes(int64(16 * len(buf)))
		for b.Loop() {
			h.blocksGeneric(buf)
		}
	})
}
