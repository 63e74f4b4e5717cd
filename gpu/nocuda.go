//go:build !cuda

package gpu

// MatMul would compute c = a·b (or a·bᵀ when transB) mod 2^64 on the GPU; without the cuda
// build tag it always declines by returning false.
func MatMul(c, a, b []uint64, m, k, n int, transB bool) bool { return false }
