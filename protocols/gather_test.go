package protocols

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/privinfer/mpcache/mpc"
)

type gatherCase struct {
	name      string
	selShape  []int // (…, k, n)
	rowsShape []int // (…, n, d)
	fix       bool  // Fix the rows first (2pc: only the selection is opened)
	zeroRow   bool  // the last selection row of each batch is all zero
}

func gatherCases() []gatherCase {
	return []gatherCase{
		{"plain", []int{3, 5}, []int{5, 4}, false, false},
		{"k=n", []int{4, 4}, []int{4, 2}, false, false},
		{"heads", []int{12, 8, 32}, []int{12, 32, 64}, false, false},
		{"heads-fixed", []int{12, 8, 32}, []int{12, 32, 64}, true, false},
		{"shared-rows", []int{12, 4, 16}, []int{16, 8}, false, false},
		{"broadcast-batch", []int{2, 3, 4, 6}, []int{1, 3, 6, 5}, false, true},
		{"n=1", []int{2, 1, 1}, []int{2, 1, 3}, false, false},
	}
}

func TestGather(t *testing.T) {
	for _, p := range testProtocols {
		for ci, c := range gatherCases() {
			t.Run(fmt.Sprintf("%s/%s", p, c.name), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(ci), 3))
				rs, rr := len(c.selShape), len(c.rowsShape)
				k, n, d := c.selShape[rs-2], c.selShape[rs-1], c.rowsShape[rr-1]
				nsel := mpc.Numel(c.selShape) / (k * n)
				pick := make([]int, nsel*k) // position picked by each selection row, -1: none
				sel := make([]int64, nsel*k*n)
				for i := range pick {
					pick[i] = r.IntN(n)
					if c.zeroRow && i%k == k-1 {
						pick[i] = -1
						continue
					}
					sel[i*n+pick[i]] = 1
				}
				rows := randValues(r, mpc.Numel(c.rowsShape))
				ss := shareInts(t, p, sel, c.selShape...)
				rws := shareFloats(t, p, rows, c.rowsShape...)
				res := run(t, p, func(e mpc.Engine) (*mpc.Share, error) {
					y := rws[e.Party()]
					if c.fix {
						var err error
						if y, err = fixOne(e, y); err != nil {
							return nil, err
						}
					}
					return Gather(e, ss[e.Party()], y)
				})
				// expected shape: broadcast batch + [k, d]
				bs := bcastShape(c.selShape[:rs-2], c.rowsShape[:rr-2])
				if want := append(slices.Clone(bs), k, d); !slices.Equal(res[0].Shape, want) {
					t.Fatalf("shape %v, want %v", res[0].Shape, want)
				}
				got := revealFloats(t, p, res)
				nb := mpc.Numel(bs)
				for b := 0; b < nb; b++ {
					sb := bcastIndex(b, bs, c.selShape[:rs-2])
					rb := bcastIndex(b, bs, c.rowsShape[:rr-2])
					for i := 0; i < k; i++ {
						pos := pick[sb*k+i]
						for j := 0; j < d; j++ {
							want := 0.0
							if pos >= 0 {
								want = rows[(rb*n+pos)*d+j]
							}
							if g := got[(b*k+i)*d+j]; g != want {
								t.Fatalf("batch %d row %d col %d: %v, want %v", b, i, j, g, want)
							}
						}
					}
				}
			})
		}
	}
}

// broadcast is the numpy broadcast of two batch shapes.
func bcastShape(a, b []int) []int {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := range out {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		out[i] = max(da, db)
	}
	return out
}

// bcastIndex maps flat batch index b of shape to the flat index of the operand batch shape
// from that broadcasts to it.
func bcastIndex(b int, to, from []int) int {
	idx, stride := 0, 1
	for i := len(to) - 1; i >= 0; i-- {
		c := b % to[i]
		b /= to[i]
		if j := len(from) - len(to) + i; j >= 0 {
			if from[j] != 1 {
				idx += c * stride
			}
			stride *= from[j]
		}
	}
	return idx
}

func TestGatherCost(t *testing.T) {
	const h, k, n, d = 12, 8, 32, 64
	for _, p := range testProtocols {
		for _, fix := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/fixed=%v", p, fix), func(t *testing.T) {
				ss := shareInts(t, p, make([]int64, h*k*n), h, k, n)
				rws := shareFloats(t, p, make([]float64, h*n*d), h, n, d)
				_, st := measure(t, p, "gather", func(e mpc.Engine) (*mpc.Share, error) {
					y := rws[e.Party()]
					if fix {
						done := e.Meter().Scope("fix") // charged below "gather/fix": subtracted
						var err error
						y, err = fixOne(e, y)
						done()
						if err != nil {
							return nil, err
						}
						e.Meter().Reset()
					}
					return Gather(e, ss[e.Party()], y)
				})
				want := matMulCost(p, h, k, n, d)
				if fix && p == mpc.TwoPC {
					want.sent = [3]int64{8 * h * k * n, 8 * h * k * n, 0}
				}
				assertMeterCost(t, st, want)
			})
		}
	}
}

