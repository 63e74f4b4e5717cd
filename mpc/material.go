package mpc

import (
	"fmt"
	"slices"

	"github.com/privinfer/mpcache/mpc/fss"
)

// Material is the source of correlated randomness that P0 and P1 consume: the 2pc dealer (a
// third process), P2 in 3pc (for truncation, one-hot and comparison material only; 3pc
// multiplications need none), or a two-party generator that P0 and P1 run between themselves.
// All parties call the same methods in the same order with the same sizes (the programs are
// data-oblivious). Every method returns this party's parts; at the producing party (the
// dealer, or P2 in 3pc) the methods produce and send the material and return nil parts, except
// Mask, which returns the whole mask there (the producer needs it for later products with the
// fixed operand, or to deal comparison keys).
//
// Arithmetic parts are additive shares mod 2^64, boolean parts XOR shares of 64-bit words.
type Material interface {
	// Triple returns shares of random a, b and c = a·b, n elements each.
	Triple(n int) (a, b, c []uint64, err error)
	// MatrixTriple returns shares of A (batch×m×k), B (batch×k×n) and C = A·B per batch. A
	// non-nil maskA or maskB (a fixed operand's mask from Mask) is used instead of a fresh A or
	// B and is not returned again.
	MatrixTriple(batch, m, k, n int, maskA, maskB []uint64) (a, b, c []uint64, err error)
	// Mask returns shares of a fresh random mask of n elements (the producer: the whole mask).
	Mask(n int) ([]uint64, error)
	// Trunc returns shares of a random r and of r >> bits and MSB(r) (as ring 0/1).
	Trunc(n int, bits uint) (r, hi, msb []uint64, err error)
	// ANDTriple returns XOR shares of random words a, b and c = a ∧ b.
	ANDTriple(n int) (a, b, c []uint64, err error)
	// PrivateAND returns a random word known to this party alone (u at P0, v at P1) and XOR
	// shares z of u ∧ v.
	PrivateAND(n int) (u, z []uint64, err error)
	// BitPair returns a XOR share of a random bit r (in the low bit of each word) and an
	// arithmetic share of the same bit.
	BitPair(n int) (rb, ra []uint64, err error)
	// OneHotPair returns shares of random integers r (cnt of them, only r mod N matters) and of
	// their one-hot rows of length N (cnt×N).
	OneHotPair(cnt, N int) (r, onehot []uint64, err error)
}

// dealerMaterial is Material produced by party 2 (see deal).
type dealerMaterial struct{ e *engine }

func (m dealerMaterial) Triple(n int) (a, b, c []uint64, err error) {
	d, err := m.e.deal(dealSpec{op: "mul", rand: []int{n, n}, derived: []int{n}, xor: []bool{false},
		derive: func(r0, r1 [][]uint64) [][]uint64 {
			c := make([]uint64, n)
			for i := range c {
				c[i] = (r0[0][i] + r1[0][i]) * (r0[1][i] + r1[1][i])
			}
			return [][]uint64{c}
		}})
	if err != nil || d.rand == nil {
		return nil, nil, nil, err
	}
	return d.rand[0], d.rand[1], d.der[0], nil
}

func (m dealerMaterial) MatrixTriple(batch, rows, k, n int, maskA, maskB []uint64) (a, b, c []uint64, err error) {
	return m.matrixTriple(batch, rows, k, n, maskA, maskB, factor{stride: k * n})
}

// matrixTriple is MatrixTriple with a fixed maskB (if any) laid out as the factor lay says.
func (m dealerMaterial) matrixTriple(batch, rows, k, n int, maskA, maskB []uint64, lay factor) (a, b, c []uint64, err error) {
	var rand []int
	if maskA == nil {
		rand = append(rand, batch*rows*k)
	}
	if maskB == nil {
		rand = append(rand, batch*k*n)
		lay = factor{stride: k * n}
	}
	d, err := m.e.deal(dealSpec{op: "matmul", rand: rand, derived: []int{batch * rows * n}, xor: []bool{false},
		derive: func(r0, r1 [][]uint64) [][]uint64 {
			fa, fb, i := maskA, maskB, 0
			if fa == nil {
				fa, i = sum(r0[0], r1[0]), 1
			}
			if fb == nil {
				fb = sum(r0[i], r1[i])
			}
			return [][]uint64{lay.times(fa, fb, batch, rows, k, n)}
		}})
	if err != nil || d.rand == nil {
		return nil, nil, nil, err
	}
	i := 0
	if maskA == nil {
		a, i = d.rand[0], 1
	}
	if maskB == nil {
		b = d.rand[i]
	}
	return a, b, d.der[0], nil
}

func (m dealerMaterial) Mask(n int) ([]uint64, error) {
	d, err := m.e.deal(dealSpec{op: "fix", rand: []int{n}, derive: func(r0, r1 [][]uint64) [][]uint64 { return nil }})
	if err != nil {
		return nil, err
	}
	if d.rand == nil {
		return sum(d.r0[0], d.r1[0]), nil
	}
	return d.rand[0], nil
}

func (m dealerMaterial) Trunc(n int, bits uint) (r, hi, msb []uint64, err error) {
	d, err := m.e.deal(dealSpec{op: "trunc", rand: []int{n}, derived: []int{n, n}, xor: []bool{false, false},
		derive: func(r0, r1 [][]uint64) [][]uint64 {
			hi, msb := make([]uint64, n), make([]uint64, n)
			for i := range hi {
				r := r0[0][i] + r1[0][i]
				hi[i], msb[i] = r>>bits, r>>63
			}
			return [][]uint64{hi, msb}
		}})
	if err != nil || d.rand == nil {
		return nil, nil, nil, err
	}
	return d.rand[0], d.der[0], d.der[1], nil
}

