package mpc

import (
	"fmt"
	"slices"

	"github.com/privinfer/mpcache/mpc/ring"
)

// zipShares applies f element-wise to the components of x and y after broadcasting them to a
// common shape.
func zipShares(op string, x, y *Share, f func(a, b uint64) uint64) (*Share, error) {
	shape, err := broadcastShape(x.Shape, y.Shape)
	if err != nil {
		return nil, fmt.Errorf("mpc: %s: %w", op, err)
	}
	out := &Share{Shape: shape}
	xi, yi := broadcastIndex(x.Shape, shape), broadcastIndex(y.Shape, shape)
	if slices.Equal(x.Shape, shape) {
		xi = nil
	}
	if slices.Equal(y.Shape, shape) {
		yi = nil
	}
	zip := func(a, b []uint64) []uint64 {
		if a == nil || b == nil {
			return nil
		}
		dst := make([]uint64, Numel(shape))
		for i := range dst {
			ia, ib := i, i
			if xi != nil {
				ia = xi[i]
			}
			if yi != nil {
				ib = yi[i]
			}
			dst[i] = f(a[ia], b[ib])
		}
		return dst
	}
	out.Own = zip(x.Own, y.Own)
	out.Next = zip(x.Next, y.Next)
	return out, nil
}

// mapShare applies f to every element of every component of x.
func mapShare(x *Share, f func(uint64) uint64) *Share {
	out := &Share{Shape: slices.Clone(x.Shape)}
	m := func(a []uint64) []uint64 {
		if a == nil {
			return nil
		}
		dst := make([]uint64, len(a))
		for i, v := range a {
			dst[i] = f(v)
		}
		return dst
	}
	out.Own, out.Next = m(x.Own), m(x.Next)
	return out
}

func (e *engine) Add(x, y *Share) (*Share, error) {
	return zipShares("add", x, y, func(a, b uint64) uint64 { return a + b })
}

func (e *engine) Sub(x, y *Share) (*Share, error) {
	return zipShares("sub", x, y, func(a, b uint64) uint64 { return a - b })
}

func (e *engine) Neg(x *Share) (*Share, error) {
	return mapShare(x, func(a uint64) uint64 { return -a }), nil
}

// publicAt expands a public tensor to shape (broadcasting) as flat data.
func publicAt(op string, t *Tensor, shape []int) ([]uint64, error) {
	if t == nil || len(t.Data) != Numel(t.Shape) {
		return nil, fmt.Errorf("mpc: %s: public tensor is missing or malformed", op)
	}
	b, err := broadcastShape(shape, t.Shape)
	if err != nil || !slices.Equal(b, shape) {
		return nil, fmt.Errorf("mpc: %s: public shape %v does not broadcast to %v", op, t.Shape, shape)
	}
	if slices.Equal(t.Shape, shape) {
		return t.Data, nil
	}
	idx := broadcastIndex(t.Shape, shape)
	out := make([]uint64, len(idx))
	for i, j := range idx {
		out[i] = t.Data[j]
	}
	return out, nil
}

// AddPublic adds t into the share component that represents "x_0": P0 in 2pc; in 3pc, x_0 is
// held by P0 (as Own) and P2 (as Next).
func (e *engine) AddPublic(x *Share, t *Tensor) (*Share, error) {
	p, err := publicAt("add public", t, x.Shape)
	if err != nil {
		return nil, err
	}
	out := &Share{Shape: slices.Clone(x.Shape), Own: x.Own, Next: x.Next}
	add := func(a []uint64) []uint64 {
		dst := make([]uint64, len(a))
		for i := range a {
			dst[i] = a[i] + p[i]
		}
		return dst
	}
	switch {
	case e.dealer:
	case e.party == 0:
		out.Own = add(x.Own)
	case e.proto == ThreePC && e.party == 2:
		out.Next = add(x.Next)
	}
	return out, nil
}

func (e *engine) MulPublic(x *Share, t *Tensor) (*Share, error) {
	p, err := publicAt("mul public", t, x.Shape)
	if err != nil {
		return nil, err
	}
	out := &Share{Shape: slices.Clone(x.Shape)}
	mul := func(a []uint64) []uint64 {
		if a == nil {
			return nil
		}
		dst := make([]uint64, len(a))
		for i := range a {
			dst[i] = a[i] * p[i]
		}
		return dst
	}
	out.Own, out.Next = mul(x.Own), mul(x.Next)
	return out, nil
}

func (e *engine) MatMulPublic(x *Share, t *Tensor) (*Share, error) {
	r := len(x.Shape)
	if r == 0 || t == nil || len(t.Shape) != 2 || t.Shape[0] != x.Shape[r-1] || len(t.Data) != Numel(t.Shape) {
		var ts []int
		if t != nil {
			ts = t.Shape
		}
		return nil, fmt.Errorf("mpc: matmul public: shapes %v and %v do not multiply", x.Shape, ts)
	}
	k, n := t.Shape[0], t.Shape[1]
	m := x.Len() / max(k, 1)
	if k == 0 {
		m = Numel(x.Shape[:r-1])
	}
	shape := append(slices.Clone(x.Shape[:r-1]), n)
	out := &Share{Shape: shape}
	mm := func(a []uint64) []uint64 {
		if a == nil {
			return nil
		}
		dst := make([]uint64, m*n)
		ring.MatMul(dst, a, t.Data, m, k, n)
		return dst
	}
	out.Own, out.Next = mm(x.Own), mm(x.Next)
	return out, nil
}

// sameShape reports an error unless all shares have the shape of the first.
func sameShape(op string, xs ...*Share) error {
	for _, x := range xs[1:] {
		if !slices.Equal(x.Shape, xs[0].Shape) {
			return fmt.Errorf("mpc: %s: shapes %v and %v differ", op, xs[0].Shape, x.Shape)
		}
	}
	return nil
}
