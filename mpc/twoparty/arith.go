package twoparty

import (
	"fmt"

	"github.com/privinfer/mpcache/mpc/ot"
)

// gilboaBits is the correction length of one 64-bit Gilboa product: Σ_{i<64} (64 − i) bits.
const gilboaBits = 64 * 65 / 2

// Triple returns shares of random a, b and c = a·b mod 2^64 (n each), by Gilboa
// multiplication on correlated OTs: a = a0 + a1 and b = b0 + b1 with a_p drawn locally and
// b_p the choice bits of this party's 64 OTs per element, and each cross term a_p·b_{1−p} =
// Σ_i 2^i·b_i·a_p from 64 OTs with correlation a_p, the i-th truncated to 64 − i bits.
//
// Cost per triple: 64 OTs each way, so (128/k − 1)·8 + 260 bytes sent by each party (508 at
// k = 4) in 2 flows per batch of ChunkOTs/64 triples, and 192 AES calls per party.
func (g *Generator) Triple(n int) (a, b, c []uint64, err error) {
	defer g.track("triple", n)()
	p, err := g.serve("triple", n, []int{1, 1, 1}, g.genTriples)
	if err != nil {
		return nil, nil, nil, err
	}
	return p[0], p[1], p[2], nil
}

func (g *Generator) genTriples(n int) ([][]uint64, error) {
	a, b, c := make([]uint64, n), make([]uint64, n), make([]uint64, n)
	err := chunks(n, g.o.ChunkOTs/64, func(lo, hi int) error {
		return g.triples(a[lo:hi], b[lo:hi], c[lo:hi])
	})
	if err != nil {
		return nil, fmt.Errorf("twoparty: triples: %w", err)
	}
	return [][]uint64{a, b, c}, nil
}

func (g *Generator) triples(a, b, c []uint64) error {
	n := len(a)
	x, err := g.extend(64 * n)
	if err != nil {
		return err
	}
	g.rng.Uint64s(a)
	copy(b, x.choice[:n])
	// Sender side: x0 = H(q), x1 = H(q ⊕ Δ); correction d = x1 − x0 − a (64 − i bits).
	m := 64 * n
	x0, x1 := make([]ot.Block, m), make([]ot.Block, m)
	g.snd.Hasher().HashPair(x0, x1, x.q[:m], g.snd.Delta(), x.qFirst)
	var w bitWriter
	w.buf = make([]byte, 0, packedLen(n*gilboaBits))
	for e := 0; e < n; e++ {
		var s uint64
		for i := 0; i < 64; i++ {
			j := 64*e + i
			u, v := le64(x0[j]), le64(x1[j])
			w.write(v-u-a[e], uint(64-i))
			s -= u << i
		}
		c[e] = a[e]*b[e] + s
	}
	in, err := g.exchange(w.bytes(), packedLen(n*gilboaBits))
	if err != nil {
		return err
	}
	// Receiver side: y = H(t) − b_i·d.
	y := x0 // reuse
	g.rcv.Hasher().Hash(y, x.t[:m], x.tFirst)
	r := bitReader{buf: in}
	for e := 0; e < n; e++ {
		var s uint64
		for i := 0; i < 64; i++ {
			j := 64*e + i
			d := r.read(uint(64 - i))
			s += (le64(y[j]) - x.choiceBit(j)*d) << i
		}
		c[e] += s
	}
	return nil
}

// BitPair returns XOR shares of a random bit r (in the low bit of each word) and arithmetic
// shares of the same bit: r = r0 ⊕ r1 = r0 + r1 − 2·r0·r1, the product from one correlated OT
// per element (each direction serves half of the elements). Cost per pair: one OT and 8
// bytes of correction, from one party; 2 flows per batch.
func (g *Generator) BitPair(n int) (rb, ra []uint64, err error) {
	defer g.track("bitpair", n)()
	p, err := g.serve("bitpair", n, []int{1, 1}, g.genBitPairs)
	if err != nil {
		return nil, nil, err
	}
	return p[0], p[1], nil
}

func (g *Generator) genBitPairs(n int) ([][]uint64, error) {
	rb, ra := make([]uint64, n), make([]uint64, n)
	err := chunks(n, g.o.ChunkOTs*2, func(lo, hi int) error {
		return g.bitPairs(rb[lo:hi], ra[lo:hi])
	})
	if err != nil {
		return nil, fmt.Errorf("twoparty: bit pairs: %w", err)
	}
	return [][]uint64{rb, ra}, nil
}

func (g *Generator) bitPairs(rb, ra []uint64) error {
	n := len(rb)
	slo, shi := g.senderRange(n)
	rlo, rhi := g.receiverRange(n)
	x, err := g.extend(max(shi-slo, rhi-rlo))
	if err != nil {
		return err
	}
	// As sender: own bit from the PRG, w = −x0, d = x1 − x0 − bit.
	ns := shi - slo
	x0, x1 := make([]ot.Block, ns), make([]ot.Block, ns)
	g.snd.Hasher().HashPair(x0, x1, x.q[:ns], g.snd.Delta(), x.qFirst)
	bitsW := g.words((ns + 63) / 64)
	out := make([]uint64, ns)
	for e := 0; e < ns; e++ {
		bit := bitsW[e/64] >> (e % 64) & 1
		u := le64(x0[e])
		out[e] = le64(x1[e]) - u - bit
		rb[slo+e] = bit
		ra[slo+e] = bit + 2*u // bit − 2·(−x0)
	}
	nr := rhi - rlo
	in, err := g.exchange(u64sBytes(out), 8*nr)
	if err != nil {
		return err
	}
	d := bytesU64s(in)
	y := make([]ot.Block, nr)
	g.rcv.Hasher().Hash(y, x.t[:nr], x.tFirst)
	for e := 0; e < nr; e++ {
		c := x.choiceBit(e)
		rb[rlo+e] = c
		ra[rlo+e] = c - 2*(le64(y[e])-c*d[e])
	}
	return nil
}

