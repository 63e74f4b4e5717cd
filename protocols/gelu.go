package protocols

import (
	"fmt"

	"github.com/privinfer/mpcache/mpc"
)

// GeLU returns GPT-2's GeLU ("gelu_new", the tanh form)
// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) element-wise, as fixed point with e.Frac()
// fractional bits.
//
// Method: a piecewise cubic fitted by internal/fit: one LessThan locates x among eight cuts
// (−3.78125 … 3.78125, see tables.go); below the first the result is exactly 0 and from the last
// on it is exactly x; on the seven segments between, a cubic in x − centre is evaluated by
// Estrin's scheme in two levels of products. The tolerance is tight (2e-4) because activation
// errors are correlated across a layer's hidden units and add up coherently in the next
// projection: with SiLU at 2e-3, stories260K's logits drifted by 0.11 over 32 tokens; at 2e-4,
// by 0.013.
//
// Accuracy (f = 16): the fit is within 2e-4 of float64; with fixed-point rounding the absolute
// error stays below 3e-4 on [−16, 16] (TestActivations), and the asymptotes are exact for any
// |x| < 2^(62−2f) (2^30).
//
// Cost per element: one LessThan of 8 thresholds (by FSS one opened word and one DCF key for
// all eight; in 3pc the segment's 5 values are reshared), then two MulTrunc levels (4
// products): 4 rounds, 96 bytes online and 96 offline in 2pc; 4 rounds (P2: 2), 64 bytes online
// and 64 offline in 3pc (TestApproxCosts). In total:
//
//	            rounds  online B               offline B
//	2pc FSS     5       104                    1624
//	3pc FSS     6       112 (P0, P1), 80 (P2)  1592
//	2pc circuit 12      1569                   928
//	3pc circuit 12      1408 (P0), 896 (P1)    64
func GeLU(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
	return fittedActivation(e, "gelu", x, &geluTable)
}

// SiLU returns x·σ(x) = x/(1 + e^(−x)) element-wise, as fixed point with e.Frac() fractional
// bits, as GeLU does with its own table: ten cuts from −10.921875 to 10.921875, exact 0 below
// and x above, cubics between.
//
// Accuracy (f = 16): the fit is within 2e-4 of float64; with rounding the absolute error stays
// below 3e-4 on [−16, 16] (TestActivations); exact asymptotes for |x| < 2^(62−2f).
//
// Cost per element: GeLU's with 10 thresholds instead of 8. By FSS exactly GeLU's (one opened
// word and one key whatever the count): 5 rounds (2pc) and 6 (3pc), 104 and 112 bytes online,
// offline 1624 and 1592; by the circuit 12 rounds, 1937.25 bytes online (2pc; 3pc: 1744 at P0,
// 1104 at P1), offline 1136 and 64.
func SiLU(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
	return fittedActivation(e, "silu", x, &siluTable)
}

func fittedActivation(e mpc.Engine, op string, x *mpc.Share, t *polyTable) (*mpc.Share, error) {
	if x.Len() == 0 {
		return nil, fmt.Errorf("protocols: %s: empty input of shape %v", op, x.Shape)
	}
	y, err := piecewisePoly(e, x, t, e.Frac(), e.Frac())
	if err != nil {
		return nil, fmt.Errorf("protocols: %s: %w", op, err)
	}
	return y, nil
}
