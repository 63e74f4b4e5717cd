//go:build !amd64 || purego

package ring

// hasSIMD is false: this build has no assembly kernels, so the portable Go path runs.
const hasSIMD = false

func kern6x4(kc int, a *uint64, lda int, b, c *uint64, ldc int, acc int) {
	panic("ring: no SIMD kernels")
}
func kernRow16(k int, a, b *uint64, ldb int, c *uint64, acc int) { panic("ring: no SIMD kernels") }
func kernRow4(k int, a, b *uint64, ldb int, c *uint64, acc int)  { panic("ring: no SIMD kernels") }
func kernDot4(k4 int, a, as, b *uint64, ldb int, out *uint64)    { panic("ring: no SIMD kernels") }

func packNN(dst, b *uint64, ldb, kc, np int) { panic("ring: no SIMD kernels") }
