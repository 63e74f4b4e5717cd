package protocols

import (
	"fmt"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/fss"
)

// GeLU returns GPT-2's GeLU ("gelu_new", the tanh form)
// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) element-wise, as fixed point with e.Frac()
// fractional bits.
//
// Method: a piecewise polynomial fitted by internal/fit (see tables.go): one LessThan locates x
// among the cuts, from −3.78125 to 3.796875 (3.78125 for the cubic pieces); below the first
// the result is exactly 0 and from the last on it is exactly x; on the segments between, a
// polynomial in x − centre whose centre and coefficients are local combinations of the
// comparison bits. With FSS comparisons (the default), where any number of cuts costs one
// opened word per element, the pieces are quadratics on 14 cuts, evaluated by Horner's rule in two products; with the boolean circuit,
// where each cut is a comparison of its own, cubics on 8 cuts by Estrin's scheme in two levels
// (four products). The tolerance is tight (2e-4) because activation errors are correlated
// across a layer's hidden units and add up coherently in the next projection: with SiLU at
// 2e-3, stories260K's logits drifted by 0.11 over 32 tokens; at 2e-4, by 0.013.
//
// Accuracy (f = 16): either fit is within 2e-4 of float64 (the quadratic pieces from 1/64 below
// their cuts, where FSS comparisons are dithered); with fixed-point rounding the absolute error
// stays below 3e-4 on [−16, 16] (TestActivations), and the asymptotes are exact up to
// |x| = 2^20 (activationRange; 2^(62−2f) where that is smaller), with 0 from 1/64 below the
// lowest cut.
//
// Cost per element (TestApproxCosts). By FSS: x fixed (2pc: 1 round, 8 bytes), one LessThan of
// the fixed x against 14 thresholds mapped to the 3 coefficients (no round: the fix's opened
// difference is the masked value; one DCF key), then two truncated products that open only the
// coefficient operand; 3pc runs the same on its two-party view (mpc.Engine.Pair) and moves the
// result back (1 round, 8 bytes at P0 and P1; P2 sends nothing). The comparisons cover the
// range above and no more, at the resolution of the cuts' grid (activationPrecision: 29 bits
// above 10 dropped at f = 16; each cut is dithered over the grid step of 1/64 below it, where
// the quadratic pieces are fitted to hold), so the key is 688 bytes instead of the full
// width's 1528. By the circuit: 8 comparisons, then 4 products in two MulTrunc levels. In
// total:
//
//	            rounds  online B               offline B
//	2pc FSS     5       40                     736
//	3pc FSS     6       48 (P0, P1), 0 (P2)    736
//	2pc circuit 12      1569                   928
//	3pc circuit 12      1408 (P0), 896 (P1)    64
func GeLU(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
	return fittedActivation(e, "gelu", x, &geluQuadratic, &geluCubic)
}

// SiLU returns x·σ(x) = x/(1 + e^(−x)) element-wise, as fixed point with e.Frac() fractional
// bits, as GeLU does with its own tables: cuts from −10.921875 to 10.9375 (18 for the
// quadratic pieces of FSS comparisons, 10 for the cubic pieces of the circuit), exact 0 below
// and x above.
//
// Accuracy (f = 16): either fit is within 2e-4 of float64; with rounding the absolute error
// stays below 3e-4 on [−16, 16] for the quadratic pieces and 3.5e-4 for the cubic ones
// (TestActivations); exact asymptotes up to |x| = 2^20, as GeLU's.
//
// Cost per element: by FSS exactly GeLU's (one opened word and one key whatever the number of
// cuts): 5 rounds (2pc) and 6 (3pc), 40 and 48 bytes online, offline 736; by the circuit 12
// rounds, 1937.25 bytes online (2pc; 3pc: 1744 at P0, 1104 at P1), offline 1136 and 64.
func SiLU(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
	return fittedActivation(e, "silu", x, &siluQuadratic, &siluCubic)
}

// activationRange is the binary order of the largest |x| GeLU and SiLU take at f fractional
// bits: 2^20, 32 times the deviation from the row mean that LayerNorm and RMSNorm admit in the
// residual stream (2^(31−f), 2^15 at f = 16) and far beyond any hidden activation of a trained
// model, and no more than the products' headroom allows (2^(62−2f)).
func activationRange(f uint) uint { return min(20, 62-2*f) }

// activationPrecision is the precision of GeLU's and SiLU's comparisons at f fractional bits
// (see mpc.Engine.WithComparePrecision): inputs up to 2^activationRange differ from the cuts
// (|t| < 11) by less than 2^(range+1+f) ring units, which range + f + 3 bits hold with their
// sign and the borrow of the dropped bits, and the cuts need no finer resolution than their
// grid (cutPrecision). At f = 16: 29 bits above 10 dropped, 688-byte keys, against 1168 for the
// 49 bits of an exact comparison over the products' whole headroom (2^30).
func activationPrecision(f uint) (bits, drop uint) {
	return cutPrecision(f, min(activationRange(f)+f+3, fss.MaxBits))
}

// withActivationPrecision returns e comparing at activationPrecision.
func withActivationPrecision(e mpc.Engine) (mpc.Engine, error) {
	return e.WithComparePrecision(activationPrecision(e.Frac()))
}

// GeLUInView is GeLU of x given as a share of View(e) (for instance a product delivered
// there by mpc.Engine.MatMulPair and truncated there); the result is a share of e, as GeLU's.
// Where View(e) is e it is GeLU.
func GeLUInView(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
	if View(e) == e {
		return GeLU(e, x)
	}
	if x.Len() == 0 {
		return nil, fmt.Errorf("protocols: gelu: empty input of shape %v", x.Shape)
	}
	ce, err := withActivationPrecision(e)
	if err != nil {
		return nil, err
	}
	ys, err := inView(ce, x, func(pe mpc.Engine, x *mpc.Share) ([]*mpc.Share, error) {
		y, err := quadraticOnFixed(pe, x, &geluQuadratic)
		return []*mpc.Share{y}, err
	})
	if err != nil {
		return nil, fmt.Errorf("protocols: gelu: %w", err)
	}
	return ys[0], nil
}

// fittedActivation evaluates an activation's fit: the quadratic pieces where comparisons are by
// FSS (any number of cuts costs one opened word per element), the cubic ones (fewer cuts)
// where every cut is a circuit comparison of its own.
func fittedActivation(e mpc.Engine, op string, x *mpc.Share, quadratic, cubic *polyTable) (*mpc.Share, error) {
	if x.Len() == 0 {
		return nil, fmt.Errorf("protocols: %s: empty input of shape %v", op, x.Shape)
	}
	// Comparisons at activationPrecision, all the range and the cuts need (the circuit
	// compares exactly whatever the precision, on tables fitted without the dithering).
	e, err := withActivationPrecision(e)
	if err != nil {
		return nil, err
	}
	var y *mpc.Share
	if e.Comparison() == mpc.CompareFSS {
		// In 3pc on the two-party view, where the fix makes the lookup and both products
		// cheaper than their replicated forms.
		var ys []*mpc.Share
		ys, err = onPair(e, x, func(pe mpc.Engine, x *mpc.Share) ([]*mpc.Share, error) {
			y, err := quadraticOnFixed(pe, x, quadratic)
			return []*mpc.Share{y}, err
		})
		if err == nil {
			y = ys[0]
		}
	} else {
		y, err = piecewisePoly(e, x, cubic, e.Frac(), e.Frac())
	}
	if err != nil {
		return nil, fmt.Errorf("protocols: %s: %w", op, err)
	}
	return y, nil
}
