package mpc

import (
	"fmt"
	"slices"
)

// Share is one party's share of a secret tensor of the given shape.
//
// In 2pc, Own is the party's additive share (x = x0 + x1 mod 2^64) and Next is nil. In 3pc,
// party i holds the replicated pair (x_i, x_{i+1}) of x = x0 + x1 + x2 as Own and Next. The 2pc
// dealer runs every program on shapes alone: its shares have nil data.
type Share struct {
	Shape []int
	Own   []uint64
	Next  []uint64

	// mask, set by Engine.Fix, prepares the value as a repeated product operand: in 2pc a
	// Beaver mask M and the opened difference D = x − M, so products with it open only the other
	// operand; in 3pc the local sum Own + Next that every replicated product reads.
	mask *fixedMask
}

type fixedMask struct {
	m []uint64 // 2pc: this party's share of M (the dealer: all of M)
	d []uint64 // 2pc: D = x − M, known to P0 and P1 (nil at the dealer)
	s []uint64 // 3pc: x_i + x_{i+1}
}

// NewShare wraps share data received from outside (the client or a share file). next must be
// nil in 2pc and present in 3pc; lengths must match the shape.
func NewShare(shape []int, own, next []uint64) (*Share, error) {
	if err := validShape(shape); err != nil {
		return nil, fmt.Errorf("mpc: share: %w", err)
	}
	n := Numel(shape)
	if own != nil && len(own) != n || next != nil && len(next) != n {
		return nil, fmt.Errorf("mpc: share: data of %d/%d elements for shape %v", len(own), len(next), shape)
	}
	return &Share{Shape: slices.Clone(shape), Own: own, Next: next}, nil
}

// Len is the number of elements.
func (s *Share) Len() int { return Numel(s.Shape) }

// Fixed reports whether the value carries a fixed Beaver mask (see Engine.Fix).
func (s *Share) Fixed() bool { return s.mask != nil }

// remap builds the share whose element i is x's element idx[i], with the given shape. Any such
// copy of elements keeps a fixed mask valid, so the mask is remapped too.
func remap(x *Share, shape []int, idx []int) *Share {
	out := &Share{Shape: shape}
	take := func(src []uint64) []uint64 {
		if src == nil {
			return nil
		}
		dst := make([]uint64, len(idx))
		for i, j := range idx {
			dst[i] = src[j]
		}
		return dst
	}
	out.Own, out.Next = take(x.Own), take(x.Next)
	if x.mask != nil {
		out.mask = &fixedMask{m: take(x.mask.m), d: take(x.mask.d), s: take(x.mask.s)}
	}
	return out
}

// Reshape returns x with a new shape of the same element count (no data is copied).
func Reshape(x *Share, shape ...int) (*Share, error) {
	if err := validShape(shape); err != nil || Numel(shape) != x.Len() {
		return nil, fmt.Errorf("mpc: reshape %v to %v: element counts differ", x.Shape, shape)
	}
	return &Share{Shape: slices.Clone(shape), Own: x.Own, Next: x.Next, mask: x.mask}, nil
}

// Transpose swaps the last two axes of x.
func Transpose(x *Share) (*Share, error) {
	r := len(x.Shape)
	if r < 2 {
		return nil, fmt.Errorf("mpc: transpose: shape %v has fewer than two axes", x.Shape)
	}
	m, n := x.Shape[r-2], x.Shape[r-1]
	batch := Numel(x.Shape[:r-2])
	shape := slices.Clone(x.Shape)
	shape[r-2], shape[r-1] = n, m
	t := func(src []uint64) []uint64 {
		if src == nil {
			return nil
		}
		dst := make([]uint64, len(src))
		for b := 0; b < batch; b++ {
			transposeWords(dst[b*m*n:(b+1)*m*n], src[b*m*n:(b+1)*m*n], m, n)
		}
		return dst
	}
	out := &Share{Shape: shape, Own: t(x.Own), Next: t(x.Next)}
	if x.mask != nil {
		out.mask = &fixedMask{m: t(x.mask.m), d: t(x.mask.d), s: t(x.mask.s)}
	}
	return out, nil
}

// transposeTile is the side of the square blocks transposeWords copies: two 32×32 blocks of
// words (16 KiB) stay in the first-level cache.
const transposeTile = 32

// transposeWords writes the n×m transpose of the row-major m×n matrix src to dst, block by
// block, so that both sides are read and written a cache line at a time.
func transposeWords(dst, src []uint64, m, n int) {
	for i0 := 0; i0 < m; i0 += transposeTile {
		i1 := min(i0+transposeTile, m)
		for j0 := 0; j0 < n; j0 += transposeTile {
			j1 := min(j0+transposeTile, n)
			for i := i0; i < i1; i++ {
				row := src[i*n : i*n+n]
				for j := j0; j < j1; j++ {
					dst[j*m+i] = row[j]
				}
			}
		}
	}
}