func TestGatherBadInput(t *testing.T) {
	for _, p := range testProtocols {
		t.Run(string(p), func(t *testing.T) {
			a := shareInts(t, p, make([]int64, 6), 2, 3)
			b := shareFloats(t, p, make([]float64, 8), 4, 2)
			c := shareFloats(t, p, make([]float64, 12), 2, 3, 2)
			v := shareFloats(t, p, make([]float64, 3), 3)
			run(t, p, func(e mpc.Engine) (*mpc.Share, error) {
				for _, bad := range []struct {
					sel, rows *mpc.Share
					want      string
				}{
					{a[e.Party()], b[e.Party()], "picks among 3 rows"},
					{a[e.Party()], v[e.Party()], "two axes"},
					{&mpc.Share{Shape: []int{3, 2, 3}}, c[e.Party()], "do not broadcast"},
				} {
					if _, err := Gather(e, bad.sel, bad.rows); err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), "gather") {
						return nil, fmt.Errorf("want error %q, got %v", bad.want, err)
					}
				}
				return a[e.Party()], nil
			})
		})
	}
}

func TestOneHot(t *testing.T) {
	for _, p := range testProtocols {
		for _, n := range []int{1, 2, 7, 16, 33} {
			t.Run(fmt.Sprintf("%s/n=%d", p, n), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(n), 5))
				idx := make([]int64, 12*3)
				for i := range idx {
					idx[i] = int64(r.IntN(n))
				}
				sh := shareInts(t, p, idx, 12, 3)
				out, st := measure(t, p, "onehot", func(e mpc.Engine) (*mpc.Share, error) {
					return OneHot(e, sh[e.Party()], n)
				})
				if !slices.Equal(out[0].Shape, []int{12, 3, n}) {
					t.Fatalf("shape %v", out[0].Shape)
				}
				got := revealInts(t, p, out)
				for i, v := range idx {
					for j := 0; j < n; j++ {
						want := int64(0)
						if int64(j) == v {
							want = 1
						}
						if got[i*n+j] != want {
							t.Fatalf("one-hot(%d)[%d] = %d", v, j, got[i*n+j])
						}
					}
				}
				assertMeterCost(t, st, oneHotCost(p, len(idx), n))
			})
		}
	}
	t.Run("bad", func(t *testing.T) {
		p := mpc.TwoPC
		sh := shareInts(t, p, []int64{0})
		run(t, p, func(e mpc.Engine) (*mpc.Share, error) {
			if _, err := OneHot(e, sh[e.Party()], 0); err == nil || !strings.Contains(err.Error(), "one-hot") {
				return nil, fmt.Errorf("one-hot of width 0: %v", err)
			}
			return sh[e.Party()], nil
		})
	})
}

// BenchmarkGather: 12 heads gather 64 selected rows of 1024 (d = 64) from a fixed KV cache;
// per output element.
func BenchmarkGather(b *testing.B) {
	const h, k, n, d = 12, 64, 1024, 64
	for _, p := range testProtocols {
		b.Run(fmt.Sprintf("%s/%dof%dx%d", p, k, n, d), func(b *testing.B) {
			sel := make([]int64, h*k*n)
			for i := 0; i < h*k; i++ {
				sel[i*n+i%n] = 1
			}
			ss := shareInts(b, p, sel, h, k, n)
			rs := shareFloats(b, p, make([]float64, h*n*d), h, n, d)
			benchOp(b, p, h*k*d, func(e mpc.Engine) error {
				y, err := fixOne(e, rs[e.Party()])
				if err != nil {
					return err
				}
				e.Meter().Reset()
				_, err = Gather(e, ss[e.Party()], y)
				return err
			})
		})
	}
}

// fixOne applies mpc.Engine.Fix to one operand.
func fixOne(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
	ys, err := e.Fix(x)
	if err != nil {
		return nil, err
	}
	return ys[0], nil
}

// matMulCost is the engine's MatMul of batch products (m×k)·(k×n) with unfixed operands.
func matMulCost(p mpc.Protocol, batch, m, k, n int) meterCost {
	nx, ny, nz := int64(batch*m*k), int64(batch*k*n), int64(batch*m*n)
	if p == mpc.TwoPC {
		s := 8 * (nx + ny)
		return meterCost{[3]int64{1, 1, 0}, [3]int64{s, s, 0}, [3]int64{0, 8 * nz, 0}}
	}
	return meterCost{[3]int64{1, 1, 1}, [3]int64{8 * nz, 8 * nz, 8 * nz}, [3]int64{}}
}
