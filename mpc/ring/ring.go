// Package ring holds the local kernels of arithmetic in Z_2^64 on flat []uint64 data: matrix
// products and element-wise operations. Every result is exact modulo 2^64 (Go's wrapping
// uint64 arithmetic), whichever code path (portable Go, SIMD assembly, GPU) computes it.
package ring

import "github.com/privinfer/mpcache/gpu"

// MatMul sets c = a·b mod 2^64, where a is m×k, b is k×n and c is m×n, all row-major.
// c must not alias a or b.
func MatMul(c, a, b []uint64, m, k, n int) {
	if gpu.MatMul(c, a, b, m, k, n, false) {
		return
	}
	matMul("MatMul", c, a, b, m, k, n, false)
}

// MatMulNT sets c = a·bᵀ mod 2^64, where a is m×k, b is n×k and c is m×n, all row-major.
// c must not alias a or b.
func MatMulNT(c, a, b []uint64, m, k, n int) {
	if gpu.MatMul(c, a, b, m, k, n, true) {
		return
	}
	matMul("MatMulNT", c, a, b, m, k, n, true)
}
