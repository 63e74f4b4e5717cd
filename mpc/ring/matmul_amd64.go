//go:build amd64 && !purego

package ring

import "golang.org/x/sys/cpu"

// hasSIMD reports whether this CPU runs the AVX2 kernels of matmul_amd64.s.
var hasSIMD = cpu.X86.HasAVX2

// The kernels below are documented in matmul_amd64.s. They read and write through raw
// pointers: callers check every bound first.

//go:noescape
func kern6x4(kc int, a *uint64, lda int, b, c *uint64, ldc int, acc int)

//go:noescape
func kernRow16(k int, a, b *uint64, ldb int, c *uint64, acc int)

//go:noescape
func kernRow4(k int, a, b *uint64, ldb int, c *uint64, acc int)

//go:noescape
func kernDot4(k4 int, a, as, b *uint64, ldb int, out *uint64)

//go:noescape
func packNN(dst, b *uint64, ldb, kc, np int)
