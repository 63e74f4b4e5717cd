package he

import (
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"runtime"
	"sync"

	"github.com/privinfer/mpcache/mpc/prg"
	"github.com/tuneinsight/lattigo/v6/ring"
)

// Ciphertext is an encrypted block of R in the NTT domain (c0, c1) at the full modulus.
type Ciphertext struct{ c0, c1 ring.Poly }

// setDelta sets coefficient pos of a (coefficient domain, full modulus) to Δ(v) = round(Q·v/2^64).
func (p *Params) setDelta(a ring.Poly, pos int, v uint64) {
	hi, lo := bits.Mul64(p.ql, v)
	r := hi + lo>>63 // round(ql·v/2^64) < 2^64
	for i, s := range p.rq.SubRings {
		q, brc := s.Modulus, s.BRedConstant
		a.Coeffs[i][pos] = ring.CRed(ring.BRed(p.qhMod[i], ring.BRedAdd(v, q, brc), q, brc)+ring.BRedAdd(r, q, brc), q)
	}
}

// setSigned sets coefficient pos of a to the centred value of v (an element of Z_2^64 read as
// int64).
func (p *Params) setSigned(a ring.Poly, pos int, v uint64) {
	neg := int64(v) < 0
	m := v
	if neg {
		m = -v
	}
	for i, s := range p.rq.SubRings {
		r := ring.BRedAdd(m, s.Modulus, s.BRedConstant)
		if neg && r != 0 {
			r = s.Modulus - r
		}
		a.Coeffs[i][pos] = r
	}
}

