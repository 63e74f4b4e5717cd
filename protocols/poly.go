package protocols

//go:generate go run ./internal/fit -o tables.go

import (
	"fmt"
	"math"

	"github.com/privinfer/mpcache/mpc"
)

// polyTable is a piecewise polynomial fitted by internal/fit: segment 0 is (−∞, cuts[0]),
// segment j is [cuts[j−1], cuts[j]) and the last is [cuts[len−1], ∞); on segment j the value
// is Σ_k coefs[j][k]·(x − centres[j])^k.
type polyTable struct {
	cuts    []float64
	centres []float64
	coefs   [][]float64
}

// linearTable holds linear pieces g(x) ≈ p[i] − q[i]·x on [cuts[i], cuts[i+1]).
type linearTable struct {
	cuts []float64
	p, q []float64
}

// column is one public per-segment value, as ring elements (each already in its own
// encoding: fixed point of some scale, or a plain integer).
type column []uint64

// segmentValues locates every element of x among the ascending public thresholds thr (ring
// values at x's scale, see threshold) and returns, for each column, the share of that
// column's entry for the element's segment: segment 0 lies below thr[0], segment j in
// [thr[j−1], thr[j]). All comparisons go into one LessThan; the rest is local. With
// s_j = [x ≥ thr_j], the value is col[0] + Σ_j s_j·(col[j+1] − col[j]), which is
// col[m] − Σ_j [x < thr_j]·(col[j+1] − col[j]): one public matrix product over the bits.
//
// Cost: one LessThan of x against the m thresholds (by FSS one opened word and one key per
// element, whatever m; in 3pc the min(m, len(cols)) values per element are reshared).
func segmentValues(e mpc.Engine, x *mpc.Share, thr []uint64, cols []column) ([]*mpc.Share, error) {
	n, m, k := x.Len(), len(thr), len(cols)
	out := make([]*mpc.Share, k)
	if m == 0 {
		for c, col := range cols {
			z, err := zeroLike(e, x)
			if err != nil {
				return nil, err
			}
			if out[c], err = e.AddPublic(z, mpc.Scalar(col[0])); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	// The map −(col[j+1] − col[j]) from the bits to the columns goes into LessThan where it
	// has fewer columns than thresholds (in 3pc the engine then reshares k values, not m bits);
	// otherwise it is applied to the bits here. Either is the same local product.
	neg := mpc.NewTensor(m, k)
	last := &mpc.Tensor{Shape: []int{1, k}, Data: make([]uint64, k)}
	for c, col := range cols {
		if len(col) != m+1 {
			return nil, fmt.Errorf("protocols: segment column of %d values for %d thresholds", len(col), m)
		}
		for j := 0; j < m; j++ {
			neg.Data[j*k+c] = col[j] - col[j+1]
		}
		last.Data[c] = col[m]
	}
	var sum *mpc.Share
	var err error
	if k <= m {
		sum, err = e.LessThan(x, thr, neg)
	} else if sum, err = e.LessThan(x, thr, nil); err == nil {
		sum, err = e.MatMulPublic(sum, neg)
	}
	if err != nil {
		return nil, err
	}
	if sum, err = mpc.Reshape(sum, n, k); err != nil {
		return nil, err
	}
	vals, err := e.AddPublic(sum, last)
	if err != nil {
		return nil, err
	}
	for c := range cols {
		v, err := mpc.Take(vals, 1, []int{c})
		if err != nil {
			return nil, err
		}
		if out[c], err = mpc.Reshape(v, x.Shape...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// zeroLike returns a sharing of zero with x's shape.
func zeroLike(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
	return e.Sub(x, x)
}

// mulPairs multiplies xs[i]·ys[i] (same shapes) for every i in one engine call, so that all the
// products share its rounds: Mul, or MulTrunc (truncation by Frac) when trunc is set.
func mulPairs(e mpc.Engine, xs, ys []*mpc.Share, trunc bool) ([]*mpc.Share, error) {
	for i := range xs {
		if xs[i].Len() != ys[i].Len() {
			return nil, fmt.Errorf("protocols: product of shapes %v and %v", xs[i].Shape, ys[i].Shape)
		}
	}
	a, err := concatFlat(xs)
	if err != nil {
		return nil, err
	}
	b, err := concatFlat(ys)
	if err != nil {
		return nil, err
	}
	var z *mpc.Share
	if trunc {
		z, err = e.MulTrunc(a, b)
	} else {
		z, err = e.Mul(a, b)
	}
	if err != nil {
		return nil, err
	}
	return splitFlat(z, xs)
}

// concatFlat returns the shares ss flattened and concatenated into one vector, so that one
// engine call serves them all.
func concatFlat(ss []*mpc.Share) (*mpc.Share, error) {
	parts := make([]*mpc.Share, len(ss))
	for i, s := range ss {
		var err error
		if parts[i], err = mpc.Reshape(s, s.Len()); err != nil {
			return nil, err
		}
	}
	return mpc.Concat(0, parts...)
}

// splitFlat cuts the vector z back into shares of the shapes of like, in order (concatFlat's
// inverse).
func splitFlat(z *mpc.Share, like []*mpc.Share) ([]*mpc.Share, error) {
	out := make([]*mpc.Share, len(like))
	off := 0
	for i, x := range like {
		s, err := mpc.Slice(z, 0, off, off+x.Len())
		if err != nil {
			return nil, err
		}
		if out[i], err = mpc.Reshape(s, x.Shape...); err != nil {
			return nil, err
		}
		off += x.Len()
	}
	return out, nil
}

// polyEval evaluates Σ_k c[k]·u^k by Estrin's scheme: u at scale Frac, the coefficients (shares
// of one shape with u) at scale cf. Level l pairs the terms as t_{2i} + t_{2i+1}·u^(2^l) and
// squares the power, all of a level's products in one batch, so degree d takes
// ceil(log2(d+1)) levels. Every level but the last is one MulTrunc batch (2 rounds); the last
// computes t_0·2^Frac + t_1·w and truncates it by shift, giving the result at scale
// cf + Frac − shift, in 2 rounds: MulTrunc when shift is Frac, else in 2pc a Mul and a Trunc
// and in 3pc one inner product [t_1 t_0]·[w 2^Frac] by MatMulTruncBits (MulTrunc's cost).
// Every product is at most |term·power|·2^(cf+Frac), which the caller keeps below 2^62.
//
// Products per element: degree 2 takes 2, by Horner's rule (c_0 + u·(c_1 + c_2·u), the same
// two levels); for degree d ≥ 3, ceil(d/2) + 1 at the first level (the odd terms and u²), then
// about half as many at each next level; degree 3 takes 4 (3 + 1), degree 7 takes 9 (5 + 3 + 1).
func polyEval(e mpc.Engine, c []*mpc.Share, u *mpc.Share, shift uint) (*mpc.Share, error) {
	terms, w := c, u
	if len(terms) == 3 {
		// Degree 2 by Horner's rule, c_0 + u·(c_1 + c_2·u): two products in the two levels
		// that Estrin's scheme needs three for.
		p, err := e.MulTrunc(terms[2], u)
		if err != nil {
			return nil, err
		}
		if p, err = e.Add(terms[1], p); err != nil {
			return nil, err
		}
		terms = []*mpc.Share{terms[0], p}
	}
	for len(terms) > 2 {
		var xs, ys []*mpc.Share
		for i := 1; i < len(terms); i += 2 {
			xs, ys = append(xs, terms[i]), append(ys, w)
		}
		xs, ys = append(xs, w), append(ys, w)
		prods, err := mulPairs(e, xs, ys, true)
		if err != nil {
			return nil, err
		}
		next := make([]*mpc.Share, 0, (len(terms)+1)/2)
		for i := 0; i < len(terms); i += 2 {
			t := terms[i]
			if i+1 < len(terms) {
				if t, err = e.Add(t, prods[i/2]); err != nil {
					return nil, err
				}
			}
			next = append(next, t)
		}
		terms, w = next, prods[len(prods)-1]
	}
	if len(terms) == 1 {
		return nil, fmt.Errorf("protocols: polynomial of degree 0")
	}
	if shift == e.Frac() {
		p, err := e.MulTrunc(terms[1], w)
		if err != nil {
			return nil, err
		}
		return e.Add(terms[0], p)
	}
	t0, err := MulInt(e, terms[0], 1<<e.Frac())
	if err != nil {
		return nil, err
	}
	if e.Protocol() == mpc.ThreePC {
		return innerTrunc(e, terms[1], w, t0, shift)
	}
	p, err := e.Mul(terms[1], w)
	if err != nil {
		return nil, err
	}
	if p, err = e.Add(p, t0); err != nil {
		return nil, err
	}
	return e.Trunc(p, shift)
}

// innerTrunc returns (a·b + c) >> shift element-wise (a, b and c of one shape) as one batch of
// inner products [a c]·[b 1] by MatMulTruncBits.
func innerTrunc(e mpc.Engine, a, b, c *mpc.Share, shift uint) (*mpc.Share, error) {
	n := a.Len()
	a1, err := mpc.Reshape(a, n, 1, 1)
	if err != nil {
		return nil, err
	}
	c1, err := mpc.Reshape(c, n, 1, 1)
	if err != nil {
		return nil, err
	}
	b1, err := mpc.Reshape(b, n, 1, 1)
	if err != nil {
		return nil, err
	}
	one, err := constShare(e, filledTensor(1, n, 1, 1))
	if err != nil {
		return nil, err
	}
	x, err := mpc.Concat(2, a1, c1)
	if err != nil {
		return nil, err
	}
	y, err := mpc.Concat(1, b1, one)
	if err != nil {
		return nil, err
	}
	z, err := e.MatMulTruncBits(x, y, shift)
	if err != nil {
		return nil, err
	}
	return mpc.Reshape(z, a.Shape...)
}

// piecewisePoly evaluates the table at x (scale Frac) with coefficients at scale cf and the
// result at scale cf + Frac − shift: one LessThan over the cuts, u = x − centre, then polyEval.
// Where a segment's coefficients are all 0 the result is exactly 0, and where they are
// (c, 1, 0, …) with c the segment's centre it is exactly x: products with an exact 0 or with
// exactly 1.0 are multiples of 2^Frac, which the engine's truncation (by the known-MSB method)
// divides without error.
func piecewisePoly(e mpc.Engine, x *mpc.Share, t *polyTable, cf, shift uint) (*mpc.Share, error) {
	f := e.Frac()
	thr := make([]uint64, len(t.cuts))
	for j, c := range t.cuts {
		thr[j] = threshold(c, f)
	}
	deg := len(t.coefs[0]) - 1
	cols := make([]column, deg+2) // centre, then the coefficients
	for s := range t.centres {
		cols[0] = append(cols[0], mpc.Encode(t.centres[s], f))
		for k := 0; k <= deg; k++ {
			cols[k+1] = append(cols[k+1], mpc.Encode(t.coefs[s][k], cf))
		}
	}
	v, err := segmentValues(e, x, thr, cols)
	if err != nil {
		return nil, err
	}
	u, err := e.Sub(x, v[0])
	if err != nil {
		return nil, err
	}
	return polyEval(e, v[1:], u, shift)
}

// quadraticHeadroom is the extra fractional bits of quadraticOnFixed's coefficients of x and
// x²: the monomial form multiplies the x² coefficient's rounding by x² (up to 120 on SiLU's
// segments), which 6 more bits keep below 1.5e-5.
const quadraticHeadroom = 6

// quadraticOnFixed evaluates a table of quadratic pieces at x (scale Frac) in monomial form,
// d_0 + x·(d_1 + d_2·x) by Horner's rule, on x fixed once (Engine.Fix) where the engine reuses
// fixed operands (2pc with the dealer): the fix's opened x − M then serves the segment lookup
// (LessThan on a fixed value needs no round) and both products (only the coefficient operand
// is opened), so the whole evaluation opens three words per element. Each segment's d_k are its centred coefficients expanded about 0 (exact
// in float64 on these short segments), d_0 at scale Frac and d_1, d_2 at Frac +
// quadraticHeadroom. Segments of all-zero coefficients give exactly 0 and (0, 1, 0) exactly x,
// for |x| < 2^(62 − 2·Frac − quadraticHeadroom) (2^24 at 16 bits).
//
// Cost per element: 2pc 5 rounds (fix 1, the two truncated products 2 each), 40 bytes online
// (8 + 2·16), offline one DCF key and 2·24 bytes; 3pc (where Fix is free) a LessThan mapped to
// the 3 coefficients and two MulTrunc: 6 rounds, 64 bytes at P0 and P1, 48 at P2 (GeLU and
// SiLU run it on 3pc's two-party view instead, in 2pc's form).
func quadraticOnFixed(e mpc.Engine, x *mpc.Share, t *polyTable) (*mpc.Share, error) {
	f := e.Frac()
	cf := f + quadraticHeadroom
	thr := make([]uint64, len(t.cuts))
	for j, c := range t.cuts {
		thr[j] = threshold(c, f)
	}
	cols := make([]column, 3)
	for s, m := range t.centres {
		c := t.coefs[s]
		if len(c) != 3 {
			return nil, fmt.Errorf("protocols: quadratic table with a piece of degree %d", len(c)-1)
		}
		cols[0] = append(cols[0], mpc.Encode(c[0]-c[1]*m+c[2]*m*m, f))
		cols[1] = append(cols[1], mpc.Encode(c[1]-2*c[2]*m, cf))
		cols[2] = append(cols[2], mpc.Encode(c[2], cf))
	}
	xf := x
	if e.ReusesFixed() {
		fx, err := e.Fix(x)
		if err != nil {
			return nil, err
		}
		xf = fx[0]
	}
	d, err := segmentValues(e, xf, thr, cols)
	if err != nil {
		return nil, err
	}
	q, err := e.MulTrunc(d[2], xf) // d_2·x at scale cf
	if err != nil {
		return nil, err
	}
	if q, err = e.Add(q, d[1]); err != nil {
		return nil, err
	}
	p, err := e.MulTruncBits(q, xf, cf) // (d_1 + d_2·x)·x at scale f
	if err != nil {
		return nil, err
	}
	return e.Add(p, d[0])
}

// cutGrid is the binary order of the grid every fitted table's cuts lie on (1/64,
// internal/fit's grid): comparisons with the cuts need no finer resolution.
const cutGrid = 6

// cutPrecision is the precision of comparisons of values with f fractional bits against a
// fitted table's cuts, for a range that needs bits bits (see mpc.Engine.WithComparePrecision):
// the drop = f − 6 bits below the cuts' grid are ignored (none for f ≤ 6), which dithers each
// cut t over [t − 1/64, t), and the tables the FSS comparisons use are fitted to hold from one
// grid step below every cut; bits − drop remain.
func cutPrecision(f, bits uint) (uint, uint) {
	drop := f - min(f, cutGrid)
	return bits - drop, drop
}

// threshold encodes the cut t for comparisons with values of frac fractional bits: the
// smallest ring value T with T ≥ t·2^frac, so that x ≥ t exactly when x ≥ T for every
// representable x (rounding to nearest would misplace values within half a unit of a cut).
func threshold(t float64, frac uint) uint64 {
	return uint64(int64(math.Ceil(math.Ldexp(t, int(frac)))))
}
