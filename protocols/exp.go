package protocols

import (
	"fmt"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/fss"
)

// expCoefFrac is the scale of exp's polynomial coefficients for Frac f: 56 − f (40 at the
// default 16) keeps every product of the evaluation below 2^62 for x ≤ 0 while rounding the
// coefficients far below the fit's own error (the tail segment's u^7 reaches 6·10^3).
func expCoefFrac(f uint) uint { return 56 - f }

// Exp returns e^x element-wise for x ≤ 0, the range softmax needs after subtracting the row
// maximum, as fixed point with e.Frac() fractional bits. Below −16 − 1/64 the result is exactly
// 0 (the clip sits at −16 rather than −14 so that a row of 4096 entries just above the clip
// still sums correctly: 4096·e^−16 < 4.6e-4); positive inputs are out of range.
//
// Method: one LessThan locates x among the cuts −16, −9.03125 and −4.40625; on each of the
// three segments above −16, a degree-7 polynomial in u = x − centre fitted by internal/fit,
// evaluated by Estrin's scheme in three levels of products (polyEval). The segment's centre
// and coefficients are local linear combinations of the comparison bits; below −16 they are
// all 0, so every product, and the result, is exactly 0. By FSS the comparisons drop the bits
// below the cuts' 1/64 grid (cutPrecision; mpc.Engine.WithComparePrecision), which dithers
// each cut over the grid step below it, where the pieces are fitted to hold.
//
// Accuracy (f = 16): |error| ≤ 1e-4·eˣ + 3e-8 from the fit plus one unit in the last place
// (2^−16) of rounding: at most 1.1e-4 absolute, and relative 1e-4 where eˣ ≫ 2^−16 (TestExp,
// over [−20, 0]).
//
// Cost per element: one LessThan of 3 thresholds (by FSS one opened word and one DCF key over
// 54 bits above the 10 dropped at f = 16, 1288 bytes; in 3pc the 3 bits are reshared), then
// three levels of products (9 products and their truncations, the last by 56 − f bits): 6
// rounds, 216 bytes online and 216 offline in 2pc; 6 rounds (P2: 3), 144 bytes online and 144
// offline in 3pc (TestApproxCosts). In total:
//
//	            rounds  online B               offline B
//	2pc FSS     7       224                    1504
//	3pc FSS     8       176 (P0, P1), 160 (P2) 1432
//	2pc circuit 14      768.375               528
//	3pc circuit 14      648 (P0), 456 (P1)    144
func Exp(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
	if x.Len() == 0 {
		return nil, fmt.Errorf("protocols: exp: empty input of shape %v", x.Shape)
	}
	return expScaled(e, x, e.Frac(), fss.MaxBits)
}

// expScaled returns e^x at scale out ≤ expCoefFrac (softmax keeps extra bits for its row sum),
// for x whose differences from the cuts need bits bits, compared at the cuts' precision
// (cutPrecision).
func expScaled(e mpc.Engine, x *mpc.Share, out, bits uint) (*mpc.Share, error) {
	ce, err := e.WithComparePrecision(cutPrecision(e.Frac(), bits))
	if err != nil {
		return nil, err
	}
	cf := expCoefFrac(e.Frac())
	return piecewisePoly(ce, x, &expTable, cf, cf+e.Frac()-out)
}
