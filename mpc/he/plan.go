package he

import (
	"fmt"
	"math"
)

// Plan cuts the product C (M×N) = L (M×K) · R (K×N) into blocks of Mw×Kw (of L) and Kw×Nw (of
// R), with Mw·Kw·Nw ≤ N (the ring degree). R is the encrypted operand.
type Plan struct {
	M, K, N    int
	Mw, Kw, Nw int
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// Mb, Kb and Nb are the block counts along each dimension.
func (pl Plan) Mb() int { return ceilDiv(pl.M, pl.Mw) }
func (pl Plan) Kb() int { return ceilDiv(pl.K, pl.Kw) }
func (pl Plan) Nb() int { return ceilDiv(pl.N, pl.Nw) }

// Terms is the number of plaintext coefficients summed into one output: Kb·Mw·Kw.
func (pl Plan) Terms() int { return pl.Kb() * pl.Mw * pl.Kw }

// Uploads is the number of encrypted blocks of R; Responses the number of returned ciphertexts.
func (pl Plan) Uploads() int   { return pl.Kb() * pl.Nb() }
func (pl Plan) Responses() int { return pl.Mb() * pl.Nb() }

// Check validates pl against p.
func (p *Params) Check(pl Plan) error {
	switch {
	case pl.M <= 0 || pl.K <= 0 || pl.N <= 0:
		return fmt.Errorf("he: product %d×%d·%d×%d is empty", pl.M, pl.K, pl.K, pl.N)
	case pl.Mw <= 0 || pl.Kw <= 0 || pl.Nw <= 0 || pl.Mw > pl.M || pl.Kw > pl.K || pl.Nw > pl.N:
		return fmt.Errorf("he: block %d×%d×%d does not fit %d×%d×%d", pl.Mw, pl.Kw, pl.Nw, pl.M, pl.K, pl.N)
	case pl.Mw*pl.Kw*pl.Nw > p.n:
		return fmt.Errorf("he: block %d×%d×%d exceeds N = %d", pl.Mw, pl.Kw, pl.Nw, p.n)
	case pl.Terms() > p.maxTerms:
		return fmt.Errorf("he: %d terms per output exceed the noise budget (%d)", pl.Terms(), p.maxTerms)
	}
	return nil
}

// CiphertextSize is the encoded size of one encrypted block: a seed and c0.
func (p *Params) CiphertextSize() int { return 16 + p.polyBytes() }

// UploadBytes is the size of the encrypted R.
func (p *Params) UploadBytes(pl Plan) int { return pl.Uploads() * p.CiphertextSize() }

// blockDims returns the valid rows and columns of output block (mb, nb).
func (pl Plan) blockDims(mb, nb int) (rows, cols int) {
	return min(pl.Mw, pl.M-mb*pl.Mw), min(pl.Nw, pl.N-nb*pl.Nw)
}

// responseSize is the encoded size of the response of output block (mb, nb): c1 and the
// useful coefficients of c0, at the response modulus.
func (p *Params) responseSize(pl Plan, mb, nb int) int {
	r, c := pl.blockDims(mb, nb)
	return p.coefBytesR() * (p.n + r*c)
}

// ResponseBytes is the size of all responses of pl.
func (p *Params) ResponseBytes(pl Plan) int {
	n := 0
	for mb := 0; mb < pl.Mb(); mb++ {
		for nb := 0; nb < pl.Nb(); nb++ {
			n += p.responseSize(pl, mb, nb)
		}
	}
	return n
}

// Estimate is the estimated cost of one product under pl, in nanoseconds (Options.Cost): the
// evaluator's and the key owner's computation and the bytes of one direction. upload says
// whether R is encrypted and sent for this product (false: R's encryption is cached).
func (p *Params) Estimate(pl Plan, upload bool) float64 {
	c, L, n := p.cost, float64(len(p.q)), float64(p.n)
	up, resp := float64(pl.Uploads()), float64(pl.Responses())
	t := float64(pl.Mb()*pl.Kb())*L*c.NTTNs + // plaintext NTTs
		float64(pl.Mb()*pl.Kb()*pl.Nb())*2*L*n*c.MulNs + // products
		up*L*n*c.MulNs + // parsing (a from its seed)
		resp*(3*L*c.NTTNs+8*L*n*c.MulNs) + // re-randomise, INTT, switch, sample
		resp*(4*c.NTTNs) + float64(pl.M*pl.N)*150 + // decryption
		float64(p.ResponseBytes(pl))*c.NsPerByte
	if upload {
		t += up*(2*L*c.NTTNs+4*L*n*c.MulNs) + float64(p.UploadBytes(pl))*c.NsPerByte
	}
	return t
}

// blockCandidates returns the balanced block sizes ⌈d/j⌉ (j = 1..d) that are at most cap.
func blockCandidates(d, cap int) []int {
	var out []int
	for j := 1; j <= d; {
		w := ceilDiv(d, j)
		if w <= cap {
			out = append(out, w)
		}
		// next j giving a smaller ⌈d/j⌉
		if w == 1 {
			break
		}
		j = ceilDiv(d, w-1)
	}
	return out
}

// Choose returns the plan of least Estimate for C (m×n) = L (m×k)·R (k×n). maxCache, when
// positive, bounds the encoded size of R's encryption (for plans whose encryption is cached).
// It fails when k alone exceeds the noise budget (see MaxK).
func (p *Params) Choose(m, k, n int, upload bool, maxCache int) (Plan, error) {
	best, bestCost := Plan{}, math.Inf(1)
	for _, kw := range blockCandidates(k, p.n) {
		for _, mw := range blockCandidates(m, p.n/kw) {
			nwMax := min(n, p.n/(mw*kw))
			if nwMax == 0 {
				continue
			}
			pl := Plan{M: m, K: k, N: n, Mw: mw, Kw: kw, Nw: ceilDiv(n, ceilDiv(n, nwMax))}
			if pl.Terms() > p.maxTerms || maxCache > 0 && p.UploadBytes(pl) > maxCache {
				continue
			}
			if c := p.Estimate(pl, upload); c < bestCost {
				best, bestCost = pl, c
			}
		}
	}
	if math.IsInf(bestCost, 1) {
		return Plan{}, fmt.Errorf("he: no plan for %d×%d·%d×%d within the noise budget", m, k, k, n)
	}
	return best, nil
}
