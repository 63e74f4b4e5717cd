package cache

import (
	"fmt"
	"slices"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/protocols"
)

// ops runs engine operations with a sticky error, so that a policy's arithmetic reads as a
// sequence of steps: after the first failure every further operation returns nil, and err
// keeps the failure named with the operation and the meter path (which says layer and block).
type ops struct {
	e   mpc.Engine
	err error
}

func (o *ops) do(op string, f func() (*mpc.Share, error)) *mpc.Share {
	if o.err != nil {
		return nil
	}
	z, err := f()
	if err != nil {
		o.err = fmt.Errorf("cache: %s at %q: %w", op, o.e.Meter().Path(), err)
		return nil
	}
	return z
}

// scope opens a meter label and returns its closing function.
func (o *ops) scope(label string) func() { return o.e.Meter().Scope(label) }

func (o *ops) add(x, y *mpc.Share) *mpc.Share {
	return o.do("add", func() (*mpc.Share, error) { return o.e.Add(x, y) })
}

func (o *ops) sub(x, y *mpc.Share) *mpc.Share {
	return o.do("sub", func() (*mpc.Share, error) { return o.e.Sub(x, y) })
}

func (o *ops) neg(x *mpc.Share) *mpc.Share {
	return o.do("neg", func() (*mpc.Share, error) { return o.e.Neg(x) })
}

// oneMinus is 1 − b for shared plain-integer bits b (local).
func (o *ops) oneMinus(b *mpc.Share) *mpc.Share {
	return o.do("one minus", func() (*mpc.Share, error) { return protocols.OneMinus(o.e, b) })
}

// mul is the element-wise ring product (no truncation).
func (o *ops) mul(x, y *mpc.Share) *mpc.Share {
	return o.do("mul", func() (*mpc.Share, error) { return o.e.Mul(x, y) })
}

// matmul is the ring matrix product (no truncation): for 0/1 selections, and for scores that
// are only compared.
func (o *ops) matmul(x, y *mpc.Share) *mpc.Share {
	return o.do("matmul", func() (*mpc.Share, error) { return o.e.MatMul(x, y) })
}

// matmulRows is x·Rᵀ (transposed) or x·R for the rows r, truncated by bits (mpc.Engine.MatMulRows).
func (o *ops) matmulRows(x *mpc.Share, r *mpc.Rows, transposed bool, bits uint) *mpc.Share {
	return o.do("matmul", func() (*mpc.Share, error) { return o.e.MatMulRows(x, r, transposed, bits) })
}

// appendRows appends the fixed share x to *r, creating the rows when *r is nil.
func (o *ops) appendRows(r **mpc.Rows, x *mpc.Share) {
	if o.err != nil {
		return
	}
	rows, err := mpc.AppendRows(*r, x)
	if err != nil {
		o.err = fmt.Errorf("cache: rows at %q: %w", o.e.Meter().Path(), err)
		return
	}
	*r = rows
}

// rowSlice returns rows lo..hi−1 of r as a packed share.
func (o *ops) rowSlice(r *mpc.Rows, lo, hi int) *mpc.Share {
	return o.do("slice", func() (*mpc.Share, error) { return r.Slice(lo, hi) })
}

// matmulTrunc is the fixed-point matrix product.
func (o *ops) matmulTrunc(x, y *mpc.Share) *mpc.Share {
	return o.do("matmul", func() (*mpc.Share, error) { return o.e.MatMulTrunc(x, y) })
}

func (o *ops) trunc(x *mpc.Share) *mpc.Share {
	return o.do("trunc", func() (*mpc.Share, error) { return o.e.Trunc(x, o.e.Frac()) })
}

// addPublic adds a public tensor (broadcast).
func (o *ops) addPublic(x *mpc.Share, t *mpc.Tensor) *mpc.Share {
	return o.do("add public", func() (*mpc.Share, error) { return o.e.AddPublic(x, t) })
}

// mulPublic multiplies by a public ring tensor (broadcast), without truncation.
func (o *ops) mulPublic(x *mpc.Share, t *mpc.Tensor) *mpc.Share {
	return o.do("mul public", func() (*mpc.Share, error) { return o.e.MulPublic(x, t) })
}

// matmulPublic multiplies by a public matrix over the last axis, without truncation.
func (o *ops) matmulPublic(x *mpc.Share, t *mpc.Tensor) *mpc.Share {
	return o.do("matmul public", func() (*mpc.Share, error) { return o.e.MatMulPublic(x, t) })
}

