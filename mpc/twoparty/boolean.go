package twoparty

import (
	"fmt"

	"github.com/privinfer/mpcache/mpc/ot"
)

// lsbWord packs the low bits of 64 hashes into a word.
func lsbWord(h []ot.Block) uint64 {
	var w uint64
	for i := range h[:64] {
		w |= (h[i][0] & 1) << i
	}
	return w
}

// ANDTriple returns XOR shares of random words a, b and c = a ∧ b, bit by bit from random OTs
// (Asharov et al. 2013): a random OT gives the sender (x0, x1) and the receiver (c, x_c), so
// c ∧ (x0 ⊕ x1) = x0 ⊕ x_c is shared without any further message. Each party's a is its
// sender x0 ⊕ x1 and its b its choice bits; the two cross terms come from the two directions.
//
// Cost per word (64 AND triples): 64 OTs each way, (128/k − 1)·8 bytes sent by each party
// (248 at k = 4), 1 flow per batch of ChunkOTs/64 words, 192 AES calls per party.
func (g *Generator) ANDTriple(n int) (a, b, c []uint64, err error) {
	defer g.track("and", n)()
	p, err := g.serve("and", n, []int{1, 1, 1}, g.genANDs)
	if err != nil {
		return nil, nil, nil, err
	}
	return p[0], p[1], p[2], nil
}

func (g *Generator) genANDs(n int) ([][]uint64, error) {
	a, b, c := make([]uint64, n), make([]uint64, n), make([]uint64, n)
	err := chunks(n, g.o.ChunkOTs/64, func(lo, hi int) error {
		x, err := g.extend(64 * (hi - lo))
		if err != nil {
			return err
		}
		m := 64 * (hi - lo)
		x0, x1 := make([]ot.Block, m), make([]ot.Block, m)
		g.snd.Hasher().HashPair(x0, x1, x.q[:m], g.snd.Delta(), x.qFirst)
		y := make([]ot.Block, m)
		g.rcv.Hasher().Hash(y, x.t[:m], x.tFirst)
		for e := 0; e < hi-lo; e++ {
			u0, u1, v := lsbWord(x0[64*e:]), lsbWord(x1[64*e:]), lsbWord(y[64*e:])
			a[lo+e], b[lo+e] = u0^u1, x.choice[e]
			c[lo+e] = a[lo+e]&b[lo+e] ^ u0 ^ v
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("twoparty: AND triples: %w", err)
	}
	return [][]uint64{a, b, c}, nil
}

// PrivateAND returns a random word known to this party alone (u at P0, v at P1) and XOR shares
// z of u ∧ v: one random OT per bit, the first half of the words with P0 as OT sender (its word
// is x0 ⊕ x1), the second half with P1. Cost per word: 64 OTs from one party,
// (128/k − 1)·8 bytes; 1 flow per batch.
func (g *Generator) PrivateAND(n int) (u, z []uint64, err error) {
	defer g.track("private-and", n)()
	p, err := g.serve("private-and", n, []int{1, 1}, g.genPrivateANDs)
	if err != nil {
		return nil, nil, err
	}
	return p[0], p[1], nil
}

func (g *Generator) genPrivateANDs(n int) ([][]uint64, error) {
	u, z := make([]uint64, n), make([]uint64, n)
	err := chunks(n, g.o.ChunkOTs/32, func(lo, hi int) error {
		k := hi - lo
		slo, shi := g.senderRange(k)
		rlo, rhi := g.receiverRange(k)
		x, err := g.extend(64 * max(shi-slo, rhi-rlo))
		if err != nil {
			return err
		}
		ms, mr := 64*(shi-slo), 64*(rhi-rlo)
		x0, x1 := make([]ot.Block, ms), make([]ot.Block, ms)
		g.snd.Hasher().HashPair(x0, x1, x.q[:ms], g.snd.Delta(), x.qFirst)
		for e := 0; e < shi-slo; e++ {
			w0, w1 := lsbWord(x0[64*e:]), lsbWord(x1[64*e:])
			u[lo+slo+e], z[lo+slo+e] = w0^w1, w0
		}
		y := make([]ot.Block, mr)
		g.rcv.Hasher().Hash(y, x.t[:mr], x.tFirst)
		for e := 0; e < rhi-rlo; e++ {
			u[lo+rlo+e], z[lo+rlo+e] = x.choice[e], lsbWord(y[64*e:])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("twoparty: private ANDs: %w", err)
	}
	return [][]uint64{u, z}, nil
}
