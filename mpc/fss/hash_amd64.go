//go:build amd64 && !purego

package fss

import "golang.org/x/sys/cpu"

// useAsm reports whether this CPU runs the AES-NI kernels of hash_amd64.s.
var useAsm = cpu.X86.HasAES

// expandKeyAsm writes the 11 round keys of AES-128 key to xk.
//
//go:noescape
func expandKeyAsm(key *byte, xk *uint32)

// mmoAsm replaces each of the n blocks at buf by AES(block) ⊕ block under the round keys xk,
// eight blocks at a time so that the AES units stay busy.
//
//go:noescape
func mmoAsm(xk *uint32, buf *block, n int)
