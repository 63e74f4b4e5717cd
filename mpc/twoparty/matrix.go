package twoparty

import (
	"bytes"
	"fmt"

	"github.com/privinfer/mpcache/mpc/he"
	"github.com/privinfer/mpcache/mpc/ring"
)

// heState holds the RLWE parameters and keys, made at the first matrix triple.
type heState struct {
	p        *he.Params
	sk       *he.SecretKey
	pk, peer *he.PublicKey
}

// heInit makes this party's RLWE keys and exchanges the public keys (one flow each way of
// 16 + 28·N bytes).
func (g *Generator) heInit() error {
	if g.he != nil {
		return nil
	}
	p, err := he.NewParams(g.o.HE)
	if err != nil {
		return err
	}
	sk, pk, err := p.KeyGen()
	if err != nil {
		return err
	}
	in, err := g.exchange(p.MarshalPublicKey(pk), p.PublicKeySize())
	if err != nil {
		return err
	}
	peer, err := p.UnmarshalPublicKey(in)
	if err != nil {
		return err
	}
	g.he = &heState{p: p, sk: sk, pk: pk, peer: peer}
	return nil
}

// HEParams returns the RLWE parameters (nil before the first matrix triple).
func (g *Generator) HEParams() *he.Params {
	if g.he == nil {
		return nil
	}
	return g.he.p
}

// layout is how the cross terms of one matrix shape are computed: which operand is encrypted
// (R = B, or R = Aᵀ in the transposed product Cᵀ = Bᵀ·Aᵀ when left), whether its encryption is
// cached (it must be a fixed mask), and the plan of each chunk of the inner dimension.
type layout struct {
	left, cached bool
	ks           [][2]int // inner-dimension chunks [lo, hi)
	plans        []he.Plan
}

// chooseLayout picks the cheapest layout by he.Params.Estimate; a cached layout counts only the
// per-product work (its upload is paid once per session) and may not cache more than twice the
// dense encryption of the operand.
func (g *Generator) chooseLayout(m, k, n int, fixedA, fixedB bool) (layout, error) {
	p := g.he.p
	maxK := p.MaxK()
	if g.maxK > 0 {
		maxK = g.maxK
	}
	nc := (k + maxK - 1) / maxK
	var ks [][2]int
	for i := 0; i < nc; i++ {
		ks = append(ks, [2]int{i * k / nc, (i + 1) * k / nc})
	}
	best, bestCost := layout{}, -1.0
	for _, left := range []bool{false, true} {
		for _, cached := range []bool{false, true} {
			if cached && (left && !fixedA || !left && !fixedB) {
				continue
			}
			l := layout{left: left, cached: cached, ks: ks}
			cost := 0.0
			ok := true
			for _, kr := range ks {
				kc := kr[1] - kr[0]
				pm, pn := m, n
				if left {
					pm, pn = n, m
				}
				maxCache := 0
				if cached {
					maxCache = 2*p.CiphertextSize()*((kc*pn+p.N()-1)/p.N()) + p.CiphertextSize()
				}
				pl, err := p.Choose(pm, kc, pn, !cached, maxCache)
				if err != nil {
					ok = false
					break
				}
				l.plans = append(l.plans, pl)
				cost += p.Estimate(pl, !cached)
			}
			if ok && (bestCost < 0 || cost <= bestCost) {
				best, bestCost = l, cost
			}
		}
	}
	if bestCost < 0 {
		return layout{}, fmt.Errorf("no plan for %d×%d·%d×%d", m, k, k, n)
	}
	return best, nil
}

// product is one cross-term product: this party's plaintext L and encrypted R.
type product struct {
	pl      he.Plan
	L, R    []uint64
	batch   int
	left    bool
	entry   *maskEntry // cached encryption (nil: uploaded with this call)
	upload  bool       // this call carries the encryptions
	peerEnc []byte
}

// MatrixTriple returns shares of A (batch×m×k), B (batch×k×n) and C = A·B per batch; a non-nil
// maskA or maskB (this party's share of a fixed mask from Mask) replaces a fresh A or B and is
// not returned. The local products A_p·B_p are plain; each cross term A_p·B_{1−p} comes from
// package he: the holder of the encrypted operand sends it under its RLWE key and the other
// party returns the flooded, masked product. A fixed operand is encrypted once per session
// and cached by the peer (see Options.CacheBytes), so later triples with it cost only the
// returned products.
//
// Cost: 1 flow of uploads (skipped when every encrypted operand is cached) and 1 flow of
// responses per call; bytes and time per shape in docs/DEALERFREE.md (about 0.25 MB each way
// for 1×768·768×768 with a cached 768×768 mask).
func (g *Generator) MatrixTriple(batch, m, k, n int, maskA, maskB []uint64) (a, b, c []uint64, err error) {
	defer g.track("matmul", batch)()
	if batch < 0 || m < 0 || k < 0 || n < 0 {
		return nil, nil, nil, fmt.Errorf("twoparty: matrix triple of shape %d×%d×%d×%d", batch, m, k, n)
	}
	if maskA != nil && len(maskA) != batch*m*k || maskB != nil && len(maskB) != batch*k*n {
		return nil, nil, nil, fmt.Errorf("twoparty: matrix triple: mask of the wrong size")
	}
	A, B := maskA, maskB
	if A == nil {
		a = g.words(batch * m * k)
		A = a
	}
	if B == nil {
		b = g.words(batch * k * n)
		B = b
	}
	c = make([]uint64, batch*m*n)
	if batch*m*n == 0 {
		return a, b, c, nil
	}
	for i := 0; i < batch; i++ {
		ring.MatMul(c[i*m*n:(i+1)*m*n], A[i*m*k:(i+1)*m*k], B[i*k*n:(i+1)*k*n], m, k, n)
	}
	if k == 0 {
		return a, b, c, nil
	}
	if err := g.heInit(); err != nil {
		return nil, nil, nil, fmt.Errorf("twoparty: matrix triple: %w", err)
	}
	lay, err := g.chooseLayout(m, k, n, maskA != nil, maskB != nil)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("twoparty: matrix triple: %w", err)
	}
	if err := g.crossTerms(lay, batch, m, k, n, A, B, c); err != nil {
		return nil, nil, nil, fmt.Errorf("twoparty: matrix triple %d×%d·%d×%d: %w", m, k, k, n, err)
	}
	return a, b, c, nil
}