// EncryptRight encrypts R (pl.K×pl.N, row-major) under sk, block by block: pl.Uploads()
// ciphertexts of CiphertextSize bytes each, block (kb, nb) at index kb·Nb + nb. Randomness
// from crypto/rand.
func (p *Params) EncryptRight(sk *SecretKey, R []uint64, pl Plan) ([]byte, error) {
	if err := p.Check(pl); err != nil {
		return nil, err
	}
	if len(R) != pl.K*pl.N {
		return nil, fmt.Errorf("he: encrypt: %d values for %d×%d", len(R), pl.K, pl.N)
	}
	out := make([]byte, p.UploadBytes(pl))
	cs := p.CiphertextSize()
	err := parallel(pl.Uploads(), func(lo, hi int) error {
		g, err := newPRG()
		if err != nil {
			return err
		}
		es := ring.NewGaussianSampler(g, p.rq, p.xe, false)
		m := p.rq.NewPoly()
		for i := lo; i < hi; i++ {
			kb, nb := i/pl.Nb(), i%pl.Nb()
			m.Zero()
			for j := 0; j < pl.Kw && kb*pl.Kw+j < pl.K; j++ {
				row := R[(kb*pl.Kw+j)*pl.N:]
				for l := 0; l < pl.Nw && nb*pl.Nw+l < pl.N; l++ {
					p.setDelta(m, l*pl.Kw+j, row[nb*pl.Nw+l])
				}
			}
			es.ReadAndAdd(m)
			p.rq.NTT(m, m)
			var seed prg.Seed
			g.Read(seed[:])
			a := p.uniform(seed)
			p.rq.MulCoeffsMontgomeryThenSub(sk.s, a, m)
			b := append(out[i*cs:i*cs], seed[:]...)
			p.appendPoly(b, m)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ParseCiphertext decodes one encrypted block (CiphertextSize bytes); malformed input is an
// error.
func (p *Params) ParseCiphertext(b []byte) (Ciphertext, error) {
	if len(b) != p.CiphertextSize() {
		return Ciphertext{}, fmt.Errorf("he: ciphertext of %d bytes, want %d", len(b), p.CiphertextSize())
	}
	var seed prg.Seed
	copy(seed[:], b)
	ct := Ciphertext{c0: p.rq.NewPoly()}
	if err := p.readPoly(ct.c0, b[16:]); err != nil {
		return Ciphertext{}, fmt.Errorf("he: ciphertext: %w", err)
	}
	ct.c1 = p.uniform(seed)
	return ct, nil
}

// Evaluate computes, for L (pl.M×pl.K, row-major, this party's plaintext) and the peer's
// encrypted R (pl.Uploads() blocks of CiphertextSize bytes in enc), the responses that decrypt
// to L·R + S for a fresh uniform S, and returns them with this party's share −S of L·R
// (pl.M×pl.N). The responses are flooded, re-randomised with the peer's public key pk and
// switched to the response modulus (see the package comment), ordered by block column and then
// by block row. Work is spread over GOMAXPROCS goroutines. Randomness from crypto/rand.
func (p *Params) Evaluate(pk *PublicKey, enc []byte, L []uint64, pl Plan) (resp []byte, share []uint64, err error) {
	if err := p.Check(pl); err != nil {
		return nil, nil, err
	}
	if len(L) != pl.M*pl.K {
		return nil, nil, fmt.Errorf("he: evaluate: %d values for %d×%d", len(L), pl.M, pl.K)
	}
	if len(enc) != p.UploadBytes(pl) {
		return nil, nil, fmt.Errorf("he: evaluate: %d bytes of ciphertexts, want %d", len(enc), p.UploadBytes(pl))
	}
	fm := newFlood(p, p.floodLog(pl.Terms()))
	cs := p.CiphertextSize()
	share = make([]uint64, pl.M*pl.N)
	// Responses go column by column of blocks (nb outer, mb inner); offsets by prefix sums.
	offs := make([]int, pl.Responses()+1)
	for nb, i := 0, 0; nb < pl.Nb(); nb++ {
		for mb := 0; mb < pl.Mb(); mb++ {
			offs[i+1] = offs[i] + p.responseSize(pl, mb, nb)
			i++
		}
	}
	resp = make([]byte, offs[len(offs)-1])
	// Every plaintext NTT and every ciphertext parse is done once when either all plaintext
	// blocks (column-major order) or all ciphertexts (row-major order) fit in keepBytes;
	// otherwise plaintexts are recomputed per column.
	ptBytes, ctBytes := pl.Mb()*pl.Kb()*p.polyMem(), 2*pl.Uploads()*p.polyMem()
	switch {
	case pl.Nb() > 1 && ptBytes > keepBytes && ctBytes <= keepBytes:
		cts := make([]Ciphertext, pl.Uploads())
		err = parallel(len(cts), func(lo, hi int) error {
			for i := lo; i < hi; i++ {
				var err error
				if cts[i], err = p.ParseCiphertext(enc[i*cs : (i+1)*cs]); err != nil {
					return fmt.Errorf("he: block %d: %w", i, err)
				}
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		err = parallel(pl.Mb(), func(lo, hi int) error {
			w, err := p.newWorker(pl)
			if err != nil {
				return err
			}
			for mb := lo; mb < hi; mb++ {
				p.plaintexts(w.pts, L, pl, mb)
				for nb := 0; nb < pl.Nb(); nb++ {
					w.respond(pk, pl, fm, mb, nb, w.pts, func(kb int) Ciphertext { return cts[kb*pl.Nb()+nb] }, share, resp, offs)
				}
			}
			return nil
		})
	default:
		var kept [][]ring.Poly
		if pl.Nb() > 1 && ptBytes <= keepBytes {
			kept = make([][]ring.Poly, pl.Mb())
			parallel(pl.Mb(), func(lo, hi int) error {
				for mb := lo; mb < hi; mb++ {
					kept[mb] = make([]ring.Poly, pl.Kb())
					p.plaintexts(kept[mb], L, pl, mb)
				}
				return nil
			})
		}
		err = parallel(pl.Nb(), func(lo, hi int) error {
			w, err := p.newWorker(pl)
			if err != nil {
				return err
			}
			col := make([]Ciphertext, pl.Kb())
			for nb := lo; nb < hi; nb++ {
				for kb := range col {
					i := kb*pl.Nb() + nb
					if col[kb], err = p.ParseCiphertext(enc[i*cs : (i+1)*cs]); err != nil {
						return fmt.Errorf("he: block %d: %w", i, err)
					}
				}
				for mb := 0; mb < pl.Mb(); mb++ {
					pts := w.pts
					if kept != nil {
						pts = kept[mb]
					} else {
						p.plaintexts(pts, L, pl, mb)
					}
					w.respond(pk, pl, fm, mb, nb, pts, func(kb int) Ciphertext { return col[kb] }, share, resp, offs)
				}
			}
			return nil
		})
	}
	if err != nil {
		return nil, nil, err
	}
	return resp, share, nil
}

// worker holds one goroutine's samplers and buffers for Evaluate.
type worker struct {
	p      *Params
	g      *prg.PRG
	ts, es ring.Sampler
	u, buf ring.Poly
	acc    [2]ring.Poly
	pts    []ring.Poly
}

func (p *Params) newWorker(pl Plan) (*worker, error) {
	g, err := newPRG()
	if err != nil {
		return nil, err
	}
	ts, err := ring.NewTernarySampler(g, p.rq, p.xs, false)
	if err != nil {
		return nil, fmt.Errorf("he: %w", err)
	}
	return &worker{p: p, g: g, ts: ts, es: ring.NewGaussianSampler(g, p.rq, p.xe, false),
		u: p.rq.NewPoly(), buf: p.rq.NewPoly(), acc: [2]ring.Poly{p.rq.NewPoly(), p.rq.NewPoly()},
		pts: make([]ring.Poly, pl.Kb())}, nil
}

// respond computes the response of output block (mb, nb) from the plaintext blocks of row
// band mb and the ciphertexts of column nb, writes it at its offset in resp and this party's
// share −S into share.
func (w *worker) respond(pk *PublicKey, pl Plan, fm *flood, mb, nb int, pts []ring.Poly, ct func(kb int) Ciphertext, share []uint64, resp []byte, offs []int) {
	p, acc := w.p, w.acc
	acc[0].Zero()
	acc[1].Zero()
	for kb, pt := range pts {
		c := ct(kb)
		p.rq.MulCoeffsMontgomeryThenAdd(pt, c.c0, acc[0])
		p.rq.MulCoeffsMontgomeryThenAdd(pt, c.c1, acc[1])
	}
	// Re-randomise with a public-key encryption of zero: (u·b + e0, u·a + e1).
	w.ts.Read(w.u)
	p.rq.NTT(w.u, w.u)
	p.rq.MForm(w.u, w.u)
	p.rq.MulCoeffsMontgomeryThenAdd(w.u, pk.b, acc[0])
	p.rq.MulCoeffsMontgomeryThenAdd(w.u, pk.a, acc[1])
	p.rq.INTT(acc[0], acc[0])
	p.rq.INTT(acc[1], acc[1])
	w.es.ReadAndAdd(acc[0])
	w.es.ReadAndAdd(acc[1])
	// Mask and flood the useful coefficients.
	rows, cols := pl.blockDims(mb, nb)
	for i := 0; i < rows; i++ {
		for l := 0; l < cols; l++ {
			pos := i*pl.Kw*pl.Nw + l*pl.Kw + pl.Kw - 1
			s := w.g.Uint64()
			share[(mb*pl.Mw+i)*pl.N+nb*pl.Nw+l] = -s
			p.addDeltaFlood(acc[0], pos, s, fm, w.g)
		}
	}
	if noSwitchForTest != nil {
		noSwitchForTest(mb, nb, acc[0], acc[1])
	}
	// Switch down to q' = q0·q1 and encode c1 and the useful part of c0.
	drop := p.rq.Level() - 1
	p.rq.DivRoundByLastModulusMany(drop, acc[0], w.buf, acc[0])
	p.rq.DivRoundByLastModulusMany(drop, acc[1], w.buf, acc[1])
	ri := nb*pl.Mb() + mb
	out := resp[offs[ri]:offs[ri]:offs[ri+1]]
	for j := 0; j < p.n; j++ {
		out = p.appendCoefR(out, acc[1], j)
	}
	for i := 0; i < rows; i++ {
		for l := 0; l < cols; l++ {
			out = p.appendCoefR(out, acc[0], i*pl.Kw*pl.Nw+l*pl.Kw+pl.Kw-1)
		}
	}
}

// keepBytes bounds the plaintext blocks Evaluate keeps across columns.
var keepBytes = 512 << 20

// polyMem is the memory of one full-modulus polynomial.
func (p *Params) polyMem() int { return 8 * p.n * len(p.q) }

// plaintexts encodes row band mb of L into the NTT domain, Montgomery form, one polynomial per
// k-block (allocating them when empty).
func (p *Params) plaintexts(pts []ring.Poly, L []uint64, pl Plan, mb int) {
	for kb := range pts {
		if pts[kb].N() == 0 {
			pts[kb] = p.rq.NewPoly()
		}
		pt := pts[kb]
		pt.Zero()
		for i := 0; i < pl.Mw && mb*pl.Mw+i < pl.M; i++ {
			row := L[(mb*pl.Mw+i)*pl.K:]
			for j := 0; j < pl.Kw && kb*pl.Kw+j < pl.K; j++ {
				p.setSigned(pt, i*pl.Kw*pl.Nw+pl.Kw-1-j, row[kb*pl.Kw+j])
			}
		}
		p.rq.NTT(pt, pt)
		p.rq.MForm(pt, pt)
	}
}

// noSwitchForTest, set by tests only, sees each response before the modulus switch.
var noSwitchForTest func(mb, nb int, c0, c1 ring.Poly)

// flood holds F = 2^fl modulo each prime.
type flood struct {
	fl    int
	fMod  []uint64
	words int
}

func newFlood(p *Params, fl int) *flood {
	f := &flood{fl: fl, words: (fl + 1 + 63) / 64}
	F := new(big.Int).Lsh(big.NewInt(1), uint(fl))
	for _, q := range p.q {
		f.fMod = append(f.fMod, new(big.Int).Mod(F, new(big.Int).SetUint64(q)).Uint64())
	}
	return f
}

// addDeltaFlood adds Δ(s) + f to coefficient pos of a (coefficient domain, full modulus), with
// f uniform in [−F, F): f = w − F for w uniform in [0, 2F).
func (p *Params) addDeltaFlood(a ring.Poly, pos int, s uint64, f *flood, g *prg.PRG) {
	var w [3]uint64
	for i := 0; i < f.words; i++ {
		w[i] = g.Uint64()
	}
	top := (f.fl + 1) % 64
	if top != 0 {
		w[f.words-1] &= 1<<top - 1
	}
	hi, lo := bits.Mul64(p.ql, s)
	r := hi + lo>>63
	for i, sr := range p.rq.SubRings {
		q, brc := sr.Modulus, sr.BRedConstant
		v := a.Coeffs[i][pos]
		v = ring.CRed(v+ring.BRed(p.qhMod[i], ring.BRedAdd(s, q, brc), q, brc), q)
		v = ring.CRed(v+ring.BRedAdd(r, q, brc), q)
		fw := ring.BRedAdd(w[0], q, brc)
		fw = ring.CRed(fw+ring.BRed(ring.BRedAdd(w[1], q, brc), p.pow64[i], q, brc), q)
		fw = ring.CRed(fw+ring.BRed(ring.BRedAdd(w[2], q, brc), p.pow128[i], q, brc), q)
		fw = ring.CRed(fw+q-f.fMod[i], q)
		a.Coeffs[i][pos] = ring.CRed(v+fw, q)
	}
}

// Decrypt decodes the responses to this party's encrypted R and returns L·R + S (pl.M×pl.N),
// S being the evaluator's mask. Malformed responses are an error.
func (p *Params) Decrypt(sk *SecretKey, resp []byte, pl Plan) ([]uint64, error) {
	if err := p.Check(pl); err != nil {
		return nil, err
	}
	if len(resp) != p.ResponseBytes(pl) {
		return nil, fmt.Errorf("he: responses of %d bytes, want %d", len(resp), p.ResponseBytes(pl))
	}
	out := make([]uint64, pl.M*pl.N)
	offs := make([]int, pl.Responses()+1)
	for nb, i := 0, 0; nb < pl.Nb(); nb++ {
		for mb := 0; mb < pl.Mb(); mb++ {
			offs[i+1] = offs[i] + p.responseSize(pl, mb, nb)
			i++
		}
	}
	err := parallel(pl.Responses(), func(lo, hi int) error {
		for ri := lo; ri < hi; ri++ {
			if err := p.decryptOne(sk, resp[offs[ri]:offs[ri+1]], pl, ri/pl.Mb(), ri%pl.Mb(), out); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// decryptOne decodes the response of block (mb, nb) into out.
func (p *Params) decryptOne(sk *SecretKey, resp []byte, pl Plan, nb, mb int, out []uint64) error {
	c1 := p.rr.NewPoly()
	cb := p.coefBytesR()
	qr := p.qr
	half := new(big.Int).Rsh(qr, 1)
	v, t := new(big.Int), new(big.Int)
	q0, q1, brc1 := p.q[0], p.q[1], p.rr.SubRings[1].BRedConstant
	off := 0
	for j := 0; j < p.n; j++ {
		c, err := p.readCoefR(resp[off:])
		if err != nil {
			return fmt.Errorf("he: response (%d,%d) c1[%d]: %w", mb, nb, j, err)
		}
		c1.Coeffs[0][j], c1.Coeffs[1][j] = c[0], c[1]
		off += cb
	}
	p.rr.NTT(c1, c1)
	p.rr.MulCoeffsMontgomery(sk.sr, c1, c1)
	p.rr.INTT(c1, c1)
	rows, cols := pl.blockDims(mb, nb)
	for i := 0; i < rows; i++ {
		for l := 0; l < cols; l++ {
			c, err := p.readCoefR(resp[off:])
			if err != nil {
				return fmt.Errorf("he: response (%d,%d) c0: %w", mb, nb, err)
			}
			off += cb
			pos := i*pl.Kw*pl.Nw + l*pl.Kw + pl.Kw - 1
			v0 := ring.CRed(c[0]+c1.Coeffs[0][pos], q0)
			v1 := ring.CRed(c[1]+c1.Coeffs[1][pos], q1)
			// CRT: v = v0 + q0·((v1 − v0)·q0^−1 mod q1) ∈ [0, q').
			k := ring.BRed(ring.CRed(v1+q1-ring.BRedAdd(v0, q1, brc1), q1), p.q0InvQ1, q1, brc1)
			hi, lo := bits.Mul64(q0, k)
			lo, carry := bits.Add64(lo, v0, 0)
			hi += carry
			// round(2^64·v/q') mod 2^64
			v.SetUint64(hi)
			v.Lsh(v, 64)
			v.Or(v, t.SetUint64(lo))
			v.Lsh(v, 64)
			v.Add(v, half)
			v.Quo(v, qr)
			out[(mb*pl.Mw+i)*pl.N+nb*pl.Nw+l] = v.Uint64() // v ≤ 2^64: 2^64 wraps to 0
		}
	}
	return nil
}

// parallel runs f over [0, n) in contiguous ranges on up to GOMAXPROCS goroutines and returns
// the first error.
func parallel(n int, f func(lo, hi int) error) error {
	w := min(runtime.GOMAXPROCS(0), n)
	if w <= 1 {
		return f(0, n)
	}
	per := (n + w - 1) / w
	errs := make([]error, w)
	var wg sync.WaitGroup
	for i, lo := 0, 0; lo < n; i, lo = i+1, lo+per {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(lo, min(n, lo+per))
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
