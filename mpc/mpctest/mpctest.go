// Package mpctest adapts package inproc to tests and benchmarks: it runs every party of a
// computation side by side and fails the test on any party's error.
package mpctest

import (
	"testing"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/inproc"
	"github.com/privinfer/mpcache/mpc/transport"
)

// Network selects how the parties talk (see package inproc).
type Network = inproc.Network

// The networks.
const (
	Memory   = inproc.Memory
	Loopback = inproc.Loopback
)

// Recorder keeps a copy of every message its party receives.
type Recorder = inproc.Recorder

// Run sets up the engines of protocol p on network nw and runs f once per party concurrently,
// returning the results indexed by party; an error of any party fails the test.
func Run[T any](tb testing.TB, p mpc.Protocol, nw Network, cfg mpc.Config, f func(e mpc.Engine) (T, error)) []T {
	tb.Helper()
	res, err := inproc.Run(p, nw, cfg, f)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// RunErr is inproc.Run.
func RunErr[T any](p mpc.Protocol, nw Network, cfg mpc.Config, f func(e mpc.Engine) (T, error)) ([]T, error) {
	return inproc.Run(p, nw, cfg, f)
}

// RunWrapped is inproc.RunWrapped.
func RunWrapped[T any](p mpc.Protocol, nw Network, cfg mpc.Config, wrap func(party int, t transport.Transport) transport.Transport, f func(e mpc.Engine) (T, error)) ([]T, error) {
	return inproc.RunWrapped(p, nw, cfg, wrap, f)
}

// Reveal reconstructs the value behind the parties' shares (indexed by party).
func Reveal(tb testing.TB, p mpc.Protocol, shares []*mpc.Share) *mpc.Tensor {
	tb.Helper()
	t, err := mpc.Reconstruct(p, shares)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// MatMul is the reference product x·y in the ring, computed naively: x is batch×m×k (any
// leading batch dimensions), y is k×n or carries batch dimensions of its own; a y whose batch
// differs from x's (none, or 1) is used for every batch of x.
func MatMul(x, y *mpc.Tensor) []uint64 {
	rx, ry := len(x.Shape), len(y.Shape)
	m, k, n := x.Shape[rx-2], x.Shape[rx-1], y.Shape[ry-1]
	batch := mpc.Numel(x.Shape[:rx-2])
	yStride := k * n
	if mpc.Numel(y.Shape[:ry-2]) != batch {
		yStride = 0
	}
	c := make([]uint64, batch*m*n)
	for q := range batch {
		a, b := x.Data[q*m*k:], y.Data[q*yStride:]
		for i := range m {
			for j := range n {
				var s uint64
				for l := range k {
					s += a[i*k+l] * b[l*n+j]
				}
				c[q*m*n+i*n+j] = s
			}
		}
	}
	return c
}