// crossTerms adds this party's shares of A_p·B_{1−p} and A_{1−p}·B_p into c.
func (g *Generator) crossTerms(lay layout, batch, m, k, n int, A, B, c []uint64) error {
	p := g.he.p
	var prods []*product
	var status, up []byte
	for bi := 0; bi < batch; bi++ {
		Ab, Bb := A[bi*m*k:(bi+1)*m*k], B[bi*k*n:(bi+1)*k*n]
		for ci, kr := range lay.ks {
			pr := &product{pl: lay.plans[ci], batch: bi, left: lay.left}
			pr.L, pr.R = operands(Ab, Bb, m, k, n, kr, lay.left)
			st := byte(1) // uploaded
			if lay.cached {
				pl := pr.pl
				key := g.cache.key(pr.R, lay.left, pl.M, pl.K, pl.N, pl.Mw, pl.Kw, pl.Nw)
				e, hit := g.cache.get(key, int64(p.UploadBytes(pl)))
				pr.entry = e
				if hit {
					st = 0
				}
			}
			pr.upload = st == 1
			if pr.upload {
				enc, err := p.EncryptRight(g.he.sk, pr.R, pr.pl)
				if err != nil {
					return err
				}
				up = append(up, enc...)
			}
			status = append(status, st)
			prods = append(prods, pr)
		}
	}
	// Flow 1: status bytes and the encryptions (skipped when all are cached on both sides).
	if len(up) > 0 {
		in, err := g.exchange(append(status, up...), len(status)+len(up))
		if err != nil {
			return err
		}
		if !bytes.Equal(in[:len(status)], status) {
			return fmt.Errorf("the parties' caches of encrypted masks disagree")
		}
		in = in[len(status):]
		for _, pr := range prods {
			if !pr.upload {
				continue
			}
			sz := p.UploadBytes(pr.pl)
			pr.peerEnc = in[:sz:sz]
			in = in[sz:]
			if pr.entry != nil {
				pr.entry.data = bytes.Clone(pr.peerEnc)
			}
		}
	}
	// Evaluate this party's L against the peer's encryptions.
	var resp []byte
	shares := make([][]uint64, len(prods))
	for i, pr := range prods {
		enc := pr.peerEnc
		if enc == nil && pr.entry != nil {
			enc = pr.entry.data
		}
		if enc == nil {
			return fmt.Errorf("encrypted mask missing from the cache")
		}
		r, s, err := p.Evaluate(g.he.peer, enc, pr.L, pr.pl)
		if err != nil {
			return err
		}
		resp = append(resp, r...)
		shares[i] = s
	}
	// Flow 2: status bytes and responses; decrypt the peer's.
	in, err := g.exchange(append(status, resp...), len(status)+len(resp))
	if err != nil {
		return err
	}
	if !bytes.Equal(in[:len(status)], status) {
		return fmt.Errorf("the parties' caches of encrypted masks disagree")
	}
	in = in[len(status):]
	for i, pr := range prods {
		sz := p.ResponseBytes(pr.pl)
		dec, err := p.Decrypt(g.he.sk, in[:sz], pr.pl)
		if err != nil {
			return err
		}
		in = in[sz:]
		cb := c[pr.batch*m*n : (pr.batch+1)*m*n]
		for j, s := range shares[i] {
			v := s + dec[j]
			if pr.left { // (n×m)ᵀ
				cb[(j%m)*n+j/m] += v
			} else {
				cb[j] += v
			}
		}
	}
	return nil
}

// operands returns this party's plaintext L and encrypted R for the inner-dimension chunk kr:
// right: L = A[:, kr] (m×kc), R = B[kr, :] (kc×n); left: L = B[kr, :]ᵀ (n×kc), R = A[:, kr]ᵀ
// (kc×m).
func operands(A, B []uint64, m, k, n int, kr [2]int, left bool) (L, R []uint64) {
	lo, kc := kr[0], kr[1]-kr[0]
	if !left {
		L = make([]uint64, m*kc)
		for i := 0; i < m; i++ {
			copy(L[i*kc:(i+1)*kc], A[i*k+lo:i*k+lo+kc])
		}
		return L, B[lo*n : (lo+kc)*n]
	}
	L, R = make([]uint64, n*kc), make([]uint64, kc*m)
	for j := 0; j < kc; j++ {
		for l := 0; l < n; l++ {
			L[l*kc+j] = B[(lo+j)*n+l]
		}
		for i := 0; i < m; i++ {
			R[j*m+i] = A[i*k+lo+j]
		}
	}
	return L, R
}
