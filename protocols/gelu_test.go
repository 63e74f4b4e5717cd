package protocols

import (
	"math/rand/v2"
	"testing"

	"github.com/privinfer/mpcache/mpc"
)

// TestActivations checks GeLU and SiLU against float64, in both forms (quadratic pieces with FSS
// comparisons, cubic with the circuit): absolute error ≤ 3e-4 on [−16, 16] (Gaussian
// activations of several widths, as MLPs produce, and a uniform sweep), and exactly 0 and x
// beyond the outer cuts up to ±2^20.
func TestActivations(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	var xs []float64
	for _, sd := range []float64{0.5, 2, 6} {
		for i := 0; i < 600; i++ {
			xs = append(xs, max(-16, min(16, sd*r.NormFloat64())))
		}
	}
	xs = append(xs, fxUniform(r, 1200, -16, 16)...)
	far := []float64{-16.5, -100, -3000, -(1 << 20), 16.5, 100, 3000, 1 << 20, -8.34375, 8.34375, -3.375, 3.375}
	xs = fxRounded(append(xs, far...))
	cases := []struct {
		name  string
		f     func(mpc.Engine, *mpc.Share) (*mpc.Share, error)
		ref   func(float64) float64
		bound float64
		cuts  [2]float64 // beyond these the result is exactly 0 and x
	}{
		{"gelu", GeLU, fxGeLU, 3e-4, [2]float64{-3.78125, 3.78125}},
		{"silu", SiLU, fxSiLU, 3e-4, [2]float64{-10.921875, 10.921875}},
	}
	for _, c := range cases {
		for _, b := range testBackends {
			t.Run(c.name+"/"+b.String(), func(t *testing.T) {
				p := b.p
				sh := shareFloats(t, p, xs)
				res, _ := measureOn(t, b, c.name, func(e mpc.Engine) (*mpc.Share, error) { return c.f(e, sh[e.Party()]) })
				got := revealFloats(t, p, res)
				want := make([]float64, len(xs))
				for i, x := range xs {
					switch {
					case x < c.cuts[0]:
					case x >= c.cuts[1]:
						want[i] = x
					default:
						want[i] = c.ref(x)
					}
				}
				worst := fxCheck(t, c.name, got, want, func(i int) float64 {
					if xs[i] < c.cuts[0] || xs[i] >= c.cuts[1] {
						return 0
					}
					return c.bound
				})
				// Beyond the cuts the float64 function itself is within the bound.
				for i, x := range xs {
					if d := got[i] - c.ref(x); x >= -16 && x <= 16 && (d > c.bound || d < -c.bound) {
						t.Fatalf("%s(%v) = %v, float64 %v", c.name, x, got[i], c.ref(x))
					}
				}
				t.Logf("largest absolute error %.3g", worst)
			})
		}
	}
}
