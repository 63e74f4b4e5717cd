package protocols

import (
	"fmt"
	"math"

	"github.com/privinfer/mpcache/mpc"
)

// Reciprocal returns 1/x element-wise for x ∈ [1, maxValue], a public bound such as the
// context length (softmax denominators), as fixed point with e.Frac() fractional bits. It is
// ReciprocalFrac with frac = e.Frac(), whose doc comment states the method, range, accuracy and
// cost. At f = 16 its relative error is within 1e-3 on [1, 16] (generally [1, 2^(f−12)]); beyond,
// the result's rounding to f bits dominates, and ReciprocalFrac keeps enough bits.
func Reciprocal(e mpc.Engine, x *mpc.Share, maxValue float64) (*mpc.Share, error) {
	return ReciprocalFrac(e, x, maxValue, e.Frac())
}

// ReciprocalFrac returns 1/x element-wise for x ∈ [1, maxValue] (x at e.Frac() fractional
// bits, maxValue public) as fixed point with frac fractional bits (1 ≤ frac ≤ 60): decode it
// with frac, or multiply a value v at Frac bits by it with MulTruncBits(v, y, frac) to get v/x.
// maxValue may be up to 2^((48−f)/2) (2^16 at f = 16).
//
// Method: one LessThan compares x with every boundary of 15 geometric sub-intervals of each
// octave [2^o, 2^(o+1)), o < K = ceil(log2 maxValue), which selects a linear piece
// 1/x ≈ (p_i − q_i·x·2^−o)·2^−o fitted by internal/fit (a one-step Newton iteration from a
// piecewise-constant start, with the scale folded into the coefficients); the piece's
// coefficients are local combinations of the comparison bits, and one product with x,
// truncated to frac bits, finishes. There is no initial guess to overflow and no iteration count
// to tune.
//
// Accuracy (f = 16, TestReciprocal, log-uniform over [1, maxValue] for maxValue up to 2^16):
// |y − 1/x| ≤ 3.5e-4/x + 1.5·2^−frac, the fit's relative error (2.7e-4 when frac = f) plus the
// result's rounding. So frac ≥ K + 12 keeps the relative error within 1e-3 on all of
// [1, maxValue] (frac = 28 for maxValue = 2^16).
//
// Cost per element: one LessThan of 15·K − 1 thresholds (K = 12 for maxValue = 4096: 179),
// then one product truncated by 61 − frac bits: 2 rounds, 24 bytes online and 24 offline in
// 2pc; 2 rounds (P2: 1), 16 bytes online and 16 offline in 3pc (TestApproxCosts). In total, by
// FSS comparisons (the default), whose one opened word and one key serve every threshold: 3
// rounds in 2pc and 4 in 3pc; online 8 + 24 = 32 bytes (2pc) or 8 + 16 + 16 = 40 (3pc, the
// piece's two coefficients reshared; P2 32), offline 1528 + 24 or + 16, whatever K. By the
// circuit:
// 10 rounds; online 184.125·(15K − 1) + 24 (2pc), 168·(15K − 1) + 16 at P0 and
// 104·(15K − 1) + 16 at P1 and P2 (3pc); offline 104·(15K − 1) + 24 (2pc) or 16 (3pc).
func ReciprocalFrac(e mpc.Engine, x *mpc.Share, maxValue float64, frac uint) (*mpc.Share, error) {
	if x.Len() == 0 {
		return nil, fmt.Errorf("protocols: reciprocal: empty input of shape %v", x.Shape)
	}
	if !(maxValue >= 1) || math.IsInf(maxValue, 0) {
		return nil, fmt.Errorf("protocols: reciprocal: maxValue %v is not a finite number ≥ 1", maxValue)
	}
	if frac < 1 || frac > 60 {
		return nil, fmt.Errorf("protocols: reciprocal: result scale of %d fractional bits is out of range [1, 60]", frac)
	}
	k := max(1, int(math.Ceil(math.Log2(maxValue))))
	y, err := reciprocal(e, x, e.Frac(), k, frac)
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
	qx, err := e.MulTruncBits(x, v[1], t)
	if err != nil {
		return nil, err
	}
	return e.Sub(v[0], qx)
}
