package ring

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkMatMul reports multiply-adds per second ("MAC/s") for the local products of a
// GPT-2-small-sized transformer, on the SIMD path (where the CPU has it) and the portable
// path, with GOMAXPROCS goroutines:
//
//	go test -run '^$' -bench MatMul ./mpc/ring
//
// Shapes are m×k×n; NT products are a·bᵀ; "12x" is a batch of 12 heads through
// BatchMatMul / BatchMatMulNT.
func BenchmarkMatMul(b *testing.B) {
	cases := []struct {
		name    string
		batch   int
		m, k, n int
		bT      bool
	}{
		{"NN/768x768x768", 1, 768, 768, 768, false},
		{"NN/1x768x2304", 1, 1, 768, 2304, false},
		{"NN/1024x768x3072", 1, 1024, 768, 3072, false},
		{"NT/1x64x1024", 1, 1, 64, 1024, true},
		{"NT/12x1x64x1024", 12, 1, 64, 1024, true},
		{"NT/12x1024x64x1024", 12, 1024, 64, 1024, true},
		{"NN/12x1024x1024x64", 12, 1024, 1024, 64, false},
	}
	defer func(v bool) { useSIMD = v }(useSIMD)
	for _, path := range paths() {
		for _, tc := range cases {
			b.Run(fmt.Sprintf("%s/%s", path.name, tc.name), func(b *testing.B) {
				useSIMD = path.simd
				r := rand.New(rand.NewPCG(5, 6))
				x := randRing(r, tc.batch*tc.m*tc.k)
				y := randRing(r, tc.batch*tc.k*tc.n)
				z := make([]uint64, tc.batch*tc.m*tc.n)
				for b.Loop() {
					switch {
					case tc.batch > 1 && tc.bT:
						BatchMatMulNT(z, x, y, tc.batch, tc.m, tc.k, tc.n)
					case tc.batch > 1:
						BatchMatMul(z, x, y, tc.batch, tc.m, tc.k, tc.n)
					case tc.bT:
						MatMulNT(z, x, y, tc.m, tc.k, tc.n)
					default:
						MatMul(z, x, y, tc.m, tc.k, tc.n)
					}
				}
				macs := float64(tc.batch) * float64(tc.m) * float64(tc.k) * float64(tc.n)
				b.ReportMetric(macs*float64(b.N)/b.Elapsed().Seconds(), "MAC/s")
			})
		}
	}
}
