package protocols

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/privinfer/mpcache/mpc"
)

// TestReciprocal checks Reciprocal on [1, maxValue] (log-uniform, as softmax denominators
// spread, plus the octave edges) for maxValue up to 2^16: |y − 1/x| ≤ 2.7e-4/x + 1.5·2^−16,
// the fit's relative error plus the result's rounding; ReciprocalFrac with frac = K + 12 bits:
// |y − 1/x| ≤ 3.5e-4/x + 1.5·2^−frac, so a relative error within 1e-3 over the whole range;
// and the unexported variant with more fractional bits that Softmax uses: relative error
// ≤ 3.5e-4 over the whole range.
func TestReciprocal(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	n := 1500
	if testing.Short() {
		n = 300
	}
	for _, maxValue := range []float64{1, 4096, 65536} {
		xs := fxLogUniform(r, n, 1, maxValue)
		for o := 0.0; math.Ldexp(1, int(o)) <= maxValue; o++ {
			v := math.Ldexp(1, int(o))
			xs = append(xs, v, v*(1-1e-4), v*(1+1e-4))
		}
		xs = fxRounded(xs)
		for i, x := range xs {
			xs[i] = min(max(x, 1), maxValue)
		}
		for _, p := range testProtocols {
			t.Run(string(p), func(t *testing.T) {
				sh := shareFloats(t, p, xs)
				got := revealFloats(t, p, run(t, p, func(e mpc.Engine) (*mpc.Share, error) {
					return Reciprocal(e, sh[e.Party()], maxValue)
				}))
				want := make([]float64, len(xs))
				for i, x := range xs {
					want[i] = 1 / x
				}
				fxCheck(t, "reciprocal", got, want, func(i int) float64 { return 2.7e-4*want[i] + 1.5*math.Ldexp(1, -testFrac) })

				k := max(1, int(math.Ceil(math.Log2(maxValue))))
				frac := uint(k + 12)
				fr := revealTensor(t, p, run(t, p, func(e mpc.Engine) (*mpc.Share, error) {
					return ReciprocalFrac(e, sh[e.Party()], maxValue, frac)
				}))
				rel := fxCheck(t, "reciprocal with more bits", mpc.DecodeTensor(fr, frac), want, func(i int) float64 {
					return math.Min(3.5e-4*want[i]+1.5*math.Ldexp(1, -int(frac)), 1e-3*want[i])
				})
				t.Logf("maxValue %v: %d bits: largest absolute error %.3g", maxValue, frac, rel)

				// Softmax's form: input at 24 fractional bits, result at 37.
				const sIn, sOut = 24, 37
				if sIn+2*k > 48 {
					return
				}
				in, err := mpc.EncodeTensor(xs, sIn)
				if err != nil {
					t.Fatal(err)
				}
				sh = shareTensor(t, p, in)
				res := revealTensor(t, p, run(t, p, func(e mpc.Engine) (*mpc.Share, error) {
					return reciprocal(e, sh[e.Party()], sIn, k, sOut)
				}))
				worst := fxCheck(t, "scaled reciprocal", mpc.DecodeTensor(res, sOut), want, func(i int) float64 { return 3.5e-4 * want[i] })
				t.Logf("maxValue %v: scaled form's largest absolute error %.3g", maxValue, worst)
			})
		}
	}
}
