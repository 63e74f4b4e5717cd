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
	matMulGeneric(c, a, b, m, k, n)
}

// MatMulNT sets c = a·bᵀ mod 2^64, where a is m×k, b is n×k and c is m×n, all row-major.
// c must not alias a or b.
func MatMulNT(c, a, b []uint64, m, k, n int) {
	if gpu.MatMul(c, a, b, m, k, n, true) {
		return
	}
	matMulNTGeneric(c, a, b, m, k, n)
}

func matMulGeneric(c, a, b []uint64, m, k, n int) {
	c = c[:m*n]
	clear(c)
	for i := 0; i < m; i++ {
		ci := c[i*n : i*n+n]
		ai := a[i*k : i*k+k]
		for p, av := range ai {
			if av == 0 {
				continue
			}
			bp := b[p*n : p*n+n]
			for j := range ci {
				ci[j] += av * bp[j]
			}
		}
	}
}

func matMulNTGeneric(c, a, b []uint64, m, k, n int) {
	for i := 0; i < m; i++ {
		ai := a[i*k : i*k+k]
		for j := 0; j < n; j++ {
			bj := b[j*k : j*k+k]
			var s uint64
			for p := range ai {
				s += ai[p] * bj[p]
			}
			c[i*n+j] = s
		}
	}
}
