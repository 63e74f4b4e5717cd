package ring

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// refMatMul is the naive reference: c[i][j] = Σ_p a[i][p]·b'[p][j] with b' = b or bᵀ.
func refMatMul(a, b []uint64, m, k, n int, bT bool) []uint64 {
	c := make([]uint64, m*n)
	for i := range m {
		for j := range n {
			var s uint64
			for p := range k {
				if bT {
					s += a[i*k+p] * b[j*k+p]
				} else {
					s += a[i*k+p] * b[p*n+j]
				}
			}
			c[i*n+j] = s
		}
	}
	return c
}

// randRing fills n values drawn to hit the carries between the 32-bit halves: uniform
// values, values near 0 and near 2^64, and values with all-one halves.
func randRing(r *rand.Rand, n int) []uint64 {
	x := make([]uint64, n)
	for i := range x {
		switch r.IntN(8) {
		case 0:
			x[i] = r.Uint64() >> 60
		case 1:
			x[i] = -(r.Uint64() >> 60)
		case 2:
			x[i] = 0xffffffff_ffffffff >> (r.IntN(2) * 32) << (r.IntN(2) * 32)
		default:
			x[i] = r.Uint64()
		}
	}
	return x
}

// paths lists the implementations the tests compare: the portable Go path, and the SIMD
// path where the CPU has it unless MPC_RING_NOASM disables it.
func paths() []struct {
	name string
	simd bool
} {
	ps := []struct {
		name string
		simd bool
	}{{"portable", false}}
	if hasSIMD && !noASMEnv() {
		ps = append(ps, struct {
			name string
			simd bool
		}{"simd", true})
	}
	return ps
}

type shape struct{ m, k, n int }

func testShapes(short bool) []shape {
	dims := []int{1, 2, 3, 4, 5, 6, 7, 8, 13, 16, 17, 63, 65}
	var s []shape
	for _, m := range dims {
		for _, k := range []int{0, 1, 3, 4, 7, 17, 64, 65} {
			for _, n := range dims {
				s = append(s, shape{m, k, n})
			}
		}
	}
	s = append(s,
		shape{0, 5, 3}, shape{3, 5, 0}, shape{0, 0, 0},
		shape{1, 768, 100}, shape{2, 300, 37}, shape{3, 1000, 18}, shape{7, 600, 21},
		shape{97, 300, 103}, shape{200, 513, 9}, shape{9, 513, 200}, shape{1, 5000, 5},
		shape{13, 1100, 29},
	)
	if !short {
		s = append(s, shape{300, 700, 301}, shape{1, 2048, 1030}, shape{103, 2000, 70})
	}
	return s
}

// TestMatMul compares every path, with one and several workers, against refMatMul.
func TestMatMul(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sh := range testShapes(testing.Short()) {
		t.Run(fmt.Sprintf("%dx%dx%d", sh.m, sh.k, sh.n), func(t *testing.T) {
			a := randRing(r, sh.m*sh.k)
			b := randRing(r, sh.k*sh.n)
			for _, bT := range []bool{false, true} {
				want := refMatMul(a, b, sh.m, sh.k, sh.n, bT)
				for _, path := range paths() {
					for _, workers := range []int{1, 2, 3} {
						c := randRing(r, sh.m*sh.n) // garbage that must be overwritten
						p := &product{c: c, a: a, b: b, m: sh.m, k: sh.k, n: sh.n, bT: bT}
						p.compute(path.simd, workers)
						if !slices.Equal(c, want) {
							t.Errorf("T=%v/%s/workers=%d: mismatch", bT, path.name, workers)
						}
					}
				}
			}
		})
	}
}

// TestPublicAPI checks MatMul and MatMulNT through the exported entry points, including
// slices longer than needed, on the default path and with the assembly disabled.
func TestPublicAPI(t *testing.T) {
	defer func(v bool) { useSIMD = v }(useSIMD)
	r := rand.New(rand.NewPCG(3, 4))
	for _, simd := range []bool{false, hasSIMD && !noASMEnv()} {
		useSIMD = simd
		for _, sh := range []shape{{1, 768, 2304}, {64, 64, 64}, {1, 64, 1024}, {50, 0, 7}, {3, 9, 1}} {
			t.Run(fmt.Sprintf("simd=%v/%dx%dx%d", simd, sh.m, sh.k, sh.n), func(t *testing.T) {
				a := randRing(r, sh.m*sh.k+3)
				b := randRing(r, sh.k*sh.n+5)
				c := randRing(r, sh.m*sh.n+2)
				tail := slices.Clone(c[sh.m*sh.n:])
				MatMul(c, a, b, sh.m, sh.k, sh.n)
				if want := refMatMul(a, b, sh.m, sh.k, sh.n, false); !slices.Equal(c[:sh.m*sh.n], want) {
					t.Errorf("MatMul mismatch")
				}
				MatMulNT(c, a, b, sh.m, sh.k, sh.n)
				if want := refMatMul(a, b, sh.m, sh.k, sh.n, true); !slices.Equal(c[:sh.m*sh.n], want) {
					t.Errorf("MatMulNT mismatch")
				}
				if !slices.Equal(c[sh.m*sh.n:], tail) {
					t.Errorf("wrote past m·n")
				}
			})
		}
	}
}

func TestMatMulPanicsOnShortSlices(t *testing.T) {
	for _, tc := range []struct {
		name    string
		c, a, b int
	}{{"short a", 6, 5, 6}, {"short b", 6, 6, 5}, {"short c", 5, 6, 6}} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("no panic")
				}
			}()
			MatMul(make([]uint64, tc.c), make([]uint64, tc.a), make([]uint64, tc.b), 2, 3, 3)
		})
	}
}

