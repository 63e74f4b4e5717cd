package protocols

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/privinfer/mpcache/mpc"
)

// TestRsqrt checks Rsqrt on [1e-5, 1e5] (log-uniform, plus powers of two and the range ends):
// |y − x^(−1/2)| ≤ 3.5e-4·x^(−1/2) + 3.5·2^−16 (fit plus rounding to 16 bits); RsqrtFrac with
// 22 bits: the same with 3.5·2^−22, which is a relative error within 1e-3; and the
// unexported form LayerNorm uses, whose input keeps 32 fractional bits and whose result 20:
// |error| ≤ 3.5e-4·κ·V^(−1/2) + 2.5·2^−20 for V = d·(σ² + eps) from d·1e-8 to 2^28 (d = 4096,
// κ = √d, so σ² up to 6.5e4).
func TestRsqrt(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	n := 2000
	if testing.Short() {
		n = 400
	}
	xs := fxLogUniform(r, n, 1e-5, 1e5)
	for o := -16; o <= 16; o++ {
		xs = append(xs, math.Ldexp(1, o), math.Ldexp(1.5, o))
	}
	xs = append(xs, 1e5, 1.0/65536)
	xs = fxRounded(xs)
	for _, p := range testProtocols {
		t.Run(string(p), func(t *testing.T) {
			sh := shareFloats(t, p, xs)
			got := revealFloats(t, p, run(t, p, func(e mpc.Engine) (*mpc.Share, error) {
				return Rsqrt(e, sh[e.Party()], 1e-5, 1e5)
			}))
			want := make([]float64, len(xs))
			for i, x := range xs {
				want[i] = 1 / math.Sqrt(x)
			}
			fxCheck(t, "rsqrt", got, want, func(i int) float64 { return 3.5e-4*want[i] + 3.5*math.Ldexp(1, -testFrac) })
			const frac = 22
			fr := revealTensor(t, p, run(t, p, func(e mpc.Engine) (*mpc.Share, error) {
				return RsqrtFrac(e, sh[e.Party()], 1e-5, 1e5, frac)
			}))
			fxCheck(t, "rsqrt with more bits", mpc.DecodeTensor(fr, frac), want, func(i int) float64 {
				return math.Min(3.5e-4*want[i]+3.5*math.Ldexp(1, -frac), 1e-3*want[i])
			})

			// LayerNorm's form: V = d·(σ² + eps) at 2f = 32 bits, κ = √d, result at 20 bits.
			const d, sIn, sOut = 4096, 32, 20
			vs := fxLogUniform(r, n, d*1e-8, math.Ldexp(1, 28))
			in, err := mpc.EncodeTensor(vs, sIn)
			if err != nil {
				t.Fatal(err)
			}
			sh = shareTensor(t, p, in)
			res := revealTensor(t, p, run(t, p, func(e mpc.Engine) (*mpc.Share, error) {
				return invSqrt(e, sh[e.Party()], sIn, d*1e-8, math.Ldexp(1, 28), math.Sqrt(d), sOut)
			}))
			want = make([]float64, len(vs))
			for i := range vs {
				want[i] = math.Sqrt(d) / math.Sqrt(mpc.Decode(in.Data[i], sIn))
			}
			fxCheck(t, "scaled rsqrt", mpc.DecodeTensor(res, sOut), want, func(i int) float64 { return 3.5e-4*want[i] + 2.5*math.Ldexp(1, -sOut) })
		})
	}
}
