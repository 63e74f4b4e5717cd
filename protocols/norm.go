package protocols

import (
	"fmt"
	"math"
	"slices"

	"github.com/privinfer/mpcache/mpc"
)

// normHeadroom bounds the normalised, scaled outputs of LayerNorm and RMSNorm before the bias:
// |γ·(x − μ)/σ| < 2^normHeadroom.
const normHeadroom = 9

// LayerNorm returns γ·(x − μ)/√(σ² + eps) + β along the last axis (d elements per row), with
// μ the row mean and σ² the biased row variance, as PyTorch defines it. gamma and beta are
// shared vectors of shape [d], or nil for none; eps > 0 is public.
//
// Method: μ = Σx·round(2^30/d) >> 30 (one truncation); c = x − μ; the squares c² and the
// products c·γ in one Mul batch without truncation, at 2f fractional bits. The choice for the
// sum of squares is to square, sum and never truncate before normalising: every square is
// exact, so variances down to 1e-4 and below keep their precision, and the sum stays in the
// ring as long as d·σ² < 2^(60−2f). Then V = Σc² + d·eps and 1/√(σ² + eps) = √d·V^(−1/2) by the
// method of Rsqrt on V (one LessThan per row over the pairs of octaves from d·eps to
// 2^(60−2f), an exact power-of-two normalisation, a linear piece), kept at 61 − 2f − 9
// fractional bits (20 at f = 16); finally one product with c·γ truncated back to f bits, and β.
//
// Range: |x − μ| < 2^(31−f) per element, d·(σ² + eps) < 2^(60−2f) (2^28 at f = 16: σ² below
// 6.5·10^4 for d = 4096), |γ·(x − μ)/σ| < 2^9.
// Accuracy (f = 16): relative error of 1/√(σ² + eps) at most 3.5e-4 plus 2.5·2^−20; output
// error below 1e-2 for d from 64 to 4096, activations up to ±100 with outlier dimensions,
// variances from 1e-4 to 1e4, with and without γ and β (TestNorms; largest measured 4e-3, from
// rows of variance 1e-4, where one unit of μ's rounding, 2^−16, is amplified by 1/σ = 100).
//
// Cost: one LessThan of m thresholds per row (about 8.5 per octave between d·eps and
// 2^(60−2f); m = 297 for d = 768, eps = 1e-5) and 8 rounds of products and truncations in 2pc
// (mean 1, squares and c·γ 1, normalisation 2, linear piece 2, output 2), 9 in 3pc (P2: 5; the
// mean's truncation takes 2). Besides the comparisons, online bytes sent per party: 56 per
// element (40 without γ) plus 56 per row in 2pc, 32 (24) plus 48 in 3pc; offline 40 (32) plus
// 64, and 16 plus 48 (TestApproxCosts). In total, for d = 768, per element:
//
//	            rounds  online B              offline B
//	2pc FSS     9       56.1                  42.1
//	3pc FSS     11      32.1                  18.1
//	2pc circuit 16      127.3                 80.3
//	3pc circuit 17      97.0 (P0), 72.3 (P1)  16.1
func LayerNorm(e mpc.Engine, x, gamma, beta *mpc.Share, eps float64) (*mpc.Share, error) {
	rows, d, err := normArgs(e, "layernorm", x, eps, gamma, beta)
	if err != nil {
		return nil, err
	}
	x2, err := mpc.Reshape(x, rows, d)
	if err != nil {
		return nil, err
	}
	sum, err := e.MatMulPublic(x2, onesColumn(d))
	if err != nil {
		return nil, err
	}
	scaled, err := e.MulPublic(sum, mpc.Scalar(uint64(math.Round(math.Ldexp(1, 30)/float64(d)))))
	if err != nil {
		return nil, err
	}
	mu, err := e.Trunc(scaled, 30)
	if err != nil {
		return nil, fmt.Errorf("protocols: layernorm: %w", err)
	}
	c, err := e.Sub(x2, mu)
	if err != nil {
		return nil, err
	}
	y, err := normalise(e, c, gamma, beta, eps)
	if err != nil {
		return nil, fmt.Errorf("protocols: layernorm: %w", err)
	}
	return mpc.Reshape(y, x.Shape...)
}