// Take returns the entries of x at the public positions idx along axis (a slice, a public
// gather, or a reordering). Positions may repeat.
func Take(x *Share, axis int, idx []int) (*Share, error) {
	if axis < 0 {
		axis += len(x.Shape)
	}
	if axis < 0 || axis >= len(x.Shape) {
		return nil, fmt.Errorf("mpc: take: axis out of range for shape %v", x.Shape)
	}
	d := x.Shape[axis]
	for _, i := range idx {
		if i < 0 || i >= d {
			return nil, fmt.Errorf("mpc: take: index %d out of range [0,%d) on axis %d of %v", i, d, axis, x.Shape)
		}
	}
	outer, inner := Numel(x.Shape[:axis]), Numel(x.Shape[axis+1:])
	pos := make([]int, 0, outer*len(idx)*inner)
	for o := 0; o < outer; o++ {
		for _, i := range idx {
			base := (o*d + i) * inner
			for k := 0; k < inner; k++ {
				pos = append(pos, base+k)
			}
		}
	}
	shape := slices.Clone(x.Shape)
	shape[axis] = len(idx)
	return remap(x, shape, pos), nil
}

// Slice returns the entries lo..hi-1 of x along axis.
func Slice(x *Share, axis, lo, hi int) (*Share, error) {
	if lo < 0 || hi < lo {
		return nil, fmt.Errorf("mpc: slice [%d,%d) is not a range", lo, hi)
	}
	idx := make([]int, hi-lo)
	for i := range idx {
		idx[i] = lo + i
	}
	return Take(x, axis, idx)
}

// Concat joins shares along axis; all other dimensions must agree. The result keeps fixed masks
// only when every input has one.
func Concat(axis int, xs ...*Share) (*Share, error) {
	if len(xs) == 0 {
		return nil, fmt.Errorf("mpc: concat of nothing")
	}
	r := len(xs[0].Shape)
	if axis < 0 {
		axis += r
	}
	if axis < 0 || axis >= r {
		return nil, fmt.Errorf("mpc: concat: axis out of range for shape %v", xs[0].Shape)
	}
	shape := slices.Clone(xs[0].Shape)
	shape[axis] = 0
	allMasked := true
	for _, x := range xs {
		if len(x.Shape) != r {
			return nil, fmt.Errorf("mpc: concat: shapes %v and %v differ in rank", xs[0].Shape, x.Shape)
		}
		for d := range r {
			if d != axis && x.Shape[d] != xs[0].Shape[d] {
				return nil, fmt.Errorf("mpc: concat on axis %d: shapes %v and %v differ", axis, xs[0].Shape, x.Shape)
			}
		}
		shape[axis] += x.Shape[axis]
		allMasked = allMasked && x.mask != nil
	}
	outer, inner := Numel(shape[:axis]), Numel(shape[axis+1:])
	cat := func(get func(*Share) []uint64) []uint64 {
		if get(xs[0]) == nil {
			return nil
		}
		out := make([]uint64, 0, Numel(shape))
		for o := 0; o < outer; o++ {
			for _, x := range xs {
				w := x.Shape[axis] * inner
				out = append(out, get(x)[o*w:(o+1)*w]...)
			}
		}
		return out
	}
	out := &Share{Shape: shape}
	out.Own = cat(func(s *Share) []uint64 { return s.Own })
	out.Next = cat(func(s *Share) []uint64 { return s.Next })
	if allMasked {
		out.mask = &fixedMask{
			m: cat(func(s *Share) []uint64 { return s.mask.m }),
			d: cat(func(s *Share) []uint64 { return s.mask.d }),
			s: cat(func(s *Share) []uint64 { return s.mask.s }),
		}
	}
	return out, nil
}

// Broadcast expands x to shape under numpy broadcasting rules (copying elements).
func Broadcast(x *Share, shape ...int) (*Share, error) {
	if _, err := broadcastShape(x.Shape, shape); err != nil || len(shape) < len(x.Shape) {
		return nil, fmt.Errorf("mpc: broadcast %v to %v: not broadcastable", x.Shape, shape)
	}
	if b, _ := broadcastShape(x.Shape, shape); !slices.Equal(b, shape) {
		return nil, fmt.Errorf("mpc: broadcast %v to %v: not broadcastable", x.Shape, shape)
	}
	return remap(x, slices.Clone(shape), broadcastIndex(x.Shape, shape)), nil
}

// Permute reorders the axes of x: axis i of the result is axis perm[i] of x.
func Permute(x *Share, perm ...int) (*Share, error) {
	r := len(x.Shape)
	if len(perm) != r {
		return nil, fmt.Errorf("mpc: permute %v: %d axes given for rank %d", x.Shape, len(perm), r)
	}
	seen := make([]bool, r)
	shape := make([]int, r)
	for i, p := range perm {
		if p < 0 || p >= r || seen[p] {
			return nil, fmt.Errorf("mpc: permute %v: %v is not a permutation", x.Shape, perm)
		}
		seen[p] = true
		shape[i] = x.Shape[p]
	}
	// strides of x, read in the order of the result's axes.
	stride := make([]int, r)
	s := 1
	for i := r - 1; i >= 0; i-- {
		stride[i] = s
		s *= x.Shape[i]
	}
	idx := make([]int, 0, x.Len())
	coord := make([]int, r)
	for range x.Len() {
		off := 0
		for i, c := range coord {
			off += c * stride[perm[i]]
		}
		idx = append(idx, off)
		for d := r - 1; d >= 0; d-- {
			coord[d]++
			if coord[d] < shape[d] {
				break
			}
			coord[d] = 0
		}
	}
	return remap(x, shape, idx), nil
}
