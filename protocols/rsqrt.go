package protocols

import (
	"fmt"
	"math"

	"github.com/privinfer/mpcache/mpc"
)

// Rsqrt returns x^(−1/2) element-wise for x ∈ [minValue, maxValue] (public bounds, for
// instance variances with eps included), as fixed point with e.Frac() fractional bits. Values
// below 2^−f are not representable, so the range effectively starts at max(minValue, 2^−f);
// maxValue must stay below 2^(62−f).
//
// Method: one LTZ batch compares x with the boundaries of 17 geometric sub-intervals of every
// pair of octaves [2^E, 2^(E+2)), E even, that meets the range. The pair gives an exact
// power-of-two normalisation z = x·2^−E ∈ [1, 4) (one product with a plain-integer multiplier
// selected by the bits, and a truncation; the even exponent makes the square root of the scale
// exact, which takes the place of a √2 correction for odd exponents), and the sub-interval a
// linear piece x^(−1/2) ≈ 2^(−E/2)·(p_i − q_i·z) fitted by internal/fit: what one Newton step
// from a piecewise-constant start computes, with the back-scaling folded into p and q. So two
// products in sequence follow the comparisons, and no iteration count depends on the range.
//
// Accuracy (f = 16): |y − x^(−1/2)| ≤ 3.2e-4·x^(−1/2) + 3.5·2^−16 (TestRsqrt, log-uniform over
// [1e-5, 1e5]): the fit's relative error plus rounding at f bits, which dominates once
// x^(−1/2) < 2^−4. LayerNorm and RMSNorm use the unexported form, whose input and result keep
// more fractional bits.
//
// Cost per element: 12 rounds (LTZ 8, two products with truncation by f; in 3pc one more when
// maxValue > 2^(f+2), whose normalisation truncates by more than f bits). With m comparisons,
// about 8.5 per octave of the range (m = 277 for [1e-5, 1e5]): online bytes sent per party
// 2pc 184.125·m + 48, 3pc 168·m + 32 at P0 and 104·m + 32 at P1 and P2; offline 2pc
// 104·m + 48, 3pc 32 (TestApproxCosts).
func Rsqrt(e mpc.Engine, x *mpc.Share, minValue, maxValue float64) (*mpc.Share, error) {
	if x.Len() == 0 {
		return nil, fmt.Errorf("protocols: rsqrt: empty input of shape %v", x.Shape)
	}
	if !(minValue > 0 && maxValue > minValue) || math.IsInf(maxValue, 0) {
		return nil, fmt.Errorf("protocols: rsqrt: range [%v, %v] is not a finite positive interval", minValue, maxValue)
	}
	f := e.Frac()
	y, err := invSqrt(e, x, f, math.Max(minValue, math.Ldexp(1, -int(f))), maxValue, 1, f)
	if err != nil {
		return nil, fmt.Errorf("protocols: rsqrt: %w", err)
	}
	return y, nil
}

// invSqrt returns κ·x^(−1/2) at scale sOut for x at scale sIn in [lo, hi]. z is kept at zf
// (Frac − 2 to Frac) fractional bits and q at sOut + Frac − zf, so the second product is one
// MulTrunc; two bits less for z trade 3e-5 of relative error for four times finer q. The caller
// keeps κ·lo^(−1/2)·2^(sOut+Frac) below 2^61.
func invSqrt(e mpc.Engine, x *mpc.Share, sIn uint, lo, hi, kappa float64, sOut uint) (*mpc.Share, error) {
	f := int(e.Frac())
	eMin := 2 * int(math.Floor(math.Log2(lo)/2))
	eMax := 2 * int(math.Floor(math.Log2(math.Nextafter(hi, 0))/2))
	// z = x·2^(zf+t−sIn−E) >> t needs a non-negative shift for every E, and the product
	// z·2^(zf+t) must stay below 2^62 (z < 4). Truncating by t = f fuses the product and the
	// truncation in 3pc; it needs zf ≥ sIn + eMax − f, affordable up to zf = f.
	zf, t := max(f-2, int(sIn)+eMax-f), f
	if zf > f {
		zf, t = f-2, int(sIn)+eMax-(f-2)
	}
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
	z, err := mulShift(e, x, v[0], uint(t))
	if err != nil {
		return nil, err
	}
	qz, err := e.MulTrunc(z, v[2])
	if err != nil {
		return nil, err
	}
	return e.Sub(v[1], qz)
}