// RMSNorm returns w·x/√(mean(x²) + eps) along the last axis (d elements per row), with weight
// w a shared vector of shape [d] or nil for none and eps > 0 public.
//
// Method, range and accuracy: those of LayerNorm without the mean (|x| < 2^(31−f),
// d·(mean(x²) + eps) < 2^(60−2f); error below 1e-2, TestNorms).
//
// Cost: LayerNorm's without the mean's truncation (per row 8 bytes online and 16 offline in
// 2pc, 16 and 16 in 3pc): by FSS comparisons 8 rounds in 2pc and 9 in 3pc, by the circuit 15.
func RMSNorm(e mpc.Engine, x, weight *mpc.Share, eps float64) (*mpc.Share, error) {
	rows, d, err := normArgs(e, "rmsnorm", x, eps, weight, nil)
	if err != nil {
		return nil, err
	}
	x2, err := mpc.Reshape(x, rows, d)
	if err != nil {
		return nil, err
	}
	y, err := normalise(e, x2, weight, nil, eps)
	if err != nil {
		return nil, fmt.Errorf("protocols: rmsnorm: %w", err)
	}
	return mpc.Reshape(y, x.Shape...)
}

// normArgs checks a norm's arguments and returns the row count and the row length d.
func normArgs(e mpc.Engine, op string, x *mpc.Share, eps float64, vecs ...*mpc.Share) (rows, d int, err error) {
	if rows, d, err = lastAxis(op, x); err != nil {
		return 0, 0, err
	}
	f := int(e.Frac())
	if !(eps > 0) || float64(d)*eps >= normMax(e.Frac()) {
		return 0, 0, fmt.Errorf("protocols: %s: eps %v is not a positive number with d·eps below 2^%d", op, eps, 60-2*f)
	}
	if normFrac(e.Frac()) < f/2 {
		return 0, 0, fmt.Errorf("protocols: %s: %d fractional bits leave too few for the inverse square root", op, f)
	}
	for _, v := range vecs {
		if v != nil && !slices.Equal(v.Shape, []int{d}) {
			return 0, 0, fmt.Errorf("protocols: %s: parameter of shape %v for rows of %d (want [%d])", op, v.Shape, d, d)
		}
	}
	return rows, d, nil
}

// onesColumn is the public d×1 matrix of plain ones (row sums by MatMulPublic).
func onesColumn(d int) *mpc.Tensor {
	t := mpc.NewTensor(d, 1)
	for i := range t.Data {
		t.Data[i] = 1
	}
	return t
}

// normMax bounds d·(σ² + eps) for Frac f: the sum of squares at 2f fractional bits and its
// normalisation product stay below 2^62.
func normMax(f uint) float64 { return math.Ldexp(1, 60-2*int(f)) }

// normFrac is the number of fractional bits of 1/σ: what the output product with c·γ (2f
// fractional bits, |γ·c/σ| < 2^normHeadroom) leaves below 2^61.
func normFrac(f uint) int { return 61 - 2*int(f) - normHeadroom }

// normalise returns γ·c/√(mean(c²) + eps) + β for the rows×d share c (γ, β nil for none).
func normalise(e mpc.Engine, c, gamma, beta *mpc.Share, eps float64) (*mpc.Share, error) {
	f := e.Frac()
	rows, d := c.Shape[0], c.Shape[1]
	sOut := normFrac(f)
	// Where products reuse fixed operands (2pc with the dealer), c (and γ, unless it is a
	// fixed weight already) is fixed in one round: the square c² and the product c·γ then
	// need no opening at all, so one opened word per element serves both, in the round that
	// would have opened them.
	if e.ReusesFixed() {
		fix := []*mpc.Share{c}
		if gamma != nil {
			fix = append(fix, gamma)
		}
		fixed, err := e.Fix(fix...)
		if err != nil {
			return nil, err
		}
		c = fixed[0]
		if gamma != nil {
			gamma = fixed[1]
		}
	}
	xs, ys := []*mpc.Share{c}, []*mpc.Share{c}
	if gamma != nil {
		g, err := mpc.Reshape(gamma, 1, d)
		if err != nil {
			return nil, err
		}
		if g, err = mpc.Broadcast(g, rows, d); err != nil {
			return nil, err
		}
		xs, ys = append(xs, c), append(ys, g)
	}
	prods, err := mulPairs(e, xs, ys, false)
	if err != nil {
		return nil, err
	}
	num, numFrac := c, f
	if gamma != nil {
		num, numFrac = prods[1], 2*f
	}
	v, err := e.MatMulPublic(prods[0], onesColumn(d)) // Σc², 2f fractional bits
	if err != nil {
		return nil, err
	}
	lo := float64(d) * eps
	if v, err = e.AddPublic(v, mpc.Scalar(mpc.Encode(lo, 2*f))); err != nil {
		return nil, err
	}
	w, err := invSqrt(e, v, 2*f, lo, normMax(f), math.Sqrt(float64(d)), uint(sOut))
	if err != nil {
		return nil, err
	}
	y, err := e.MulTruncBits(num, w, numFrac+uint(sOut)-f)
	if err != nil {
		return nil, err
	}
	if beta == nil {
		return y, nil
	}
	return e.Add(y, beta)
}
