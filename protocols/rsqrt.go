package protocols

import (
	"fmt"
	"math"

	"github.com/privinfer/mpcache/mpc"
)

// Rsqrt returns x^(−1/2) element-wise for x ∈ [minValue, maxValue] (public bounds, for
// instance variances with eps included), as fixed point with e.Frac() fractional bits. It is
// RsqrtFrac with frac = e.Frac(), whose doc comment states the method, range, accuracy and cost.
// At f = 16 its relative error is within 1e-3 for maxValue ≤ 64 (generally 2^(2f−26)); beyond,
// the result's rounding to f bits dominates, and RsqrtFrac keeps enough bits.
func Rsqrt(e mpc.Engine, x *mpc.Share, minValue, maxValue float64) (*mpc.Share, error) {
	return RsqrtFrac(e, x, minValue, maxValue, e.Frac())
}

// RsqrtFrac returns x^(−1/2) element-wise for x ∈ [minValue, maxValue] (x at e.Frac()
// fractional bits, the bounds public) as fixed point with frac fractional bits: decode it with
// frac, or multiply a value v at Frac bits by it with MulTruncBits(v, y, frac). Values below
// 2^−f are not representable, so the range effectively starts at lo = max(minValue, 2^−f);
// maxValue must stay below 2^(62−f), and lo^(−1/2)·2^(frac+f) below 2^61 (frac ≤ 36 when lo is
// 2^−16 at f = 16).
//
// Method: one LessThan compares x with the boundaries of 17 geometric sub-intervals of every
// pair of octaves [2^E, 2^(E+2)), E even, that meets the range. The pair gives an exact
// power-of-two normalisation z = x·2^−E ∈ [1, 4) (one product with a plain-integer multiplier
// selected by the bits, and a truncation; the even exponent makes the square root of the scale
// exact, which takes the place of a √2 correction for odd exponents), and the sub-interval a
// linear piece x^(−1/2) ≈ 2^(−E/2)·(p_i − q_i·z) fitted by internal/fit: what one Newton step
// from a piecewise-constant start computes, with the back-scaling folded into p and q. So two
// products in sequence follow the comparisons, and no iteration count depends on the range.
//
// Accuracy (f = 16, TestRsqrt, log-uniform over [1e-5, 1e5]), relative to the encoded input:
// |y − x^(−1/2)| ≤ 3.5e-4·x^(−1/2) + 3.5·2^−frac, the fit's relative error plus rounding. So
// frac ≥ 13 + ceil(log2(maxValue)/2) keeps the relative error within 1e-3 on the whole range
// (frac = 22 for [1e-5, 1e5]). LayerNorm and RMSNorm use the unexported form, whose input and
// result keep more fractional bits.
//
// Cost per element: one LessThan of m thresholds, about 8.5 per octave of the range (m = 277
// for [1e-5, 1e5]), then two products with truncation: 4 rounds, 48 bytes online and 48
// offline in 2pc; 4 rounds (P2: 2), 32 bytes online and 32 offline in 3pc (TestApproxCosts).
// In total, by FSS comparisons (the default), whose one opened word and one key serve every
// threshold: 5 rounds in 2pc and 6 in 3pc; online 8 + 48 = 56 bytes (2pc) or 8 + 24 + 32 = 64
// (3pc, the three selected values reshared; P2 48); offline 1528 + 48 or + 32, whatever m. By
// the circuit: 12 rounds;
// online 184.125·m + 48 (2pc), 168·m + 32 at P0 and 104·m + 32 at P1 and P2 (3pc); offline
// 104·m + 48 (2pc) or 32 (3pc).
func RsqrtFrac(e mpc.Engine, x *mpc.Share, minValue, maxValue float64, frac uint) (*mpc.Share, error) {
	if x.Len() == 0 {
		return nil, fmt.Errorf("protocols: rsqrt: empty input of shape %v", x.Shape)
	}
	if !(minValue > 0 && maxValue > minValue) || math.IsInf(maxValue, 0) {
		return nil, fmt.Errorf("protocols: rsqrt: range [%v, %v] is not a finite positive interval", minValue, maxValue)
	}
	f := e.Frac()
	lo := math.Max(minValue, math.Ldexp(1, -int(f)))
	if frac < 1 || math.Ldexp(1/math.Sqrt(lo), int(frac+f)) >= math.Ldexp(1, 61) {
		return nil, fmt.Errorf("protocols: rsqrt: result scale of %d fractional bits is out of range for [%v, %v]", frac, minValue, maxValue)
	}
	y, err := invSqrt(e, x, f, lo, maxValue, 1, frac)
	if err != nil {
		return nil, fmt.Errorf("protocols: rsqrt: %w", err)
	}
	return y, nil
}

// invSqrt returns κ·x^(−1/2) at scale sOut for x at scale sIn in [lo, hi]. z is kept at
// zf = Frac − 2 fractional bits and q at sOut + 2, so the second product is one MulTrunc; two
// bits less for z trade 3e-5 of relative error for four times finer q. The caller keeps
// κ·lo^(−1/2)·2^(sOut+Frac) below 2^61.
func invSqrt(e mpc.Engine, x *mpc.Share, sIn uint, lo, hi, kappa float64, sOut uint) (*mpc.Share, error) {
	f := int(e.Frac())
	eMin := 2 * int(math.Floor(math.Log2(lo)/2))
	eMax := 2 * int(math.Floor(math.Log2(math.Nextafter(hi, 0))/2))
	// z = x·2^(zf+t−sIn−E) >> t needs a non-negative shift for every E, and the product
	// z·2^(zf+t) must stay below 2^62 (z < 4).
	zf := f - 2
	t := max(0, int(sIn)+eMax-zf)
	if zf+t+2 > 62 || zf+t-int(sIn)-eMin > 62 {
		return nil, fmt.Errorf("range [%v, %v] is too wide for %d fractional bits", lo, hi, sIn)
	}
	var thr []uint64
	var mul, p, q column
	for E := eMin; E <= eMax; E += 2 {
		for i := range rsqrtTable.p {
			a, b := math.Ldexp(rsqrtTable.cuts[i], E), math.Ldexp(rsqrtTable.cuts[i+1], E)
			if b <= lo || a >= hi {
				continue
			}
			if len(mul) > 0 {
				thr = append(thr, threshold(a, sIn))
			}
			s := kappa * math.Ldexp(1, -E/2)
			mul = append(mul, uint64(1)<<(zf+t-int(sIn)-E))
			p = append(p, mpc.Encode(s*rsqrtTable.p[i], sOut))
			q = append(q, mpc.Encode(s*rsqrtTable.q[i], sOut+uint(f-zf)))
		}
	}
	v, err := segmentValues(e, x, thr, []column{mul, p, q})
	if err != nil {
		return nil, err
	}
	z, err := e.MulTruncBits(x, v[0], uint(t))
	if err != nil {
		return nil, err
	}
	qz, err := e.MulTrunc(z, v[2])
	if err != nil {
		return nil, err
	}
	return e.Sub(v[1], qz)
}
