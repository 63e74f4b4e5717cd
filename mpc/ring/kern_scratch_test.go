package ring

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func BenchmarkKern6x4(b *testing.B) {
	ap := make([]uint64, 6*256)
	bp := make([]uint64, 8*256)
	c := make([]uint64, 6*4)
	for b.Loop() {
		kern6x4(256, &ap[0], &bp[0], &c[0], 4, 1)
	}
	b.ReportMetric(float64(6*4*256)*float64(b.N)/b.Elapsed().Seconds(), "MAC/s")
}
func BenchmarkKernRow16(b *testing.B) {
	ap := make([]uint64, 2*256)
	bp := make([]uint64, 16*256)
	c := make([]uint64, 16)
	for b.Loop() {
		kernRow16(256, &ap[0], &bp[0], 16, &c[0], 0)
	}
	b.ReportMetric(float64(16*256)*float64(b.N)/b.Elapsed().Seconds(), "MAC/s")
}
func BenchmarkKernDot4(b *testing.B) {
	ap := make([]uint64, 256)
	bp := make([]uint64, 4*256)
	c := make([]uint64, 4)
	for b.Loop() {
		kernDot4(64, &ap[0], &ap[0], &bp[0], 256, &c[0])
	}
	b.ReportMetric(float64(4*256)*float64(b.N)/b.Elapsed().Seconds(), "MAC/s")
}

func BenchmarkDirectK(b *testing.B) {
	for _, kb := range []int{2, 4, 6, 8, 10, 12} {
		directK = kb
		b.Run(fmt.Sprint(kb), func(b *testing.B) {
			r := rand.New(rand.NewPCG(5, 6))
			a, bb, c := randRing(r, 768), randRing(r, 768*2304), make([]uint64, 2304)
			for b.Loop() {
				MatMul(c, a, bb, 1, 768, 2304)
			}
			b.ReportMetric(float64(768*2304)*float64(b.N)/b.Elapsed().Seconds(), "MAC/s")
		})
	}
}
