package protocols

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/privinfer/mpcache/mpc"
)

// normRows returns rows×d activations: per row a mean in ±10 and a spread with standard
// deviations from 1e-2 to 100 (variances 1e-4 to 1e4), with a few outlier dimensions as
// transformer residual streams have, clipped to ±100.
func normRows(r *rand.Rand, rows, d int) []float64 {
	sds := []float64{0.01, 0.1, 1, 10, 30, 100}
	xs := make([]float64, rows*d)
	for row := 0; row < rows; row++ {
		mu, sd := 20*r.Float64()-10, sds[row%len(sds)]
		for i := 0; i < d; i++ {
			v := mu + sd*r.NormFloat64()
			if i%97 == 5 {
				v *= 4
			}
			xs[row*d+i] = max(-100, min(100, v))
		}
	}
	return fxRounded(xs)
}

// fxNorm is the float64 reference of LayerNorm (center) or RMSNorm over rows of d.
func fxNorm(x []float64, d int, gamma, beta []float64, eps float64, center bool) []float64 {
	out := make([]float64, len(x))
	for r := 0; r < len(x); r += d {
		row := x[r : r+d]
		mu := 0.0
		if center {
			for _, v := range row {
				mu += v
			}
			mu /= float64(d)
		}
		ss := 0.0
		for _, v := range row {
			ss += (v - mu) * (v - mu)
		}
		inv := 1 / math.Sqrt(ss/float64(d)+eps)
		for i, v := range row {
			y := (v - mu) * inv
			if gamma != nil {
				y *= gamma[i]
			}
			if beta != nil {
				y += beta[i]
			}
			out[r+i] = y
		}
	}
	return out
}

// TestNorms checks LayerNorm and RMSNorm against float64 for hidden sizes 64 to 4096 (768 the
// largest with -short) with and without affine parameters: absolute error ≤ 1e-2.
func TestNorms(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	ds := []int{64, 768, 4096}
	if testing.Short() {
		ds = ds[:2]
	}
	for _, d := range ds {
		xs := normRows(r, 6, d)
		gamma, beta := make([]float64, d), make([]float64, d)
		for i := range gamma {
			gamma[i] = fxRound(1 + 0.5*r.NormFloat64())
			beta[i] = fxRound(0.2 * r.NormFloat64())
		}
		for _, center := range []bool{true, false} {
			for _, affine := range []bool{true, false} {
				name := map[bool]string{true: "layernorm", false: "rmsnorm"}[center]
				for _, p := range testProtocols {
					t.Run(fmt.Sprintf("%s/%s/d=%d/affine=%v", p, name, d, affine), func(t *testing.T) {
						const eps = 1e-5
						sh := shareFloats(t, p, xs, 6, d)
						gs, bs := shareFloats(t, p, gamma), shareFloats(t, p, beta)
						got := revealFloats(t, p, run(t, p, func(e mpc.Engine) (*mpc.Share, error) {
							var g, b *mpc.Share
							if affine {
								g, b = gs[e.Party()], bs[e.Party()]
							}
							if center {
								return LayerNorm(e, sh[e.Party()], g, b, eps)
							}
							return RMSNorm(e, sh[e.Party()], g, eps)
						}))
						var g, b []float64
						if affine {
							g = gamma
							if center {
								b = beta
							}
						}
						worst := fxCheck(t, name, got, fxNorm(xs, d, g, b, eps, center), func(int) float64 { return 1e-2 })
						t.Logf("largest absolute error %.3g", worst)
					})
				}
			}
		}
	}
}
