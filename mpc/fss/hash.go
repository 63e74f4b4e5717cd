package fss

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
)

// hash is the length-preserving function H(z) = AES_k(z) ⊕ z on 128-bit blocks
// (Matyas–Meyer–Oseas with one AES-128 key k per batch of keys), from which the tree PRG is
// built (see inputs). A block's words, low then high, are its little-endian bytes.
//
// crypto/aes encrypts one block per call, which leaves AES-NI waiting on each block's latency
// (7 to 10 times slower than a pipelined kernel here). On amd64 with AES-NI, an assembly kernel
// keeps eight blocks in flight; TestHashMatchesStdlib checks it against crypto/aes, which
// serves every other CPU.
type hash struct {
	block cipher.Block // the standard library's AES, for CPUs without the batched kernel
	xk    [44]uint32   // the expanded key, for the batched kernel
}

// newHash returns the hash keyed by key.
func newHash(key [KeySize]byte) *hash {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic("fss: AES-128 rejected a 16-byte key: " + err.Error()) // unreachable
	}
	h := &hash{block: b}
	if useAsm {
		expandKeyAsm(&key[0], &h.xk[0])
	}
	return h
}

// blocks replaces every block z of buf by H(z).
func (h *hash) blocks(buf []block) {
	if len(buf) == 0 {
		return
	}
	if useAsm {
		mmoAsm(&h.xk[0], &buf[0], len(buf))
		return
	}
	h.blocksGeneric(buf)
}

// blocksGeneric is blocks through crypto/aes, one block per call.
func (h *hash) blocksGeneric(buf []block) {
	var b [16]byte
	for i := range buf {
		binary.LittleEndian.PutUint64(b[:8], buf[i].lo)
		binary.LittleEndian.PutUint64(b[8:], buf[i].hi)
		h.block.Encrypt(b[:], b[:])
		buf[i].lo ^= binary.LittleEndian.Uint64(b[:8])
		buf[i].hi ^= binary.LittleEndian.Uint64(b[8:])
	}
}
