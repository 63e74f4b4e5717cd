package protocols

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/privinfer/mpcache/mpc"
)

// Helpers of the fixed-point approximation tests (exp, reciprocal, rsqrt, softmax, GeLU,
// SiLU, norms).

// fxRound returns x as the engine sees it: rounded to testFrac fractional bits. References
// are computed on these values, so that only the protocol's error is measured.
func fxRound(x float64) float64 { return mpc.Decode(mpc.Encode(x, testFrac), testFrac) }

// fxRounded applies fxRound to every value.
func fxRounded(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = fxRound(x)
	}
	return out
}

// fxUniform returns n values uniform in [lo, hi).
func fxUniform(r *rand.Rand, n int, lo, hi float64) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = lo + (hi-lo)*r.Float64()
	}
	return xs
}

// fxLogUniform returns n values log-uniform in [lo, hi).
func fxLogUniform(r *rand.Rand, n int, lo, hi float64) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = lo * math.Exp(r.Float64()*math.Log(hi/lo))
	}
	return xs
}

// fxCheck fails the test at the first element whose error exceeds bound(i) and returns the
// largest error seen relative to its bound's scale (the plain absolute error).
func fxCheck(t *testing.T, what string, got, want []float64, bound func(i int) float64) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d results for %d inputs", what, len(got), len(want))
	}
	worst := 0.0
	for i := range got {
		d := math.Abs(got[i] - want[i])
		if !(d <= bound(i)) {
			t.Fatalf("%s: element %d: got %.8g, want %.8g (error %.3g > %.3g)", what, i, got[i], want[i], d, bound(i))
		}
		worst = math.Max(worst, d)
	}
	return worst
}

// fxGeLU and fxSiLU are the float64 references.
func fxGeLU(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
}

func fxSiLU(x float64) float64 { return x / (1 + math.Exp(-x)) }