// truncWidths returns the correction width of each bit of a truncation tuple: bit i's product
// share must be exact modulo 2^W_i, with W_i ≥ 63 − i for r, ≥ 63 − i + bits for r >> bits and
// 63 for the MSB.
func truncWidths(bits uint) (w [64]uint, total int) {
	for i := uint(0); i < 64; i++ {
		switch {
		case i == 63:
			w[i] = 63
		case i < bits:
			w[i] = 63 - i
		default:
			w[i] = 63 - i + bits
		}
		total += int(w[i])
	}
	return w, total
}

// Trunc returns shares of a random r, of r >> bits and of MSB(r) (ring 0/1). r is built from 64
// random shared bits r_i = r0_i ⊕ r1_i, each converted to an arithmetic share with one
// correlated OT, so r = Σ 2^i·r_i, r >> bits = Σ_{i≥bits} 2^(i−bits)·r_i and MSB(r) = r_63 are
// exact linear combinations (no carries, no comparison circuit). Each direction serves half
// of the elements.
//
// Cost per tuple: 64 OTs (from one party) and Σ W_i bits of correction (355 bytes at
// bits = 16), so about 248 + 355 bytes in total at k = 4; 2 flows per batch.
func (g *Generator) Trunc(n int, bits uint) (r, hi, msb []uint64, err error) {
	defer g.track("trunc", n)()
	if bits == 0 || bits >= 62 {
		return nil, nil, nil, fmt.Errorf("twoparty: truncation by %d bits", bits)
	}
	p, err := g.serve(fmt.Sprintf("trunc/%d", bits), n, []int{1, 1, 1}, func(n int) ([][]uint64, error) {
		return g.genTruncs(n, bits)
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return p[0], p[1], p[2], nil
}

func (g *Generator) genTruncs(n int, bits uint) ([][]uint64, error) {
	r, hi, msb := make([]uint64, n), make([]uint64, n), make([]uint64, n)
	err := chunks(n, g.o.ChunkOTs/32, func(lo, h int) error {
		return g.truncs(r[lo:h], hi[lo:h], msb[lo:h], bits)
	})
	if err != nil {
		return nil, fmt.Errorf("twoparty: truncation tuples: %w", err)
	}
	return [][]uint64{r, hi, msb}, nil
}

func (g *Generator) truncs(r, hi, msb []uint64, bits uint) error {
	n := len(r)
	widths, total := truncWidths(bits)
	slo, shi := g.senderRange(n)
	rlo, rhi := g.receiverRange(n)
	x, err := g.extend(64 * max(shi-slo, rhi-rlo))
	if err != nil {
		return err
	}
	// combine turns the own bits and product shares of one element into its outputs.
	combine := func(e int, own uint64, w *[64]uint64) {
		var rs, hs uint64
		for i := uint(0); i < 64; i++ {
			b := own>>i&1 - 2*w[i]
			rs += b << i
			if i >= bits {
				hs += b << (i - bits)
			}
		}
		r[e], hi[e], msb[e] = rs, hs, own>>63&1-2*w[63]
	}
	ns := shi - slo
	m := 64 * ns
	x0, x1 := make([]ot.Block, m), make([]ot.Block, m)
	g.snd.Hasher().HashPair(x0, x1, x.q[:m], g.snd.Delta(), x.qFirst)
	own := g.words(ns)
	var bw bitWriter
	bw.buf = make([]byte, 0, packedLen(ns*total))
	var w [64]uint64
	for e := 0; e < ns; e++ {
		for i := 0; i < 64; i++ {
			j := 64*e + i
			u := le64(x0[j])
			bw.write(le64(x1[j])-u-own[e]>>i&1, widths[i])
			w[i] = -u
		}
		combine(slo+e, own[e], &w)
	}
	nr := rhi - rlo
	in, err := g.exchange(bw.bytes(), packedLen(nr*total))
	if err != nil {
		return err
	}
	y := x0
	if len(y) < 64*nr {
		y = make([]ot.Block, 64*nr)
	}
	y = y[:64*nr]
	g.rcv.Hasher().Hash(y, x.t[:64*nr], x.tFirst)
	rd := bitReader{buf: in}
	for e := 0; e < nr; e++ {
		for i := 0; i < 64; i++ {
			j := 64*e + i
			d := rd.read(widths[i])
			w[i] = le64(y[j]) - x.choiceBit(j)*d
		}
		combine(rlo+e, x.choice[e], &w)
	}
	return nil
}

// Mask returns this party's share of a fresh random mask: a local draw, no communication.
func (g *Generator) Mask(n int) ([]uint64, error) {
	defer g.track("mask", n)()
	return g.words(n), nil
}
