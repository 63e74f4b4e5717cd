package protocols

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/privinfer/mpcache/mpc"
)

// TestExp checks Exp against float64 on [−20, 0] (the range softmax gives it, and below the
// cut): |error| ≤ 1e-4·eˣ + 3e-8 + 2^−16 (fit plus the result's rounding), exactly 0 below
// −16 − 1/64 (the lowest cut's dithered step), exactly representable points (0, the cuts) and the
// steps below every cut included.
func TestExp(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	xs := fxUniform(r, 3000, -20, 0)
	xs = append(xs, 0, -1e-5, -4.421875, -9.0625, -16, -16.00002, -16.02, -100, -1e4)
	// Every fourth fixed-point value of the grid step below each cut, where FSS comparisons
	// are dithered.
	step := math.Ldexp(1, -cutGrid)
	for _, cut := range expTable.cuts {
		for x := cut - step; x <= cut; x += 4 * math.Ldexp(1, -testFrac) {
			xs = append(xs, x)
		}
	}
	xs = fxRounded(xs)
	for _, p := range testProtocols {
		t.Run(string(p), func(t *testing.T) {
			sh := shareFloats(t, p, xs)
			got := revealFloats(t, p, run(t, p, func(e mpc.Engine) (*mpc.Share, error) { return Exp(e, sh[e.Party()]) }))
			want := make([]float64, len(xs))
			lo := expTable.cuts[0] - step // below it exactly 0
			for i, x := range xs {
				if x >= lo {
					want[i] = math.Exp(x)
				}
			}
			worst := fxCheck(t, "exp", got, want, func(i int) float64 {
				if xs[i] < lo {
					return 0 // exact
				}
				return 1e-4*want[i] + 3e-8 + math.Ldexp(1, -testFrac)
			})
			t.Logf("largest absolute error %.3g", worst)
		})
	}
}
