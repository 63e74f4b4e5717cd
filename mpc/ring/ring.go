// Package ring holds the local kernels of arithmetic in Z_2^64 on flat []uint64 data: matrix
// products and element-wise operations. Every result is exact modulo 2^64 (Go's wrapping
// uint64 arithmetic), whichever code path (portable Go, SIMD assembly, GPU) computes it.
//
// On amd64 CPUs with AVX2 the matrix products run on assembly kernels (matmul_amd64.s);
// elsewhere, with the purego build tag, or when the environment variable MPC_RING_NOASM is
// set to a value other than "" or "0" at start-up, they run on portable Go. Large products
// are split across GOMAXPROCS goroutines.
//
// Every matrix product (MatMul, MatMulNT and each product of BatchMatMul/BatchMatMulNT) is
// first offered to package gpu, which takes it in a binary built with the cuda tag when a
// device is usable and the environment variable MPCACHE_GPU (auto, the default; cpu; cuda)
// allows it; see docs/GPU.md. Otherwise, and always without the tag, the CPU computes it.
package ring

import "github.com/privinfer/mpcache/gpu"

// MatMul sets c = a·b mod 2^64, where a is m×k, b is k×n and c is m×n, all row-major:
// c[i·n+j] = Σ_p a[i·k+p]·b[p·n+j]. Only the first m·k, k·n and m·n elements of a, b and c
// are used; MatMul panics if a slice is shorter or a dimension negative. With k = 0, c is
// set to zero. c must not overlap a or b; a and b may overlap each other. It is safe to call
// MatMul from several goroutines on distinct c.
func MatMul(c, a, b []uint64, m, k, n int) {
	if gpu.MatMul(c, a, b, m, k, n, false) {
		return
	}
	matMul("MatMul", c, a, b, m, k, n, false)
}

// MatMulNT sets c = a·bᵀ mod 2^64, where a is m×k, b is n×k and c is m×n, all row-major:
// c[i·n+j] = Σ_p a[i·k+p]·b[j·k+p]. Lengths, panics and aliasing are as for MatMul.
func MatMulNT(c, a, b []uint64, m, k, n int) {
	if gpu.MatMul(c, a, b, m, k, n, true) {
		return
	}
	matMul("MatMulNT", c, a, b, m, k, n, true)
}

// BatchMatMul sets c_h = a_h·b_h mod 2^64 for h < batch, where a_h = a[h·m·k:(h+1)·m·k] is
// m×k, b_h = b[h·k·n:(h+1)·k·n] is k×n and c_h = c[h·m·n:(h+1)·m·n] is m×n, as MatMul does
// for each (e.g. one product per attention head). Small products run in parallel across
// the batch. Lengths, panics and aliasing are as for MatMul.
func BatchMatMul(c, a, b []uint64, batch, m, k, n int) {
	batchMatMul("BatchMatMul", c, a, b, batch, m, k, n, k*n, false)
}

// BatchMatMulNT sets c_h = a_h·b_hᵀ mod 2^64 for h < batch, where a_h is m×k, b_h is n×k and
// c_h is m×n, laid out one after another as for BatchMatMul.
func BatchMatMulNT(c, a, b []uint64, batch, m, k, n int) {
	batchMatMul("BatchMatMulNT", c, a, b, batch, m, k, n, k*n, true)
}

// BatchMatMulStrided is BatchMatMul (transB false) or BatchMatMulNT (transB true) with b_h
// starting at b[h·strideB] instead of b[h·k·n], for matrices that sit in larger blocks (rows of
// a growing cache read in place). strideB must be at least k·n, and b at least
// (batch−1)·strideB + k·n long.
func BatchMatMulStrided(c, a, b []uint64, batch, m, k, n, strideB int, transB bool) {
	batchMatMul("BatchMatMulStrided", c, a, b, batch, m, k, n, strideB, transB)
}
