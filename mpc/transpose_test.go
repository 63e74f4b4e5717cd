package mpc

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestTranspose checks Transpose entry by entry against the definition, on every array a share
// carries (its own and next parts, and a fixed operand's mask, difference and sum), for shapes
// with and without batch axes, square, thin, and not multiples of the copy's block size.
func TestTranspose(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	fill := func(n int) []uint64 {
		v := make([]uint64, n)
		for i := range v {
			v[i] = r.Uint64()
		}
		return v
	}
	for _, shape := range [][]int{{1, 1}, {1, 7}, {7, 1}, {32, 32}, {33, 31}, {3, 65, 40}, {2, 2, 5, 70}} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			n := Numel(shape)
			x := &Share{Shape: shape, Own: fill(n), Next: fill(n), mask: &fixedMask{m: fill(n), d: fill(n), s: fill(n)}}
			y, err := Transpose(x)
			if err != nil {
				t.Fatal(err)
			}
			rk := len(shape)
			rows, cols := shape[rk-2], shape[rk-1]
			if y.Shape[rk-2] != cols || y.Shape[rk-1] != rows {
				t.Fatalf("shape %v", y.Shape)
			}
			for name, pair := range map[string][2][]uint64{"own": {x.Own, y.Own}, "next": {x.Next, y.Next},
				"mask": {x.mask.m, y.mask.m}, "difference": {x.mask.d, y.mask.d}, "sum": {x.mask.s, y.mask.s}} {
				for b := range n / (rows * cols) {
					for i := range rows {
						for j := range cols {
							if got, want := pair[1][b*rows*cols+j*rows+i], pair[0][b*rows*cols+i*cols+j]; got != want {
								t.Fatalf("%s: batch %d, (%d, %d) of the transpose is %d, want %d", name, b, j, i, got, want)
							}
						}
					}
				}
			}
		})
	}
	if _, err := Transpose(&Share{Shape: []int{4}, Own: fill(4)}); err == nil {
		t.Fatal("transposed a vector")
	}
}

// BenchmarkTranspose is the classifier's transpose of GPT-2's tied embedding (50257×768), one array.
func BenchmarkTranspose(b *testing.B) {
	const m, n = 50257, 768
	x := &Share{Shape: []int{m, n}, Own: make([]uint64, m*n)}
	b.SetBytes(8 * m * n)
	for b.Loop() {
		if _, err := Transpose(x); err != nil {
			b.Fatal(err)
		}
	}
}
