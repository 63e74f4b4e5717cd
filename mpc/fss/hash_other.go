//go:build !amd64 || purego

package fss

// useAsm is false: this build has no AES-NI kernels, so crypto/aes runs one block at a time.
const useAsm = false

func expandKeyAsm(key *byte, xk *uint32)   { panic("fss: no AES-NI kernels") }
func mmoAsm(xk *uint32, buf *block, n int) { panic("fss: no AES-NI kernels") }
