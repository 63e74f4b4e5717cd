package prg

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"testing"
)

// TestStream checks the stream against AES-128-CTR from a zero IV over zeros, whatever the
// sizes of the reads (across the chunks Read works in), and that labels separate streams.
func TestStream(t *testing.T) {
	seed := Seed{1, 2, 3}
	block, err := aes.NewCipher(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	const total = 3*len(zeros) + 1000
	want := make([]byte, total)
	cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(want, want)
	for _, c := range []struct {
		name  string
		sizes []int
	}{
		{"one read", []int{total}},
		{"odd reads", []int{1, 15, 17, len(zeros) - 3, 2*len(zeros) + 5, 965}},
		{"chunk sized", []int{len(zeros), len(zeros), len(zeros), 1000}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := New(seed)
			var got []byte
			for _, n := range c.sizes {
				b := bytes.Repeat([]byte{0xa5}, n) // Read overwrites, whatever b held
				p.Read(b)
				got = append(got, b...)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("stream differs from AES-128-CTR over zeros")
			}
		})
	}
	a, b := make([]uint64, 4), make([]uint64, 4)
	New(seed.Derive("a")).Uint64s(a)
	New(seed.Derive("b")).Uint64s(b)
	if a[0] == b[0] && a[1] == b[1] {
		t.Fatal("two labels gave the same stream")
	}
}

// BenchmarkUint64s is the stream's rate on 64 MiB reads (larger than the caches, as a layer's material is).
func BenchmarkUint64s(b *testing.B) {
	p := New(Seed{})
	dst := make([]uint64, 1<<23)
	b.SetBytes(8 << 23)
	for b.Loop() {
		p.Uint64s(dst)
	}
}
