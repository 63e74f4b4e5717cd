package protocols

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/privinfer/mpcache/mpc"
)

// TestExp checks Exp against float64 on [−20, 0] (the range softmax gives it, and below the
// cut): |error| ≤ 1e-4·eˣ + 3e-8 + 2^−16 (fit plus the result's rounding), exactly 0 below −16,
// and exactly representable points (0, the cuts) included.
func TestExp(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	xs := fxUniform(r, 3000, -20, 0)
	xs = append(xs, 0, -1e-5, -4.421875, -9.0625, -16, -16.00002, -100, -1e4)
	xs = fxRounded(xs)
	for _, p := range testProtocols {
		t.Run(string(p), func(t *testing.T) {
			sh := shareFloats(t, p, xs)
			got := revealFloats(t, p, run(t, p, func(e mpc.Engine) (*mpc.Share, error) { return Exp(e, sh[e.Party()]) }))
			want := make([]float64, len(xs))
			for i, x := range xs {
				if x >= -16 {
					want[i] = math.Exp(x)
				}
			}
			worst := fxCheck(t, "exp", got, want, func(i int) float64 {
				if xs[i] < -16 {
					return 0 // exact
				}
				return 1e-4*want[i] + 3e-8 + math.Ldexp(1, -testFrac)
			})
			t.Logf("largest absolute error %.3g", worst)
		})
	}
}
