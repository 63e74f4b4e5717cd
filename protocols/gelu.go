package protocols

import (
	"fmt"

	"github.com/privinfer/mpcache/mpc"
)

// GeLU returns GPT-2's GeLU ("gelu_new", the tanh form)
// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) element-wise, as fixed point with e.Frac()
// fractional bits.
//
// Method: a piecewise cubic fitted by internal/fit: one LTZ batch locates x among eight cuts
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
// Cost per element: 12 rounds (LTZ 8, two MulTrunc levels). Online bytes sent per party:
// 2pc 1016.625; 3pc 904 at P0 and 584 at P1 and P2. Offline: 2pc 616; 3pc 64
// (TestApproxCosts).
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
// Cost: as GeLU (12 rounds; the same bytes).
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
