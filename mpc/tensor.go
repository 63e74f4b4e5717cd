package mpc

import (
	"fmt"
	"math"
	"slices"
)

// Tensor is a public tensor over Z_2^64: a flat row-major []uint64 with a shape.
type Tensor struct {
	Shape []int
	Data  []uint64
}

// NewTensor returns a zero tensor of the given shape.
func NewTensor(shape ...int) *Tensor {
	return &Tensor{Shape: slices.Clone(shape), Data: make([]uint64, Numel(shape))}
}

// Numel is the number of elements of a tensor of the given shape (1 for a scalar shape).
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Scalar returns a public scalar tensor (shape [1]) holding the ring element v.
func Scalar(v uint64) *Tensor { return &Tensor{Shape: []int{1}, Data: []uint64{v}} }

// Encode returns the fixed-point encoding of x with frac fractional bits: round(x·2^frac) as a
// two's-complement ring element. |x| must stay below 2^(62-frac) for later products to fit.
func Encode(x float64, frac uint) uint64 {
	return uint64(int64(math.RoundToEven(math.Ldexp(x, int(frac)))))
}

// Decode returns the real value of the fixed-point ring element v with frac fractional bits.
func Decode(v uint64, frac uint) float64 {
	return math.Ldexp(float64(int64(v)), -int(frac))
}

// EncodeTensor encodes xs in fixed point with frac fractional bits into a tensor of the given
// shape; len(xs) must equal the shape's element count.
func EncodeTensor(xs []float64, frac uint, shape ...int) (*Tensor, error) {
	if len(shape) == 0 {
		shape = []int{len(xs)}
	}
	if Numel(shape) != len(xs) {
		return nil, fmt.Errorf("mpc: encode: %d values do not fill shape %v", len(xs), shape)
	}
	t := &Tensor{Shape: slices.Clone(shape), Data: make([]uint64, len(xs))}
	for i, x := range xs {
		t.Data[i] = Encode(x, frac)
	}
	return t, nil
}

// DecodeTensor returns the real values of a fixed-point tensor with frac fractional bits.
func DecodeTensor(t *Tensor, frac uint) []float64 {
	out := make([]float64, len(t.Data))
	for i, v := range t.Data {
		out[i] = Decode(v, frac)
	}
	return out
}

// IntTensor returns a public tensor of plain (unscaled) integers, e.g. 0/1 masks or indices.
func IntTensor(xs []int64, shape ...int) (*Tensor, error) {
	if len(shape) == 0 {
		shape = []int{len(xs)}
	}
	if Numel(shape) != len(xs) {
		return nil, fmt.Errorf("mpc: int tensor: %d values do not fill shape %v", len(xs), shape)
	}
	t := &Tensor{Shape: slices.Clone(shape), Data: make([]uint64, len(xs))}
	for i, x := range xs {
		t.Data[i] = uint64(x)
	}
	return t, nil
}

// broadcastShape returns the numpy-style broadcast of shapes a and b.
func broadcastShape(a, b []int) ([]int, error) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := 0; i < n; i++ {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

// broadcastIndex returns, for every element of shape to, the flat index of the element of shape
// from that it reads under numpy broadcasting (from must broadcast to to).
func broadcastIndex(from, to []int) []int {
	n := Numel(to)
	idx := make([]int, n)
	if slices.Equal(from, to) {
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	// strides of from, aligned to the right of to; zero where from broadcasts.
	strides := make([]int, len(to))
	s := 1
	for i := len(to) - 1; i >= 0; i-- {
		j := len(from) - len(to) + i
		if j >= 0 && from[j] != 1 {
			strides[i] = s
		}
		if j >= 0 {
			s *= from[j]
		}
	}
	coord := make([]int, len(to))
	off := 0
	for i := 0; i < n; i++ {
		idx[i] = off
		for d := len(to) - 1; d >= 0; d-- {
			coord[d]++
			off += strides[d]
			if coord[d] < to[d] {
				break
			}
			off -= strides[d] * coord[d]
			coord[d] = 0
		}
	}
	return idx
}

func validShape(shape []int) error {
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("negative dimension in shape %v", shape)
		}
	}
	return nil
}