// topk runs protocols.TopK along the last axis, under the meter label "topk".
func topk(o *ops, what string, x *mpc.Share, k int) (sel, idx *mpc.Share) {
	if o.err != nil {
		return nil, nil
	}
	end := o.scope("topk")
	defer end()
	sel, idx, err := protocols.TopK(o.e, x, k)
	if err != nil {
		o.err = fmt.Errorf("cache: %s top-k at %q: %w", what, o.e.Meter().Path(), err)
	}
	return sel, idx
}

// fix makes every non-nil *x a fixed product operand (mpc.Engine.Fix) in place, in one round
// for all.
func (o *ops) fix(xs ...**mpc.Share) {
	var in []*mpc.Share
	var at []**mpc.Share
	for _, x := range xs {
		if *x != nil {
			in, at = append(in, *x), append(at, x)
		}
	}
	if o.err != nil || len(in) == 0 {
		return
	}
	out, err := o.e.Fix(in...)
	if err != nil {
		o.err = fmt.Errorf("cache: fix at %q: %w", o.e.Meter().Path(), err)
		return
	}
	for i, x := range at {
		*x = out[i]
	}
}

func (o *ops) reshape(x *mpc.Share, shape ...int) *mpc.Share {
	return o.do("reshape", func() (*mpc.Share, error) { return mpc.Reshape(x, shape...) })
}

func (o *ops) permute(x *mpc.Share, perm ...int) *mpc.Share {
	return o.do("permute", func() (*mpc.Share, error) { return mpc.Permute(x, perm...) })
}

func (o *ops) transpose(x *mpc.Share) *mpc.Share {
	return o.do("transpose", func() (*mpc.Share, error) { return mpc.Transpose(x) })
}

func (o *ops) slice(x *mpc.Share, axis, lo, hi int) *mpc.Share {
	return o.do("slice", func() (*mpc.Share, error) { return mpc.Slice(x, axis, lo, hi) })
}

func (o *ops) take(x *mpc.Share, axis int, idx []int) *mpc.Share {
	return o.do("take", func() (*mpc.Share, error) { return mpc.Take(x, axis, idx) })
}

// concat joins the non-nil shares along axis (nil stands for no rows).
func (o *ops) concat(axis int, xs ...*mpc.Share) *mpc.Share {
	var in []*mpc.Share
	for _, x := range xs {
		if x != nil {
			in = append(in, x)
		}
	}
	if o.err == nil && len(in) == 1 {
		return in[0]
	}
	return o.do("concat", func() (*mpc.Share, error) { return mpc.Concat(axis, in...) })
}

// public returns a sharing of the public tensor t, built without communication.
func (o *ops) public(t *mpc.Tensor) *mpc.Share {
	return o.do("public", func() (*mpc.Share, error) {
		var own, next []uint64
		if !o.e.IsDealer() {
			own = make([]uint64, len(t.Data))
			if o.e.Protocol() == mpc.ThreePC {
				next = make([]uint64, len(t.Data))
			}
		}
		z, err := mpc.NewShare(t.Shape, own, next)
		if err != nil {
			return nil, err
		}
		return o.e.AddPublic(z, t)
	})
}

// sumAxis sums x over axis (local): the result drops that axis.
func (o *ops) sumAxis(x *mpc.Share, axis int) *mpc.Share {
	if o.err != nil {
		return nil
	}
	r := len(x.Shape)
	perm := make([]int, 0, r)
	for i := range r {
		if i != axis {
			perm = append(perm, i)
		}
	}
	perm = append(perm, axis)
	y := o.matmulPublic(o.permute(x, perm...), filled(1, x.Shape[axis], 1))
	shape := slices.Clone(x.Shape)
	return o.reshape(y, slices.Delete(shape, axis, axis+1)...)
}

// filled returns a public tensor of the given shape with every entry v.
func filled(v uint64, shape ...int) *mpc.Tensor {
	t := mpc.NewTensor(shape...)
	for i := range t.Data {
		t.Data[i] = v
	}
	return t
}

// ints returns the public plain-integer tensor of xs with the given shape.
func ints(xs []int, shape ...int) *mpc.Tensor {
	t := mpc.NewTensor(shape...)
	for i, x := range xs {
		t.Data[i] = uint64(x)
	}
	return t
}

// span returns lo..hi−1.
func span(lo, hi int) []int {
	s := make([]int, 0, max(0, hi-lo))
	for i := lo; i < hi; i++ {
		s = append(s, i)
	}
	return s
}
