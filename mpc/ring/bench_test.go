package ring

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkMatMul reports multiply-adds per second ("MAC/s") of the local products of the
// transformer workloads, on the SIMD path (where the CPU has it) and the portable path,
// with GOMAXPROCS goroutines:
//
//	go test -run '^$' -bench . ./mpc/ring
func BenchmarkMatMul(b *testing.B) {
	cases := []struct {
		name    string
		m, k, n int
		bT      bool
		batch   int // independent products per op (attention heads)
	}{
		{"NN/768x768x768", 768, 768, 768, false, 1},
		{"NN/1x768x2304", 1, 768, 2304, false, 1},
		{"NN/1024x768x3072", 1024, 768, 3072, false, 1},
		{"NT/1x64x1024", 1, 64, 1024, true, 1},
		{"NT/12x1x64x1024", 1, 64, 1024, true, 12},
		{"NT/12x1024x64x1024", 1024, 64, 1024, true, 12},
		{"NN/12x1024x1024x64", 1024, 1024, 64, false, 12},
	}
	defer func(v bool) { useSIMD = v }(useSIMD)
	for _, path := range paths() {
		for _, tc := range cases {
			b.Run(fmt.Sprintf("%s/%s", path.name, tc.name), func(b *testing.B) {
				useSIMD = path.simd
				r := rand.New(rand.NewPCG(5, 6))
				as := make([][]uint64, tc.batch)
				bs := make([][]uint64, tc.batch)
				cs := make([][]uint64, tc.batch)
				for h := range tc.batch {
					as[h] = randRing(r, tc.m*tc.k)
					bs[h] = randRing(r, tc.k*tc.n)
					cs[h] = make([]uint64, tc.m*tc.n)
				}
				b.ResetTimer()
				for b.Loop() {
					for h := range tc.batch {
						if tc.bT {
							MatMulNT(cs[h], as[h], bs[h], tc.m, tc.k, tc.n)
						} else {
							MatMul(cs[h], as[h], bs[h], tc.m, tc.k, tc.n)
						}
					}
				}
				macs := float64(tc.batch) * float64(tc.m) * float64(tc.k) * float64(tc.n)
				b.ReportMetric(macs*float64(b.N)/b.Elapsed().Seconds(), "MAC/s")
			})
		}
	}
}
