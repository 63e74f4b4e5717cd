package twoparty

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"math/bits"

	"github.com/privinfer/mpcache/mpc/ot"
)

// expand fills dst with the AES-CTR stream keyed by the 128-bit key k.
func expand(k ot.Block, dst []uint64) {
	var kb, iv [16]byte
	k.PutBytes(kb[:])
	c, err := aes.NewCipher(kb[:])
	if err != nil {
		panic("twoparty: AES rejected a 16-byte key") // unreachable: the key size is fixed
	}
	buf := make([]byte, 8*len(dst))
	cipher.NewCTR(c, iv[:]).XORKeyStream(buf, buf)
	copy(dst, bytesU64s(buf))
}

// OneHotPair returns shares of random integers r (cnt of them; only r mod N matters) and of
// their one-hot rows of length N (cnt×N, N a power of two), by an oblivious rotation: the
// holder starts from the one-hot row of its own random r_H, and for each of the log2 N bits c
// of the other party's random r_R, one random OT (choice c) moves the shared row by c·2^lvl:
// the holder keeps w − G(x0) and sends D = rot(w, 2^lvl) − w + G(x0) − G(x1); the rotator
// adds G(x_c) + c·D to its rotated share (G is AES-CTR). The rows end as the one-hot of
// r_H + r_R. Each direction serves half of the rows.
//
// Cost per row: log2 N OTs and 8·N·log2 N bytes from the holder (8 MiB for N = 2^16), 2 flows
// per batch; 2·log2 N AES key schedules and streams of N words at the holder.
func (g *Generator) OneHotPair(cnt, N int) (r, onehot []uint64, err error) {
	defer g.track("onehot", cnt)()
	if N <= 0 || N&(N-1) != 0 {
		return nil, nil, fmt.Errorf("twoparty: one-hot length %d is not a power of two", N)
	}
	p, err := g.serve(fmt.Sprintf("onehot/%d", N), cnt, []int{1, N}, func(cnt int) ([][]uint64, error) {
		return g.genOneHots(cnt, N)
	})
	if err != nil {
		return nil, nil, err
	}
	return p[0], p[1], nil
}

func (g *Generator) genOneHots(cnt, N int) ([][]uint64, error) {
	r, onehot := make([]uint64, cnt), make([]uint64, cnt*N)
	ell := bits.Len(uint(N)) - 1
	if ell == 0 {
		if g.party == 0 {
			for i := range onehot {
				onehot[i] = 1
			}
		}
		return [][]uint64{r, onehot}, nil
	}
	per := max(1, min(g.o.ChunkOTs/ell, (1<<22)/(ell*N)))
	err := chunks(cnt, per, func(lo, hi int) error {
		return g.oneHots(r[lo:hi], onehot[lo*N:hi*N], N, ell)
	})
	if err != nil {
		return nil, fmt.Errorf("twoparty: one-hot pairs: %w", err)
	}
	return [][]uint64{r, onehot}, nil
}

func (g *Generator) oneHots(r, oh []uint64, N, ell int) error {
	cnt := len(r)
	slo, shi := g.senderRange(cnt)
	rlo, rhi := g.receiverRange(cnt)
	ns, nr := shi-slo, rhi-rlo
	x, err := g.extend(ell * max(ns, nr))
	if err != nil {
		return err
	}
	mask := N - 1
	// Holder (OT sender).
	x0, x1 := make([]ot.Block, ell*ns), make([]ot.Block, ell*ns)
	g.snd.Hasher().HashPair(x0, x1, x.q[:ell*ns], g.snd.Delta(), x.qFirst)
	D := make([]uint64, ns*ell*N)
	g0, g1 := make([]uint64, N), make([]uint64, N)
	own := g.words(ns)
	for e := 0; e < ns; e++ {
		w := oh[(slo+e)*N : (slo+e+1)*N]
		rh := own[e] & uint64(mask)
		w[rh] = 1
		r[slo+e] = rh
		for lvl := 0; lvl < ell; lvl++ {
			j := ell*e + lvl
			expand(x0[j], g0)
			expand(x1[j], g1)
			s := 1 << lvl
			d := D[j*N : (j+1)*N]
			for i := range d {
				d[i] = w[(i-s)&mask] - w[i] + g0[i] - g1[i]
			}
			for i := range w {
				w[i] -= g0[i]
			}
		}
	}
	in, err := g.exchange(u64sBytes(D), 8*nr*ell*N)
	if err != nil {
		return err
	}
	Dp := bytesU64s(in)
	// Rotator (OT receiver).
	y := make([]ot.Block, ell*nr)
	g.rcv.Hasher().Hash(y, x.t[:ell*nr], x.tFirst)
	tmp := make([]uint64, N)
	for e := 0; e < nr; e++ {
		v := oh[(rlo+e)*N : (rlo+e+1)*N]
		var rr uint64
		for lvl := 0; lvl < ell; lvl++ {
			j := ell*e + lvl
			c := x.choiceBit(j)
			rr |= c << lvl
			expand(y[j], g0)
			s := int(c) << lvl
			d := Dp[j*N : (j+1)*N]
			for i := range tmp {
				tmp[i] = v[(i-s)&mask] + g0[i] + c*d[i]
			}
			copy(v, tmp)
		}
		r[rlo+e] = rr
	}
	return nil
}
