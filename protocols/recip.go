package protocols

import (
	"fmt"
	"math"

	"github.com/privinfer/mpcache/mpc"
)

// Reciprocal returns 1/x element-wise for x ∈ [1, maxValue], a public bound such as the
// context length (softmax denominators), as fixed point with e.Frac() fractional bits.
// maxValue may be up to 2^((48−f)/2) (2^16 at f = 16).
//
// Method: one LTZ batch compares x with every boundary of 15 geometric sub-intervals of each
// octave [2^o, 2^(o+1)), o < K = ceil(log2 maxValue), which selects a linear piece
// 1/x ≈ (p_i − q_i·x·2^−o)·2^−o fitted by internal/fit (a one-step Newton iteration from a
// piecewise-constant start, with the scale folded into the coefficients); the piece's
// coefficients are local combinations of the comparison bits, and one product with x and a
// truncation finish. There is no initial guess to overflow and no iteration count to tune.
//
// Accuracy (f = 16): |y − 1/x| ≤ 2.7e-4/x + 1.5·2^−16: the fit's relative error plus the
// result's rounding to f bits (TestReciprocal, log-uniform over [1, maxValue] for maxValue up
// to 2^16). The rounding dominates once 1/x < 2^−4; callers that need full relative precision
// at large x keep more fractional bits, as Softmax does with the unexported form (relative
// error ≤ 3.5e-4 over [1, 4096]).
//
// Cost per element: 10 rounds in 2pc, 11 in 3pc (LTZ 8, Mul 1, Trunc 1 or 2), with 15·K − 1
// comparisons: online bytes sent per party 2pc 184.125·(15K − 1) + 24, offline
// 104·(15K − 1) + 24; 3pc P0 168·(15K − 1) + 24, P1 and P2 104·(15K − 1) + 24, offline 16
// (TestApproxCosts).
func Reciprocal(e mpc.Engine, x *mpc.Share, maxValue float64) (*mpc.Share, error) {
	if x.Len() == 0 {
		return nil, fmt.Errorf("protocols: reciprocal: empty input of shape %v", x.Shape)
	}
	if !(maxValue >= 1) || math.IsInf(maxValue, 0) {
		return nil, fmt.Errorf("protocols: reciprocal: maxValue %v is not a finite number ≥ 1", maxValue)
	}
	k := max(1, int(math.Ceil(math.Log2(maxValue))))
	y, err := reciprocal(e, x, e.Frac(), k, e.Frac())
	if err != nil {
		return nil, fmt.Errorf("protocols: reciprocal: %w", err)
	}
	return y, nil
}

// reciprocal returns 1/x at scale sOut for x at scale sIn in [1, 2^k]. The product x·q keeps
// q at scale 61 − sIn, so its smallest value (about 4^−k) still has 13 significant bits when
// sIn + 2k ≤ 48, and it stays below 2^62 for every x in range.
func reciprocal(e mpc.Engine, x *mpc.Share, sIn uint, k int, sOut uint) (*mpc.Share, error) {
	if int(sIn)+2*k > 48 {
		return nil, fmt.Errorf("range [1, 2^%d] is too wide for %d fractional bits (need %d + 2·%d ≤ 48)", k, sIn, sIn, k)
	}
	if sOut > 60 {
		return nil, fmt.Errorf("result scale %d is out of range", sOut)
	}
	t := 61 - sOut
	var thr []uint64
	var p, q column
	for o := 0; o < k; o++ {
		for i := range recipTable.p {
			if o > 0 || i > 0 {
				thr = append(thr, threshold(math.Ldexp(recipTable.cuts[i], o), sIn))
			}
			p = append(p, mpc.Encode(math.Ldexp(recipTable.p[i], -o), sOut))
			q = append(q, mpc.Encode(math.Ldexp(recipTable.q[i], -2*o), 61-sIn))
		}
	}
	v, err := segmentValues(e, x, thr, []column{p, q})
	if err != nil {
		return nil, err
	}
	qx, err := mulShift(e, x, v[1], t)
	if err != nil {
		return nil, err
	}
	return e.Sub(v[0], qx)
}
