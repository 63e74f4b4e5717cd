// Package prg expands short secret seeds into long pseudorandom streams of ring elements with
// AES-128 in counter mode (the standard library's AES, which uses AES-NI where present).
//
// Seeds come from crypto/rand (NewSeed). Two parties holding the same seed and stream label draw
// identical streams, which is how correlated randomness travels as a 16-byte seed instead of
// megabytes of data.
package prg

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"unsafe"
)

// SeedSize is the length of a seed in bytes (an AES-128 key).
const SeedSize = 16

// Seed is a PRG key.
type Seed [SeedSize]byte

// NewSeed draws a fresh uniformly random seed from crypto/rand.
func NewSeed() (Seed, error) {
	var s Seed
	if _, err := rand.Read(s[:]); err != nil {
		return s, fmt.Errorf("prg: drawing a seed: %w", err)
	}
	return s, nil
}

// Derive returns the seed of a sub-stream identified by label, as SHA-256(seed || label)
// truncated to 16 bytes: independent labels give independent streams.
func (s Seed) Derive(label string) Seed {
	h := sha256.New()
	h.Write(s[:])
	h.Write([]byte(label))
	var out Seed
	copy(out[:], h.Sum(nil))
	return out
}

// PRG is a deterministic stream of pseudorandom bytes and ring elements. It is not safe for
// concurrent use.
type PRG struct {
	stream cipher.Stream
	buf    []byte
}

// New returns the stream of seed.
func New(seed Seed) *PRG {
	block, err := aes.NewCipher(seed[:])
	if err != nil {
		panic("prg: AES-128 rejected a 16-byte key: " + err.Error()) // unreachable: the key size is fixed
	}
	var iv [aes.BlockSize]byte
	return &PRG{stream: cipher.NewCTR(block, iv[:])}
}

// Read fills b with the next len(b) stream bytes. It never fails.
func (p *PRG) Read(b []byte) (int, error) {
	// The keystream is AES-CTR over zeros. XORing a small zero block into b chunk by chunk
	// writes b once; clearing b first would pass over it twice.
	for at := 0; at < len(b); at += len(zeros) {
		n := min(len(b)-at, len(zeros))
		p.stream.XORKeyStream(b[at:at+n], zeros[:n])
	}
	return len(b), nil
}

// zeros is the plaintext of the keystream, small enough to stay in the first-level cache.
var zeros [16 << 10]byte

// Uint64s fills dst with the next uniformly random ring elements.
func (p *PRG) Uint64s(dst []uint64) {
	if len(dst) == 0 {
		return
	}
	if littleEndian {
		b := unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 8*len(dst))
		p.Read(b)
		return
	}
	if cap(p.buf) < 8*len(dst) {
		p.buf = make([]byte, 8*len(dst))
	}
	b := p.buf[:8*len(dst)]
	p.Read(b)
	for i := range dst {
		dst[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
}

// Uint64 returns the next uniformly random ring element.
func (p *PRG) Uint64() uint64 {
	var b [8]byte
	p.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// Bits fills dst with uniformly random words (64 random bits each); an alias of Uint64s for
// boolean material.
func (p *PRG) Bits(dst []uint64) { p.Uint64s(dst) }

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()