func (m dealerMaterial) ANDTriple(n int) (a, b, c []uint64, err error) {
	d, err := m.e.deal(dealSpec{op: "and", rand: []int{n, n}, derived: []int{n}, xor: []bool{true},
		derive: func(r0, r1 [][]uint64) [][]uint64 {
			c := make([]uint64, n)
			for i := range c {
				c[i] = (r0[0][i] ^ r1[0][i]) & (r0[1][i] ^ r1[1][i])
			}
			return [][]uint64{c}
		}})
	if err != nil || d.rand == nil {
		return nil, nil, nil, err
	}
	return d.rand[0], d.rand[1], d.der[0], nil
}

func (m dealerMaterial) PrivateAND(n int) (u, z []uint64, err error) {
	d, err := m.e.deal(dealSpec{op: "and", rand: []int{n}, derived: []int{n}, xor: []bool{true},
		derive: func(r0, r1 [][]uint64) [][]uint64 {
			z := make([]uint64, n)
			for i := range z {
				z[i] = r0[0][i] & r1[0][i]
			}
			return [][]uint64{z}
		}})
	if err != nil || d.rand == nil {
		return nil, nil, err
	}
	return d.rand[0], d.der[0], nil
}

func (m dealerMaterial) BitPair(n int) (rb, ra []uint64, err error) {
	d, err := m.e.deal(dealSpec{op: "b2a", rand: []int{n}, derived: []int{n}, xor: []bool{false},
		derive: func(r0, r1 [][]uint64) [][]uint64 {
			ra := make([]uint64, n)
			for i := range ra {
				ra[i] = (r0[0][i] ^ r1[0][i]) & 1
			}
			return [][]uint64{ra}
		}})
	if err != nil || d.rand == nil {
		return nil, nil, err
	}
	return d.rand[0], d.der[0], nil
}

func (m dealerMaterial) OneHotPair(cnt, N int) (r, onehot []uint64, err error) {
	d, err := m.e.deal(dealSpec{op: "onehot", rand: []int{cnt}, derived: []int{cnt * N}, xor: []bool{false},
		derive: func(r0, r1 [][]uint64) [][]uint64 {
			v := make([]uint64, cnt*N)
			for i := 0; i < cnt; i++ {
				v[i*N+int((r0[0][i]+r1[0][i])&uint64(N-1))] = 1
			}
			return [][]uint64{v}
		}})
	if err != nil || d.rand == nil {
		return nil, nil, err
	}
	return d.rand[0], d.der[0], nil
}

// DCFMaterial is Material that also deals keys of a distributed comparison function: the sign
// gate of package fss, with which LTZ costs one online round (two in 3pc) instead of a boolean
// circuit's eight. It is optional: LTZ uses it when the engine's Material implements it (see
// Config.Comparison).
type DCFMaterial interface {
	Material
	// DCFKeys returns this party's sign-gate keys over bits (see fss.MaxBits) for n masks r,
	// those of the preceding Mask call (or a piece of them, in order): the batch's AES key, the
	// party's root seeds (fss.SeedWords per mask) and the correction words (fss.KeyWords(bits)
	// per mask, the same at P0 and P1, who may be handed one buffer: read-only). The producer
	// passes its whole masks as r and gets nil parts; the other parties pass nil.
	DCFKeys(n int, bits uint, r []uint64) (key [fss.KeySize]byte, seeds, cw []uint64, err error)
}

var _ DCFMaterial = dealerMaterial{}

// DCFKeys draws the AES key and P0's root seeds from P0's stream and P1's root seeds from
// P1's; the correction words travel to both, and the AES key to P1 (a message of its own), as
// offline bytes: 8·fss.KeyWords(bits) per mask to each, plus fss.KeySize to P1.
func (m dealerMaterial) DCFKeys(n int, bits uint, r []uint64) (key [fss.KeySize]byte, seeds, cw []uint64, err error) {
	e := m.e
	if e.dealsHere() {
		if len(r) != n {
			return key, nil, nil, fmt.Errorf("mpc: dcf material: %d masks for %d keys", len(r), n)
		}
		e.dealStream[0].Read(key[:])
		s0 := make([]uint64, fss.SeedWords*n)
		s1 := make([]uint64, fss.SeedWords*n)
		e.dealStream[0].Uint64s(s0)
		e.dealStream[1].Uint64s(s1)
		cw := make([]uint64, fss.KeyWords(bits)*n)
		fss.GenSign(key, bits, r, s0, s1, cw)
		// The correction words are the same for P0 and P1, who only read them: both get
		// one buffer (the transport owns it from here on, and nothing writes to it).
		words := wordBytes(cw)
		for _, d := range []struct {
			to  int
			msg []byte
		}{{1, slices.Clone(key[:])}, {1, words}, {0, words}} {
			if err := e.send(d.to, d.msg, true); err != nil {
				return key, nil, nil, fmt.Errorf("mpc: dcf material: %w", err)
			}
		}
		return [fss.KeySize]byte{}, nil, nil, nil
	}
	seeds = make([]uint64, fss.SeedWords*n)
	if e.party == 0 {
		e.dealStream[0].Read(key[:])
	} else {
		b, err := e.recvBytes("dcf material", 2, fss.KeySize)
		if err != nil {
			return key, nil, nil, err
		}
		copy(key[:], b)
	}
	e.dealStream[0].Uint64s(seeds)
	b, err := e.recvBytes("dcf material", 2, 8*fss.KeyWords(bits)*n)
	if err != nil {
		return key, nil, nil, err
	}
	return key, seeds, asWords(b), nil
}
