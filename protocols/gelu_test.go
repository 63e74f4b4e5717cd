package protocols

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/privinfer/mpcache/mpc"
)

// TestActivations checks GeLU and SiLU against float64, in both forms (quadratic pieces with FSS
// comparisons, cubic with the circuit): absolute error ≤ 3e-4 (SiLU's cubic pieces: 3.5e-4)
// on [−16, 16] (Gaussian
// activations of several widths, as MLPs produce, a uniform sweep, and every fixed-point value
// of the grid step below each cut, where FSS comparisons are dithered), and exactly 0 and x
// beyond the outer cuts (and their dithered steps) up to ±2^20.
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
	ulp := math.Ldexp(1, -testFrac)
	step := math.Ldexp(1, -cutGrid)
	for _, tbl := range []*polyTable{&geluQuadratic, &geluCubic, &siluQuadratic, &siluCubic} {
		for _, cut := range tbl.cuts {
			for x := cut - step; x <= cut; x += 4 * ulp {
				xs = append(xs, x)
			}
		}
	}
	xs = fxRounded(append(xs, far...))
	cases := []struct {
		name             string
		f                func(mpc.Engine, *mpc.Share) (*mpc.Share, error)
		ref              func(float64) float64
		bound            float64
		quadratic, cubic *polyTable
		cubicBound       float64 // the circuit's pieces, with their four truncated products
	}{
		{"gelu", GeLU, fxGeLU, 3e-4, &geluQuadratic, &geluCubic, 3e-4},
		{"silu", SiLU, fxSiLU, 3e-4, &siluQuadratic, &siluCubic, 3.5e-4},
	}
	for _, c := range cases {
		for _, b := range testBackends {
			t.Run(c.name+"/"+b.String(), func(t *testing.T) {
				// Beyond these the result is exactly 0 and x: the outer cuts, the lower one
				// less the dithered step where the comparisons drop bits.
				tbl, slack, bound := c.quadratic, step, c.bound
				if b.cmp == mpc.CompareCircuit {
					tbl, slack, bound = c.cubic, 0, c.cubicBound
				}
				lo, hi := tbl.cuts[0]-slack, tbl.cuts[len(tbl.cuts)-1]
				p := b.p
				sh := shareFloats(t, p, xs)
				res, _ := measureOn(t, b, c.name, func(e mpc.Engine) (*mpc.Share, error) { return c.f(e, sh[e.Party()]) })
				got := revealFloats(t, p, res)
				want := make([]float64, len(xs))
				for i, x := range xs {
					switch {
					case x < lo:
					case x >= hi:
						want[i] = x
					default:
						want[i] = c.ref(x)
					}
				}
				worst := fxCheck(t, c.name, got, want, func(i int) float64 {
					if xs[i] < lo || xs[i] >= hi {
						return 0
					}
					return bound
				})
				// Beyond the cuts the float64 function itself is within the bound.
				for i, x := range xs {
					if d := got[i] - c.ref(x); x >= -16 && x <= 16 && (d > bound || d < -bound) {
						t.Fatalf("%s(%v) = %v, float64 %v", c.name, x, got[i], c.ref(x))
					}
				}
				t.Logf("largest absolute error %.3g", worst)
			})
		}
	}
}