// TestNoASMEnv checks the documented switch.
func TestNoASMEnv(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{{"", false}, {"0", false}, {"1", true}, {"yes", true}} {
		t.Setenv("MPC_RING_NOASM", tc.v)
		if got := noASMEnv(); got != tc.want {
			t.Errorf("MPC_RING_NOASM=%q: noASMEnv() = %v, want %v", tc.v, got, tc.want)
		}
	}
}

// TestMatMulSmallBlocks shrinks every blocking parameter so that small shapes cross all
// block edges (several k blocks, row blocks, column blocks), with the direct (unpacked) SIMD
// path forced on and off.
func TestMatMulSmallBlocks(t *testing.T) {
	saved := []*int{&blockK, &blockM, &blockN, &directRowsNN, &directRowsNT, &directK,
		&portableK, &portableN, &portableNTRows}
	old := make([]int, len(saved))
	for i, p := range saved {
		old[i] = *p
	}
	t.Cleanup(func() {
		for i, p := range saved {
			*p = old[i]
		}
	})
	blockK, blockM, blockN, directK = 5, 12, 8, 3
	portableK, portableN, portableNTRows = 5, 6, 3
	r := rand.New(rand.NewPCG(7, 8))
	shapes := []shape{{1, 1, 1}, {1, 13, 37}, {2, 11, 9}, {5, 16, 17}, {7, 23, 16}, {13, 9, 35},
		{19, 17, 8}, {25, 12, 21}, {31, 40, 5}, {40, 7, 33}}
	for _, direct := range []int{0, 1000} {
		directRowsNN, directRowsNT = direct, direct
		for _, sh := range shapes {
			a := randRing(r, sh.m*sh.k)
			b := randRing(r, sh.k*sh.n)
			for _, bT := range []bool{false, true} {
				want := refMatMul(a, b, sh.m, sh.k, sh.n, bT)
				for _, path := range paths() {
					for _, workers := range []int{1, 2} {
						t.Run(fmt.Sprintf("direct=%v/%dx%dx%d/T=%v/%s/w=%d", direct > 0, sh.m, sh.k, sh.n, bT, path.name, workers), func(t *testing.T) {
							c := randRing(r, sh.m*sh.n)
							p := &product{c: c, a: a, b: b, m: sh.m, k: sh.k, n: sh.n, bT: bT}
							p.compute(path.simd, workers)
							if !slices.Equal(c, want) {
								t.Errorf("mismatch")
							}
						})
					}
				}
			}
		}
	}
}

// TestBatchMatMul checks the batched products item by item against refMatMul, for batches
// of small products (spread over workers) and of large ones (each split internally), packed
// and with each b_h in a larger block (BatchMatMulStrided).
func TestBatchMatMul(t *testing.T) {
	defer func(v bool) { useSIMD = v }(useSIMD)
	r := rand.New(rand.NewPCG(9, 10))
	for _, simd := range []bool{false, hasSIMD && !noASMEnv()} {
		useSIMD = simd
		for _, tc := range []struct{ batch, m, k, n int }{
			{0, 3, 3, 3}, {1, 2, 5, 7}, {3, 1, 64, 33}, {12, 1, 64, 100}, {5, 7, 0, 3}, {2, 70, 64, 90}, {4, 1, 1, 1},
		} {
			for _, bT := range []bool{false, true} {
				for _, pad := range []int{0, 13} {
					t.Run(fmt.Sprintf("simd=%v/%dx(%dx%dx%d)/T=%v/pad=%d", simd, tc.batch, tc.m, tc.k, tc.n, bT, pad), func(t *testing.T) {
						mk, kn, mn := tc.m*tc.k, tc.k*tc.n, tc.m*tc.n
						stride := kn + pad
						a := randRing(r, tc.batch*mk)
						b := randRing(r, tc.batch*stride)
						c := randRing(r, tc.batch*mn+1)
						last := c[tc.batch*mn]
						switch {
						case pad > 0:
							BatchMatMulStrided(c, a, b, tc.batch, tc.m, tc.k, tc.n, stride, bT)
						case bT:
							BatchMatMulNT(c, a, b, tc.batch, tc.m, tc.k, tc.n)
						default:
							BatchMatMul(c, a, b, tc.batch, tc.m, tc.k, tc.n)
						}
						for h := range tc.batch {
							want := refMatMul(a[h*mk:(h+1)*mk], b[h*stride:h*stride+kn], tc.m, tc.k, tc.n, bT)
							if !slices.Equal(c[h*mn:(h+1)*mn], want) {
								t.Errorf("item %d mismatch", h)
							}
						}
						if c[tc.batch*mn] != last {
							t.Errorf("wrote past batch·m·n")
						}
					})
				}
			}
		}
	}
	t.Run("short slice panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Errorf("no panic")
			}
		}()
		BatchMatMul(make([]uint64, 8), make([]uint64, 8), make([]uint64, 7), 2, 2, 2, 2)
	})
	t.Run("short strided slice panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Errorf("no panic")
			}
		}()
		BatchMatMulStrided(make([]uint64, 8), make([]uint64, 8), make([]uint64, 13), 2, 2, 2, 2, 10, false)
	})
	t.Run("stride below k·n panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Errorf("no panic")
			}
		}()
		BatchMatMulStrided(make([]uint64, 8), make([]uint64, 8), make([]uint64, 8), 2, 2, 2, 2, 3, false)
	})
}
