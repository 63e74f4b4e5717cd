package mpc

import (
	"fmt"

	"github.com/privinfer/mpcache/mpc/ring"
)

// Rows is a secret tensor of shape [Batch, Len, Width] that grows along its middle axis and
// whose entries are fixed product operands (Engine.Fix): a KV cache, with a batch per KV head
// and a row per position. Each batch's rows sit in a block with room for more, so Append
// copies only the new rows, except when the blocks are full and double: appending T rows one
// at a time copies O(T) rows in all, where re-concatenating the cache at every step (Concat)
// copies O(T²). Products read the rows in place (Engine.MatMulRows), with no transposed or
// concatenated copy.
//
// Rows holds only this party's data, as a Share does; Append and the accessors are local.
type Rows struct {
	batch, width int
	n, cap       int // rows per batch, and room per batch
	// The share arrays that the appended shares carry (nil where they carry none), each
	// batch·cap·width words: batch h's row i at [(h·cap + i)·width, (h·cap + i + 1)·width).
	own, next []uint64
	m, d, s   []uint64
}

// NewRows returns the rows of x, a fixed share (Engine.Fix) of shape [Batch, Len, Width] with
// Batch and Width positive.
func NewRows(x *Share) (*Rows, error) {
	if len(x.Shape) != 3 || x.Shape[0] <= 0 || x.Shape[2] <= 0 {
		return nil, fmt.Errorf("mpc: rows: shape %v is not [batch, rows, width] with positive batch and width", x.Shape)
	}
	r := &Rows{batch: x.Shape[0], width: x.Shape[2]}
	if err := r.Append(x); err != nil {
		return nil, err
	}
	return r, nil
}

// AppendRows appends x to r (Rows.Append) and returns r, or returns NewRows(x) when r is nil:
// the way a cache that starts empty grows.
func AppendRows(r *Rows, x *Share) (*Rows, error) {
	if r == nil {
		return NewRows(x)
	}
	return r, r.Append(x)
}

// Batch, Len and Width are the dimensions of the tensor.
func (r *Rows) Batch() int { return r.batch }
func (r *Rows) Len() int   { return r.n }
func (r *Rows) Width() int { return r.width }

// Append adds the rows of x, a fixed share of shape [Batch, t, Width], after the present ones
// (t ≥ 0). It fails without changing r if x is not fixed, its shape does not match, or it
// carries other share arrays than the rows appended before (a share of another engine).
func (r *Rows) Append(x *Share) error {
	if len(x.Shape) != 3 || x.Shape[0] != r.batch || x.Shape[2] != r.width {
		return fmt.Errorf("mpc: rows: append of shape %v to rows [%d, %d, %d]", x.Shape, r.batch, r.n, r.width)
	}
	if x.mask == nil {
		return fmt.Errorf("mpc: rows: append of a share of shape %v that is not fixed (Engine.Fix)", x.Shape)
	}
	src := [5][]uint64{x.Own, x.Next, x.mask.m, x.mask.d, x.mask.s}
	dst := r.arrays()
	fresh := r.n == 0 && r.cap == 0
	for i, a := range src {
		if a != nil && len(a) != x.Len() {
			return fmt.Errorf("mpc: rows: append of a share of %d elements for shape %v", len(a), x.Shape)
		}
		if !fresh && (a == nil) != (*dst[i] == nil) {
			return fmt.Errorf("mpc: rows: appended share carries other arrays than the rows (another engine's share?)")
		}
	}
	t := x.Shape[1]
	if r.n+t > r.cap {
		r.grow(max(2*r.cap, r.n+t, 8), src)
	}
	w := r.width
	for i, a := range src {
		if a == nil {
			continue
		}
		for h := range r.batch {
			copy((*dst[i])[(h*r.cap+r.n)*w:], a[h*t*w:(h+1)*t*w])
		}
	}
	r.n += t
	return nil
}

// arrays returns pointers to r's share arrays in the order own, next, m, d, s.
func (r *Rows) arrays() [5]*[]uint64 {
	return [5]*[]uint64{&r.own, &r.next, &r.m, &r.d, &r.s}
}

// grow moves the rows into blocks of room rows per batch, allocating the arrays that like
// (the arrays of an appended share) carries.
func (r *Rows) grow(room int, like [5][]uint64) {
	w := r.width
	for i, p := range r.arrays() {
		if like[i] == nil {
			continue
		}
		a := make([]uint64, r.batch*room*w)
		if *p != nil {
			for h := range r.batch {
				copy(a[h*room*w:], (*p)[h*r.cap*w:(h*r.cap+r.n)*w])
			}
		}
		*p = a
	}
	r.cap = room
}

// Slice returns a packed copy of rows lo..hi−1 of every batch as a fixed share of shape
// [Batch, hi−lo, Width].
func (r *Rows) Slice(lo, hi int) (*Share, error) {
	if lo < 0 || hi < lo || hi > r.n {
		return nil, fmt.Errorf("mpc: rows: slice [%d,%d) of %d rows", lo, hi, r.n)
	}
	w := r.width
	pack := func(a []uint64) []uint64 {
		if a == nil {
			return nil
		}
		out := make([]uint64, 0, r.batch*(hi-lo)*w)
		for h := range r.batch {
			out = append(out, a[(h*r.cap+lo)*w:(h*r.cap+hi)*w]...)
		}
		return out
	}
	return &Share{Shape: []int{r.batch, hi - lo, w}, Own: pack(r.own), Next: pack(r.next),
		mask: &fixedMask{m: pack(r.m), d: pack(r.d), s: pack(r.s)}}, nil
}

// factor returns the rows as the right operand of x·R (transposed: x·Rᵀ) and the product's
// dimensions, checking that x is [Batch, m, k] with k = Len (Width when transposed).
func (r *Rows) factor(x *Share, transposed bool) (f factor, m, k, n int, err error) {
	if r == nil {
		return factor{}, 0, 0, 0, fmt.Errorf("mpc: matmul rows: no rows (nil)")
	}
	k, n = r.n, r.width
	if transposed {
		k, n = r.width, r.n
	}
	if len(x.Shape) != 3 || x.Shape[0] != r.batch || x.Shape[2] != k {
		t := ""
		if transposed {
			t = "ᵀ"
		}
		return factor{}, 0, 0, 0, fmt.Errorf("mpc: matmul rows: shape %v does not multiply rows%s of [%d, %d, %d]", x.Shape, t, r.batch, r.n, r.width)
	}
	f = factor{own: r.own, next: r.next, mask: &fixedMask{m: r.m, d: r.d, s: r.s}, stride: r.cap * r.width, t: transposed}
	return f, x.Shape[1], k, n, nil
}

// factor is the right operand of a matrix product as the kernels read it: its share arrays
// (and fixed mask, if any) hold batch matrices, k×n each (n×k, read transposed, when t is
// set), the h-th starting at word h·stride.
type factor struct {
	own, next []uint64
	mask      *fixedMask
	stride    int
	t         bool
}

// shareFactor is y (a packed batch of k×n matrices) as a factor.
func shareFactor(y *Share, k, n int) factor {
	return factor{own: y.Own, next: y.Next, mask: y.mask, stride: k * n}
}

// packed reports whether f is laid out as a Share of k×n matrices is.
func (f factor) packed(k, n int) bool { return !f.t && f.stride == k*n }

// times returns a_h·b_h for every batch, with b one of f's arrays.
func (f factor) times(a, b []uint64, batch, m, k, n int) []uint64 {
	c := make([]uint64, batch*m*n)
	ring.BatchMatMulStrided(c, a, b, batch, m, k, n, f.stride, f.t)
	return c
}

// timesAdd adds a_h·b_h into c for every batch, with b one of f's arrays.
func (f factor) timesAdd(c, a, b []uint64, batch, m, k, n int) {
	for i, v := range f.times(a, b, batch, m, k, n) {
		c[i] += v
	}
}

// pack returns b, one of f's arrays, as a packed batch of k×n matrices (a copy).
func (f factor) pack(b []uint64, batch, k, n int) []uint64 {
	out := make([]uint64, batch*k*n)
	for h := range batch {
		bh, oh := b[h*f.stride:h*f.stride+k*n], out[h*k*n:(h+1)*k*n]
		if f.t {
			transposeWords(oh, bh, n, k) // bh is n×k
		} else {
			copy(oh, bh)
		}
	}
	return out
}

// sum returns y_i + y_{i+1} of a replicated factor, precomputed when it is fixed.
func (f factor) sum() []uint64 {
	if f.mask != nil && f.mask.s != nil {
		return f.mask.s
	}
	return sum(f.own, f.next)
}
