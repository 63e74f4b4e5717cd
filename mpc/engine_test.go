package mpc_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/fss"
	"github.com/privinfer/mpcache/mpc/mpctest"
	"github.com/privinfer/mpcache/mpc/prg"
	"github.com/privinfer/mpcache/mpc/transport"
)

var protocols = []mpc.Protocol{mpc.TwoPC, mpc.ThreePC}

type netCase struct {
	name string
	nw   mpctest.Network
}

func networks(t *testing.T) []netCase {
	return []netCase{{"memory", mpctest.Memory}, {"loopback", mpctest.Loopback}}
}

// split shares a public tensor the way the client does, with a fixed test seed.
func split(t testing.TB, p mpc.Protocol, x *mpc.Tensor) []*mpc.Share {
	t.Helper()
	var seed prg.Seed
	copy(seed[:], "test seed split!")
	s, err := mpc.SplitWith(p, x, prg.New(seed.Derive(fmt.Sprint(x.Shape, len(x.Data)))))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randRing(r *rand.Rand, n int, bits uint) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		v := int64(r.Uint64() >> (64 - bits))
		v -= 1 << (bits - 1)
		out[i] = uint64(v)
	}
	return out
}

func TestOpenInput(t *testing.T) {
	for _, p := range protocols {
		for _, nw := range networks(t) {
			t.Run(string(p)+"/"+nw.name, func(t *testing.T) {
				r := rand.New(rand.NewPCG(1, 2))
				x := &mpc.Tensor{Shape: []int{3, 5}, Data: randRing(r, 15, 64)}
				xs := split(t, p, x)
				type out struct{ all, to0, in *mpc.Tensor }
				res := mpctest.Run(t, p, nw.nw, mpc.Config{}, func(e mpc.Engine) (out, error) {
					var o out
					var err error
					if o.all, err = e.Open(xs[e.Party()]); err != nil {
						return o, err
					}
					if o.to0, err = e.OpenTo(0, xs[e.Party()]); err != nil {
						return o, err
					}
					var own *mpc.Tensor
					if e.Party() == 1 {
						own = x
					}
					s, err := e.Input(1, own, x.Shape)
					if err != nil {
						return o, err
					}
					o.in, err = e.Open(s)
					return o, err
				})
				for i := 0; i < 2; i++ {
					if !slices.Equal(res[i].all.Data, x.Data) || !slices.Equal(res[i].in.Data, x.Data) {
						t.Fatalf("party %d opened a wrong value", i)
					}
				}
				if !slices.Equal(res[0].to0.Data, x.Data) || res[1].to0 != nil || res[2].to0 != nil {
					t.Fatalf("open to P0 delivered to the wrong parties")
				}
				if p == mpc.ThreePC && !slices.Equal(res[2].all.Data, x.Data) {
					t.Fatalf("P2 opened a wrong value")
				}
			})
		}
	}
}

func TestLinear(t *testing.T) {
	for _, p := range protocols {
		for _, nw := range networks(t) {
			t.Run(string(p)+"/"+nw.name, func(t *testing.T) {
				r := rand.New(rand.NewPCG(3, 4))
				x := &mpc.Tensor{Shape: []int{2, 3, 4}, Data: randRing(r, 24, 64)}
				y := &mpc.Tensor{Shape: []int{3, 1}, Data: randRing(r, 3, 64)}
				pub := &mpc.Tensor{Shape: []int{4}, Data: randRing(r, 4, 64)}
				w := &mpc.Tensor{Shape: []int{4, 2}, Data: randRing(r, 8, 64)}
				xs, ys := split(t, p, x), split(t, p, y)
				res := mpctest.Run(t, p, nw.nw, mpc.Config{}, func(e mpc.Engine) ([]*mpc.Share, error) {
					a, b := xs[e.Party()], ys[e.Party()]
					add, err := e.Add(a, b)
					if err != nil {
						return nil, err
					}
					sub, _ := e.Sub(a, b)
					neg, _ := e.Neg(a)
					ap, err := e.AddPublic(a, pub)
					if err != nil {
						return nil, err
					}
					mp, _ := e.MulPublic(a, pub)
					mm, err := e.MatMulPublic(a, w)
					if err != nil {
						return nil, err
					}
					return []*mpc.Share{add, sub, neg, ap, mp, mm}, nil
				})
				got := func(k int) []uint64 {
					return mpctest.Reveal(t, p, []*mpc.Share{res[0][k], res[1][k], res[2][k]}).Data
				}
				for i := 0; i < 24; i++ {
					j := i / 4 % 3
					if got(0)[i] != x.Data[i]+y.Data[j] || got(1)[i] != x.Data[i]-y.Data[j] || got(2)[i] != -x.Data[i] {
						t.Fatalf("add/sub/neg wrong at %d", i)
					}
					if got(3)[i] != x.Data[i]+pub.Data[i%4] || got(4)[i] != x.Data[i]*pub.Data[i%4] {
						t.Fatalf("public add/mul wrong at %d", i)
					}
				}
				for row := 0; row < 6; row++ {
					for c := 0; c < 2; c++ {
						var s uint64
						for k := 0; k < 4; k++ {
							s += x.Data[row*4+k] * w.Data[k*2+c]
						}
						if got(5)[row*2+c] != s {
							t.Fatalf("public matmul wrong at %d,%d", row, c)
						}
					}
				}
			})
		}
	}
}

func TestMulAndTrunc(t *testing.T) {
	const frac = 16
	for _, p := range protocols {
		for _, nw := range networks(t) {
			t.Run(string(p)+"/"+nw.name, func(t *testing.T) {
				r := rand.New(rand.NewPCG(5, 6))
				n := 2000
				xf, yf := make([]float64, n), make([]float64, n)
				for i := range xf {
					// magnitudes over many orders; products stay below 2^30 (2^62 in the ring).
					xf[i] = (r.Float64()*2 - 1) * math.Pow(2, float64(r.IntN(15)))
					yf[i] = (r.Float64()*2 - 1) * math.Pow(2, float64(r.IntN(15)))
				}
				x, _ := mpc.EncodeTensor(xf, frac)
				y, _ := mpc.EncodeTensor(yf, frac)
				xs, ys := split(t, p, x), split(t, p, y)
				res := mpctest.Run(t, p, nw.nw, mpc.Config{Frac: frac}, func(e mpc.Engine) ([]*mpc.Share, error) {
					m, err := e.Mul(xs[e.Party()], ys[e.Party()])
					if err != nil {
						return nil, err
					}
					mt, err := e.MulTrunc(xs[e.Party()], ys[e.Party()])
					if err != nil {
						return nil, err
					}
					mb, err := e.MulTruncBits(xs[e.Party()], ys[e.Party()], 2*frac-3)
					if err != nil {
						return nil, err
					}
					return []*mpc.Share{m, mt, mb}, nil
				})
				ring := mpctest.Reveal(t, p, []*mpc.Share{res[0][0], res[1][0], res[2][0]})
				fx := mpctest.Reveal(t, p, []*mpc.Share{res[0][1], res[1][1], res[2][1]})
				fb := mpctest.Reveal(t, p, []*mpc.Share{res[0][2], res[1][2], res[2][2]})
				for i := 0; i < n; i++ {
					if ring.Data[i] != x.Data[i]*y.Data[i] {
						t.Fatalf("ring product wrong at %d", i)
					}
					want := int64(x.Data[i]*y.Data[i]) >> frac
					if d := int64(fx.Data[i]) - want; d < 0 || d > 1 {
						t.Fatalf("truncated product at %d: got %d want %d (+1 allowed)", i, int64(fx.Data[i]), want)
					}
					want = int64(x.Data[i]*y.Data[i]) >> (2*frac - 3)
					if d := int64(fb.Data[i]) - want; d < 0 || d > 1 {
						t.Fatalf("product truncated by %d bits at %d: got %d want %d (+1 allowed)", 2*frac-3, i, int64(fb.Data[i]), want)
					}
				}
			})
		}
	}
}

// TestTruncRange checks truncation over its whole supported range |x| < 2^62, edges included.
func TestTruncRange(t *testing.T) {
	edges := []int64{0, 1, -1, 2, -2, 1<<16 - 1, -(1 << 16), 1<<62 - 1, -(1 << 62), 1<<61 + 12345, -(1<<61 + 12345), 1 << 40, -(1 << 40)}
	r := rand.New(rand.NewPCG(7, 8))
	vals := slices.Clone(edges)
	for i := 0; i < 5000; i++ {
		vals = append(vals, int64(r.Uint64()>>2)-(1<<61)*2) // uniform in [-2^62, 2^62)
	}
	x := &mpc.Tensor{Shape: []int{len(vals)}}
	for _, v := range vals {
		x.Data = append(x.Data, uint64(v))
	}
	for _, p := range protocols {
		for _, nw := range networks(t) {
			for _, bits := range []uint{1, 16, 30} {
				t.Run(fmt.Sprintf("%s/%s/%dbits", p, nw.name, bits), func(t *testing.T) {
					xs := split(t, p, x)
					res := mpctest.Run(t, p, nw.nw, mpc.Config{}, func(e mpc.Engine) (*mpc.Share, error) {
						return e.Trunc(xs[e.Party()], bits)
					})
					got := mpctest.Reveal(t, p, res)
					for i, v := range vals {
						want := v >> bits
						if d := int64(got.Data[i]) - want; d < 0 || d > 1 {
							t.Fatalf("trunc(%d, %d) = %d, want %d (+1 allowed)", v, bits, int64(got.Data[i]), want)
						}
					}
				})
			}
		}
	}
}

func TestMatMul(t *testing.T) {
	cases := []struct {
		name       string
		xs, ys     []int
		fixX, fixY bool
	}{
		{"plain", []int{3, 5}, []int{5, 4}, false, false},
		{"batched", []int{2, 3, 5}, []int{2, 5, 4}, false, false},
		{"weight", []int{2, 3, 5}, []int{5, 4}, false, false},
		{"broadcast-batch", []int{2, 3, 5}, []int{1, 5, 4}, false, false},
		{"fixed-right", []int{3, 5}, []int{5, 4}, false, true},
		{"fixed-left", []int{3, 5}, []int{5, 4}, true, false},
		{"fixed-both", []int{2, 3, 5}, []int{2, 5, 4}, true, true},
		{"row", []int{1, 64}, []int{64, 1}, false, true},
	}
	for _, p := range protocols {
		for _, nw := range networks(t) {
			for _, c := range cases {
				t.Run(string(p)+"/"+nw.name+"/"+c.name, func(t *testing.T) {
					r := rand.New(rand.NewPCG(9, 10))
					x := &mpc.Tensor{Shape: c.xs, Data: randRing(r, mpc.Numel(c.xs), 64)}
					y := &mpc.Tensor{Shape: c.ys, Data: randRing(r, mpc.Numel(c.ys), 64)}
					xs, ys := split(t, p, x), split(t, p, y)
					res := mpctest.Run(t, p, nw.nw, mpc.Config{}, func(e mpc.Engine) (*mpc.Share, error) {
						a, b := xs[e.Party()], ys[e.Party()]
						var fix []*mpc.Share
						if c.fixX {
							fix = append(fix, a)
						}
						if c.fixY {
							fix = append(fix, b)
						}
						f, err := e.Fix(fix...)
						if err != nil {
							return nil, err
						}
						if c.fixX {
							a, f = f[0], f[1:]
						}
						if c.fixY {
							b = f[0]
						}
						// Use a fixed operand twice: the mask is reused.
						if _, err := e.MatMul(a, b); err != nil {
							return nil, err
						}
						return e.MatMul(a, b)
					})
					got := mpctest.Reveal(t, p, res)
					if want := mpctest.MatMul(x, y); !slices.Equal(got.Data, want) {
						t.Fatalf("matmul %v·%v wrong", c.xs, c.ys)
					}
				})
			}
		}
	}
}

// TestMatMulTrunc checks MatMulTrunc and MatMulTruncBits against the exact product shifted
// (one unit of error allowed), batched inner products included, and their traffic.
func TestMatMulTrunc(t *testing.T) {
	const frac, bits = 16, 40
	const batch, m, k, n = 50, 1, 2, 1
	r := rand.New(rand.NewPCG(15, 16))
	// |entries| < 2^29: products and their sums stay below 2^59.
	x := &mpc.Tensor{Shape: []int{batch, m, k}, Data: randRing(r, batch*m*k, 30)}
	y := &mpc.Tensor{Shape: []int{batch, k, n}, Data: randRing(r, batch*k*n, 30)}
	exact := mpctest.MatMul(x, y)
	for _, p := range protocols {
		for _, nw := range networks(t) {
			t.Run(string(p)+"/"+nw.name, func(t *testing.T) {
				xs, ys := split(t, p, x), split(t, p, y)
				type out struct {
					z  []*mpc.Share
					st mpc.Stat
				}
				res := mpctest.Run(t, p, nw.nw, mpc.Config{Frac: frac}, func(e mpc.Engine) (out, error) {
					a, err := e.MatMulTrunc(xs[e.Party()], ys[e.Party()])
					if err != nil {
						return out{}, err
					}
					e.Meter().Reset()
					b, err := e.MatMulTruncBits(xs[e.Party()], ys[e.Party()], bits)
					return out{[]*mpc.Share{a, b}, e.Meter().Total()}, err
				})
				for j, sh := range []uint{frac, bits} {
					got := mpctest.Reveal(t, p, []*mpc.Share{res[0].z[j], res[1].z[j], res[2].z[j]})
					for i, v := range exact {
						if d := int64(got.Data[i]) - int64(v)>>sh; d < 0 || d > 1 {
							t.Fatalf("product %d truncated by %d: got %d, want %d (+1 allowed)", i, sh, int64(got.Data[i]), int64(v)>>sh)
						}
					}
				}
				want := [3]mpc.Stat{
					{Rounds: 2, OnlineSent: 8 * (batch*(m*k+k*n) + batch*m*n), OfflineRecv: 0},
					{Rounds: 2, OnlineSent: 8 * (batch*(m*k+k*n) + batch*m*n), OfflineRecv: 24 * batch * m * n},
				}
				if p == mpc.ThreePC {
					want[0] = mpc.Stat{Rounds: 2, OnlineSent: 16 * batch * m * n}
					want[1] = mpc.Stat{Rounds: 2, OnlineSent: 16 * batch * m * n, OfflineRecv: 16 * batch * m * n}
				}
				for i := range 2 {
					s := res[i].st
					if s.Rounds != want[i].Rounds || s.OnlineSent != want[i].OnlineSent || s.OfflineRecv != want[i].OfflineRecv {
						t.Errorf("party %d: rounds %d sent %d offline %d; want %d %d %d", i, s.Rounds, s.OnlineSent, s.OfflineRecv,
							want[i].Rounds, want[i].OnlineSent, want[i].OfflineRecv)
					}
				}
			})
		}
	}
}

// TestFixedConcat grows a fixed operand row by row, as a KV cache does, and multiplies with it.
func TestFixedConcat(t *testing.T) {
	for _, p := range protocols {
		for _, nw := range networks(t) {
			t.Run(string(p)+"/"+nw.name, func(t *testing.T) {
				r := rand.New(rand.NewPCG(11, 12))
				k := &mpc.Tensor{Shape: []int{4, 3}, Data: randRing(r, 12, 64)}
				q := &mpc.Tensor{Shape: []int{1, 3}, Data: randRing(r, 3, 64)}
				ks, qs := split(t, p, k), split(t, p, q)
				res := mpctest.Run(t, p, nw.nw, mpc.Config{}, func(e mpc.Engine) (*mpc.Share, error) {
					var cache *mpc.Share
					for row := 0; row < 4; row++ {
						kr, err := mpc.Slice(ks[e.Party()], 0, row, row+1)
						if err != nil {
							return nil, err
						}
						f, err := e.Fix(kr)
						if err != nil {
							return nil, err
						}
						kr = f[0]
						if cache == nil {
							cache = kr
						} else if cache, err = mpc.Concat(0, cache, kr); err != nil {
							return nil, err
						}
					}
					kt, err := mpc.Transpose(cache)
					if err != nil {
						return nil, err
					}
					if p == mpc.TwoPC && !kt.Fixed() {
						return nil, errors.New("transposed concatenation lost its fixed mask")
					}
					return e.MatMul(qs[e.Party()], kt)
				})
				got := mpctest.Reveal(t, p, res)
				for j := 0; j < 4; j++ {
					var s uint64
					for l := 0; l < 3; l++ {
						s += q.Data[l] * k.Data[j*3+l]
					}
					if got.Data[j] != s {
						t.Fatalf("score %d wrong", j)
					}
				}
			})
		}
	}
}

func TestLTZAndSelect(t *testing.T) {
	edges := []int64{0, 1, -1, 2, -2, math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1, 1 << 62, -(1 << 62), 1 << 32, -(1 << 32), 1<<63 - 1<<20}
	r := rand.New(rand.NewPCG(13, 14))
	vals := slices.Clone(edges)
	for i := 0; i < 3000; i++ {
		vals = append(vals, int64(r.Uint64()))
		vals = append(vals, int64(r.Uint64()>>uint(r.IntN(64)))*int64(1-2*r.IntN(2)))
	}
	x := &mpc.Tensor{Shape: []int{len(vals)}}
	for _, v := range vals {
		x.Data = append(x.Data, uint64(v))
	}
	a := &mpc.Tensor{Shape: x.Shape, Data: randRing(r, len(vals), 64)}
	b := &mpc.Tensor{Shape: x.Shape, Data: randRing(r, len(vals), 64)}
	for _, p := range protocols {
		for _, nw := range networks(t) {
			for _, cmp := range comparisons {
				t.Run(string(p)+"/"+nw.name+"/"+string(cmp), func(t *testing.T) {
					ltzAndSelect(t, p, nw.nw, cmp, vals, x, a, b)
				})
			}
		}
	}
}

// comparisons are LTZ's two methods; both must pass every comparison test.
var comparisons = []mpc.Comparison{mpc.CompareFSS, mpc.CompareCircuit}

// TestComparisonMethod checks that every party reports the method LTZ uses: FSS by default
// (the dealer's material deals DCF keys), the circuit when configured.
func TestComparisonMethod(t *testing.T) {
	for _, p := range protocols {
		for cfg, want := range map[mpc.Comparison]mpc.Comparison{"": mpc.CompareFSS, mpc.CompareFSS: mpc.CompareFSS, mpc.CompareCircuit: mpc.CompareCircuit} {
			got := mpctest.Run(t, p, mpctest.Memory, mpc.Config{Comparison: cfg}, func(e mpc.Engine) (mpc.Comparison, error) {
				return e.Comparison(), nil
			})
			for i, c := range got {
				if c != want {
					t.Errorf("%s, Config.Comparison %q: party %d reports %q, want %q", p, cfg, i, c, want)
				}
			}
		}
	}
}

// ltzAndSelect checks LTZ(x) and Select(LTZ(x), a, b) against vals (x's values). With more than
// 4096 values, the FSS path deals its keys in several messages.
func ltzAndSelect(t *testing.T, p mpc.Protocol, nw mpctest.Network, cmp mpc.Comparison, vals []int64, x, a, b *mpc.Tensor) {
	xs, as, bs := split(t, p, x), split(t, p, a), split(t, p, b)
	res := mpctest.Run(t, p, nw, mpc.Config{Comparison: cmp}, func(e mpc.Engine) ([]*mpc.Share, error) {
		c, err := e.LTZ(xs[e.Party()])
		if err != nil {
			return nil, err
		}
		s, err := e.Select(c, as[e.Party()], bs[e.Party()])
		return []*mpc.Share{c, s}, err
	})
	c := mpctest.Reveal(t, p, []*mpc.Share{res[0][0], res[1][0], res[2][0]})
	s := mpctest.Reveal(t, p, []*mpc.Share{res[0][1], res[1][1], res[2][1]})
	for i, v := range vals {
		want := uint64(0)
		if v < 0 {
			want = 1
		}
		if c.Data[i] != want {
			t.Fatalf("LTZ(%d) = %d, want %d", v, c.Data[i], want)
		}
		sel := b.Data[i]
		if v < 0 {
			sel = a.Data[i]
		}
		if s.Data[i] != sel {
			t.Fatalf("select wrong at %d", i)
		}
	}
}

// TestMeterCounts asserts exact bytes and rounds per primitive from the meter. Every expected
// figure is derived from the protocol in the comment next to it; n is the element count.
func TestMeterCounts(t *testing.T) {
	const n = 1000
	// MatMul operands: x is rows×inner, multiplied by its transpose (inner×rows): rows·rows outputs.
	const rows, inner = 20, 50
	const mk, out = rows * inner, rows * rows
	// OneHot: rows of length width, dealt over N = 16 (the next power of two).
	const width, N = 10, 16
	type cost struct {
		rounds        [3]int64 // per party (a party idle in a round does not count it)
		sent, offline [3]int64 // per party: online bytes sent, offline bytes received
	}
	ltz := func(e mpc.Engine, x *mpc.Share) error { _, err := e.LTZ(x); return err }
	less := func(e mpc.Engine, x *mpc.Share) error { _, err := mpc.Less(e, x, x); return err }
	// LessThan against three public thresholds.
	lessThan := func(e mpc.Engine, x *mpc.Share) error {
		_, err := e.LessThan(x, []uint64{0, 1, 1 << 20}, nil)
		return err
	}
	// mulFixed multiplies an unfixed copy of x (Neg drops the mask) by the fixed x.
	mulFixed := func(e mpc.Engine, x *mpc.Share) error {
		u, err := e.Neg(x)
		if err != nil {
			return err
		}
		_, err = e.Mul(u, x)
		return err
	}
	// ... and mapped to one value per element (a public 3×1 map).
	lessMapped := func(e mpc.Engine, x *mpc.Share) error {
		_, err := e.LessThan(x, []uint64{0, 1, 1 << 20}, &mpc.Tensor{Shape: []int{3, 1}, Data: []uint64{1, 2, 3}})
		return err
	}
	// input by party owner of a public tensor (zeros) of x's shape.
	input := func(owner int) func(e mpc.Engine, x *mpc.Share) error {
		return func(e mpc.Engine, x *mpc.Share) error {
			var own *mpc.Tensor
			if e.Party() == owner {
				own = mpc.NewTensor(x.Shape...)
			}
			_, err := e.Input(owner, own, x.Shape)
			return err
		}
	}
	matmul := func(e mpc.Engine, x *mpc.Share) error {
		xt, err := mpc.Transpose(x)
		if err != nil {
			return err
		}
		_, err = e.MatMul(x, xt)
		return err
	}
	// matmulFixed multiplies an unfixed copy of x (Neg drops the mask) by the fixed xᵀ.
	matmulFixed := func(e mpc.Engine, x *mpc.Share) error {
		xt, err := mpc.Transpose(x)
		if err != nil {
			return err
		}
		u, err := e.Neg(x)
		if err != nil {
			return err
		}
		_, err = e.MatMul(u, xt)
		return err
	}
	// FSS comparison: the correction words, 8·fss.KeyWords(64) = 1528 bytes per element, go to P0
	// and P1, and the batch's 16-byte AES key to P1.
	key := int64(8 * fss.KeyWords(fss.MaxBits))
	cases := []struct {
		name  string
		p     mpc.Protocol
		cmp   mpc.Comparison
		shape []int // x's shape; nil means [n]
		fix   bool  // Fix x before the meter starts
		op    func(e mpc.Engine, x *mpc.Share) error
		want  cost
	}{
		// Input, 2pc: the non-owner's share is drawn from the P0–P1 input stream and the owner
		// keeps x minus it: nothing travels, no round, no material.
		{"2pc/input-P0", mpc.TwoPC, "", nil, false, input(0), cost{}},
		{"2pc/input-P1", mpc.TwoPC, "", nil, false, input(1), cost{}},
		// Input, 3pc: the owner draws two components from its streams and sends the third
		// (8 bytes per element) to each of its two peers in one round: 16n from the owner; the
		// peers count the round (they receive in it) but send nothing.
		{"3pc/input-P1", mpc.ThreePC, "", nil, false, input(1),
			cost{[3]int64{1, 1, 1}, [3]int64{0, 16 * n, 0}, [3]int64{}}},
		{"3pc/input-P2", mpc.ThreePC, "", nil, false, input(2),
			cost{[3]int64{1, 1, 1}, [3]int64{0, 0, 16 * n}, [3]int64{}}},
		// (Input from outside the parties, the client's, is mpc.Split at the client: the parties
		// receive ready shares and the engine does no work, so there is nothing to meter.)
		//
		// Open, 2pc: P0 and P1 swap their additive shares, 8n each, one round.
		{"2pc/open", mpc.TwoPC, "", nil, false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.Open(x); return err },
			cost{[3]int64{1, 1, 0}, [3]int64{8 * n, 8 * n, 0}, [3]int64{}}},
		// Open, 3pc: each party sends its Next component (8n) to its previous neighbour, which
		// misses exactly that one.
		{"3pc/open", mpc.ThreePC, "", nil, false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.Open(x); return err },
			cost{[3]int64{1, 1, 1}, [3]int64{8 * n, 8 * n, 8 * n}, [3]int64{}}},
		// OpenTo(0), 2pc: P1 sends its share (8n); P0 only receives; both count the round.
		{"2pc/opento-P0", mpc.TwoPC, "", nil, false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.OpenTo(0, x); return err },
			cost{[3]int64{1, 1, 0}, [3]int64{0, 8 * n, 0}, [3]int64{}}},
		// OpenTo(t), 3pc: party t misses x_{t+2}, which party t+1 holds as Next and sends (8n);
		// the third party is idle. t = 0: P1 sends; t = 1: P2 sends, P0 idle.
		{"3pc/opento-P0", mpc.ThreePC, "", nil, false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.OpenTo(0, x); return err },
			cost{[3]int64{1, 1, 0}, [3]int64{0, 8 * n, 0}, [3]int64{}}},
		{"3pc/opento-P1", mpc.ThreePC, "", nil, false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.OpenTo(1, x); return err },
			cost{[3]int64{0, 1, 1}, [3]int64{0, 0, 8 * n}, [3]int64{}}},
		{"2pc/mul", mpc.TwoPC, "", nil, false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.Mul(x, x); return err },
			cost{[3]int64{1, 1, 0}, [3]int64{16 * n, 16 * n, 0}, [3]int64{0, 8 * n, 0}}},
		{"3pc/mul", mpc.ThreePC, "", nil, false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.Mul(x, x); return err },
			cost{[3]int64{1, 1, 1}, [3]int64{8 * n, 8 * n, 8 * n}, [3]int64{}}},
		// MatMul, 2pc: one message opens E = X − A (rows·inner) and F = Y − B (inner·rows):
		// 8·2·mk bytes each, one round. A and B come from the dealer streams; only P1's
		// correction of C (rows·rows elements) travels: 8·out bytes to P1.
		{"2pc/matmul", mpc.TwoPC, "", []int{rows, inner}, false, matmul,
			cost{[3]int64{1, 1, 0}, [3]int64{16 * mk, 16 * mk, 0}, [3]int64{0, 8 * out, 0}}},
		// With the right operand fixed (its mask and opened difference known), only E travels:
		// 8·mk bytes; the dealer derives C from the fixed mask, still 8·out bytes to P1.
		{"2pc/matmul-fixed", mpc.TwoPC, "", []int{rows, inner}, true, matmulFixed,
			cost{[3]int64{1, 1, 0}, [3]int64{8 * mk, 8 * mk, 0}, [3]int64{0, 8 * out, 0}}},
		// MatMul, 3pc: local 3-out-of-3 product, reshared with 8 bytes per output element.
		{"3pc/matmul", mpc.ThreePC, "", []int{rows, inner}, false, matmul,
			cost{[3]int64{1, 1, 1}, [3]int64{8 * out, 8 * out, 8 * out}, [3]int64{}}},
		{"3pc/matmul-fixed", mpc.ThreePC, "", []int{rows, inner}, true, matmulFixed,
			cost{[3]int64{1, 1, 1}, [3]int64{8 * out, 8 * out, 8 * out}, [3]int64{}}},
		// Fix, 2pc: the mask M is drawn from the dealer streams (no derived part, so no
		// material message); P0 and P1 swap their shares of x − M: 8n each, one round.
		{"2pc/fix", mpc.TwoPC, "", nil, false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.Fix(x); return err },
			cost{[3]int64{1, 1, 0}, [3]int64{8 * n, 8 * n, 0}, [3]int64{}}},
		// Fix, 3pc: a local no-op (it caches Own + Next).
		{"3pc/fix", mpc.ThreePC, "", nil, false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.Fix(x); return err },
			cost{}},
		// Select(c, a, b) = b + c·(a − b): one Mul of n elements, the rest local.
		{"2pc/select", mpc.TwoPC, "", nil, false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.Select(x, x, x); return err },
			cost{[3]int64{1, 1, 0}, [3]int64{16 * n, 16 * n, 0}, [3]int64{0, 8 * n, 0}}},
		{"3pc/select", mpc.ThreePC, "", nil, false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.Select(x, x, x); return err },
			cost{[3]int64{1, 1, 1}, [3]int64{8 * n, 8 * n, 8 * n}, [3]int64{}}},
		// OneHot(idx, width), 2pc: P0 and P1 swap their shares of idx − r (8n each, one round);
		// r comes from the streams, and P1's correction of the one-hot rows of r (n·N elements)
		// travels: 8·n·N bytes to P1.
		{"2pc/onehot", mpc.TwoPC, "", nil, false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.OneHot(x, width); return err },
			cost{[3]int64{1, 1, 0}, [3]int64{8 * n, 8 * n, 0}, [3]int64{0, 8 * n * N, 0}}},
		// OneHot, 3pc (openToPairAndReshare with m = n·width outputs): round 1, P0 and P1 swap
		// u (8n each) while P2 sends its z_2 to both (16n); round 2, P0 and P1 swap their masked
		// rotated rows (8·n·width each). P2 deals the rows of r to P1 as in 2pc: 8·n·N.
		{"3pc/onehot", mpc.ThreePC, "", nil, false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.OneHot(x, width); return err },
			cost{[3]int64{2, 2, 1}, [3]int64{8*n + 8*n*width, 8*n + 8*n*width, 16 * n}, [3]int64{0, 8 * n * N, 0}}},
		{"2pc/trunc", mpc.TwoPC, "", nil, false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.Trunc(x, 16); return err },
			cost{[3]int64{1, 1, 0}, [3]int64{8 * n, 8 * n, 0}, [3]int64{0, 16 * n, 0}}},
		{"3pc/trunc", mpc.ThreePC, "", nil, false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.Trunc(x, 16); return err },
			cost{[3]int64{2, 2, 1}, [3]int64{16 * n, 16 * n, 16 * n}, [3]int64{0, 16 * n, 0}}},
		// MulTrunc, 2pc: Beaver Mul (1 round, E and F: 16n; P1 gets c's correction, 8n) then
		// trunc2 (1 round, c = x + 2^62 + r: 8n; P1 gets the corrections of r >> f and MSB(r),
		// 16n): 2 rounds, 24n sent, 24n offline to P1.
		{"2pc/multrunc", mpc.TwoPC, "", nil, false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.MulTrunc(x, x); return err },
			cost{[3]int64{2, 2, 0}, [3]int64{24 * n, 24 * n, 0}, [3]int64{0, 24 * n, 0}}},
		{"3pc/multrunc", mpc.ThreePC, "", nil, false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.MulTrunc(x, x); return err },
			cost{[3]int64{2, 2, 1}, [3]int64{16 * n, 16 * n, 16 * n}, [3]int64{0, 16 * n, 0}}},
		{"2pc/multruncbits", mpc.TwoPC, "", nil, false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.MulTruncBits(x, x, 40); return err },
			cost{[3]int64{2, 2, 0}, [3]int64{24 * n, 24 * n, 0}, [3]int64{0, 24 * n, 0}}},
		{"3pc/multruncbits", mpc.ThreePC, "", nil, false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.MulTruncBits(x, x, 40); return err },
			cost{[3]int64{2, 2, 1}, [3]int64{16 * n, 16 * n, 16 * n}, [3]int64{0, 16 * n, 0}}},
		{"2pc/ltz-circuit", mpc.TwoPC, mpc.CompareCircuit, nil, false, ltz,
			cost{[3]int64{8, 8, 0}, [3]int64{184*n + n/8, 184*n + n/8, 0}, [3]int64{0, 104 * n, 0}}},
		{"3pc/ltz-circuit", mpc.ThreePC, mpc.CompareCircuit, nil, false, ltz,
			cost{[3]int64{8, 8, 8}, [3]int64{168 * n, 104 * n, 104 * n}, [3]int64{}}},
		{"2pc/ltz-fss", mpc.TwoPC, "", nil, false, ltz,
			cost{[3]int64{1, 1, 0}, [3]int64{8 * n, 8 * n, 0}, [3]int64{key * n, key*n + 16, 0}}},
		{"3pc/ltz-fss", mpc.ThreePC, "", nil, false, ltz,
			cost{[3]int64{2, 2, 1}, [3]int64{16 * n, 16 * n, 16 * n}, [3]int64{key * n, key*n + 16, 0}}},
		// Less(a, b) = LTZ(a − b) with a local subtraction: exactly LTZ's figures above.
		{"2pc/less-circuit", mpc.TwoPC, mpc.CompareCircuit, nil, false, less,
			cost{[3]int64{8, 8, 0}, [3]int64{184*n + n/8, 184*n + n/8, 0}, [3]int64{0, 104 * n, 0}}},
		{"3pc/less-circuit", mpc.ThreePC, mpc.CompareCircuit, nil, false, less,
			cost{[3]int64{8, 8, 8}, [3]int64{168 * n, 104 * n, 104 * n}, [3]int64{}}},
		{"2pc/less-fss", mpc.TwoPC, "", nil, false, less,
			cost{[3]int64{1, 1, 0}, [3]int64{8 * n, 8 * n, 0}, [3]int64{key * n, key*n + 16, 0}}},
		{"3pc/less-fss", mpc.ThreePC, "", nil, false, less,
			cost{[3]int64{2, 2, 1}, [3]int64{16 * n, 16 * n, 16 * n}, [3]int64{key * n, key*n + 16, 0}}},
		// LessThan(x, 3 thresholds): by the circuit, LTZ of the 3n differences; by FSS one mask,
		// key and opened word per element serve its three comparisons. 2pc: LTZ's bytes of n
		// elements. 3pc: the opening as LTZ of n (P0, P1 8n each, P2 16n), then P0 and P1
		// reshare the 3n results (8·3n each).
		{"2pc/lessthan-circuit", mpc.TwoPC, mpc.CompareCircuit, nil, false, lessThan,
			cost{[3]int64{8, 8, 0}, [3]int64{3 * (184*n + n/8), 3 * (184*n + n/8), 0}, [3]int64{0, 3 * 104 * n, 0}}},
		{"3pc/lessthan-circuit", mpc.ThreePC, mpc.CompareCircuit, nil, false, lessThan,
			cost{[3]int64{8, 8, 8}, [3]int64{3 * 168 * n, 3 * 104 * n, 3 * 104 * n}, [3]int64{}}},
		{"2pc/lessthan-fss", mpc.TwoPC, "", nil, false, lessThan,
			cost{[3]int64{1, 1, 0}, [3]int64{8 * n, 8 * n, 0}, [3]int64{key * n, key*n + 16, 0}}},
		{"3pc/lessthan-fss", mpc.ThreePC, "", nil, false, lessThan,
			cost{[3]int64{2, 2, 1}, [3]int64{8*n + 24*n, 8*n + 24*n, 16 * n}, [3]int64{key * n, key*n + 16, 0}}},
		// On a fixed x (2pc), the opened x − M is the masked value: no round, no online bytes.
		{"2pc/ltz-fixed-fss", mpc.TwoPC, "", nil, true, ltz,
			cost{[3]int64{}, [3]int64{}, [3]int64{key * n, key*n + 16, 0}}},
		{"2pc/lessthan-fixed-fss", mpc.TwoPC, "", nil, true, lessThan,
			cost{[3]int64{}, [3]int64{}, [3]int64{key * n, key*n + 16, 0}}},
		// Mul with one fixed operand opens only the other (8n each); with both, nothing. The
		// triple's product travels to P1 as ever (8n).
		{"2pc/mul-fixed", mpc.TwoPC, "", nil, true, mulFixed,
			cost{[3]int64{1, 1, 0}, [3]int64{8 * n, 8 * n, 0}, [3]int64{0, 8 * n, 0}}},
		{"2pc/mul-both-fixed", mpc.TwoPC, "", nil, true, func(e mpc.Engine, x *mpc.Share) error { _, err := e.Mul(x, x); return err },
			cost{[3]int64{}, [3]int64{}, [3]int64{0, 8 * n, 0}}},
		{"3pc/mul-fixed", mpc.ThreePC, "", nil, true, mulFixed,
			cost{[3]int64{1, 1, 1}, [3]int64{8 * n, 8 * n, 8 * n}, [3]int64{}}},
		// With the map, 3pc reshares one value per element instead of three bits.
		{"2pc/lessthan-map-fss", mpc.TwoPC, "", nil, false, lessMapped,
			cost{[3]int64{1, 1, 0}, [3]int64{8 * n, 8 * n, 0}, [3]int64{key * n, key*n + 16, 0}}},
		{"3pc/lessthan-map-fss", mpc.ThreePC, "", nil, false, lessMapped,
			cost{[3]int64{2, 2, 1}, [3]int64{16 * n, 16 * n, 16 * n}, [3]int64{key * n, key*n + 16, 0}}},
		// The two-party view: into it is local; back out, P0 and P1 swap one masked word per
		// element (8n each) and P2 draws its parts; in it, 2pc's costs with P2 as the dealer.
		{"3pc/topair", mpc.ThreePC, "", nil, false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.ToPair(x); return err },
			cost{}},
		{"3pc/pair-roundtrip", mpc.ThreePC, "", nil, false, onPair(func(pe mpc.Engine, x *mpc.Share) (*mpc.Share, error) { return x, nil }),
			cost{[3]int64{1, 1, 0}, [3]int64{8 * n, 8 * n, 0}, [3]int64{}}},
		{"3pc/pair-mul", mpc.ThreePC, "", nil, false, onPair(func(pe mpc.Engine, x *mpc.Share) (*mpc.Share, error) { return pe.Mul(x, x) }),
			cost{[3]int64{2, 2, 0}, [3]int64{24 * n, 24 * n, 0}, [3]int64{0, 8 * n, 0}}},
		{"3pc/pair-ltz-fss", mpc.ThreePC, "", nil, false, onPair(func(pe mpc.Engine, x *mpc.Share) (*mpc.Share, error) { return pe.LTZ(x) }),
			cost{[3]int64{2, 2, 0}, [3]int64{16 * n, 16 * n, 0}, [3]int64{key * n, key*n + 16, 0}}},
		// MatMulPair, 3pc: P2 sends its local product term to P1 (8 bytes per output); P0 and
		// P1 send nothing, and P0 has no round. 2pc: MatMul.
		{"3pc/matmulpair", mpc.ThreePC, "", []int{rows, inner}, false, func(e mpc.Engine, x *mpc.Share) error {
			xt, err := mpc.Transpose(x)
			if err != nil {
				return err
			}
			_, err = e.MatMulPair(x, xt)
			return err
		}, cost{[3]int64{0, 1, 1}, [3]int64{0, 0, 8 * out}, [3]int64{}}},
		{"2pc/pair-roundtrip", mpc.TwoPC, "", nil, false, onPair(func(pe mpc.Engine, x *mpc.Share) (*mpc.Share, error) { return x, nil }),
			cost{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			shape := c.shape
			if shape == nil {
				shape = []int{n}
			}
			x := mpc.NewTensor(shape...)
			xs := split(t, c.p, x)
			res := mpctest.Run(t, c.p, mpctest.Memory, mpc.Config{Comparison: c.cmp}, func(e mpc.Engine) (mpc.Stat, error) {
				x := xs[e.Party()]
				if c.fix {
					f, err := e.Fix(x)
					if err != nil {
						return mpc.Stat{}, err
					}
					x = f[0]
				}
				e.Meter().Reset()
				defer e.Meter().Scope("op")()
				err := c.op(e, x)
				return e.Meter().Under("op"), err
			})
			var sent, recv, offSent, offRecv int64
			for i := 0; i < 3; i++ {
				s := res[i]
				sent, recv, offSent, offRecv = sent+s.OnlineSent, recv+s.OnlineRecv, offSent+s.OfflineSent, offRecv+s.OfflineRecv
				if c.p == mpc.TwoPC && i == 2 {
					if s.OnlineSent != 0 || s.OnlineRecv != 0 || s.Rounds != 0 || s.OfflineRecv != 0 {
						t.Errorf("dealer had online traffic or received material: %+v", s)
					}
					continue
				}
				if s.Rounds != c.want.rounds[i] || s.OnlineSent != c.want.sent[i] || s.OfflineRecv != c.want.offline[i] {
					t.Errorf("party %d: rounds %d sent %d offline-recv %d; want %d %d %d", i, s.Rounds, s.OnlineSent, s.OfflineRecv, c.want.rounds[i], c.want.sent[i], c.want.offline[i])
				}
			}
			// Every byte sent is received by someone, online and offline alike.
			if sent != recv || offSent != offRecv {
				t.Errorf("sent %d online / %d offline bytes in all, received %d / %d", sent, offSent, recv, offRecv)
			}
		})
	}
}

// onPair returns an operation that moves x into the engine's two-party view, runs f there and
// moves the result back.
func onPair(f func(pe mpc.Engine, x *mpc.Share) (*mpc.Share, error)) func(e mpc.Engine, x *mpc.Share) error {
	return func(e mpc.Engine, x *mpc.Share) error {
		xp, err := e.ToPair(x)
		if err != nil {
			return err
		}
		y, err := f(e.Pair(), xp)
		if err != nil {
			return err
		}
		_, err = e.FromPair(y)
		return err
	}
}

// TestPair runs products and comparisons in the two-party view of each engine and checks the
// results, moved back, against the plaintext; in 2pc the view is the engine itself.
func TestPair(t *testing.T) {
	const frac = 16
	for _, p := range protocols {
		for _, cmp := range comparisons {
			t.Run(string(p)+"/"+string(cmp), func(t *testing.T) {
				r := rand.New(rand.NewPCG(15, 16))
				const n = 300
				x, y := mpc.NewTensor(n), mpc.NewTensor(n)
				for i := range x.Data {
					x.Data[i] = uint64(int64(r.IntN(16<<frac)) - 8<<frac)
					y.Data[i] = uint64(int64(r.IntN(16<<frac)) - 8<<frac)
				}
				xs, ys := split(t, p, x), split(t, p, y)
				res := mpctest.Run(t, p, mpctest.Memory, mpc.Config{Frac: frac, Comparison: cmp}, func(e mpc.Engine) ([]*mpc.Share, error) {
					pe := e.Pair()
					if p == mpc.TwoPC && pe != e {
						return nil, fmt.Errorf("2pc: the pair view is not the engine")
					}
					if pe.Protocol() != mpc.TwoPC || pe.IsDealer() != (e.Party() == 2) {
						return nil, fmt.Errorf("pair view of party %d: protocol %s, dealer %v", e.Party(), pe.Protocol(), pe.IsDealer())
					}
					xp, err := e.ToPair(xs[e.Party()])
					if err != nil {
						return nil, err
					}
					yp, err := e.ToPair(ys[e.Party()])
					if err != nil {
						return nil, err
					}
					// In the view: a product, a comparison, a fixed operand used twice.
					var out []*mpc.Share
					prod, err := pe.Mul(xp, yp)
					if err != nil {
						return nil, err
					}
					lt, err := mpc.Less(pe, xp, yp)
					if err != nil {
						return nil, err
					}
					f, err := pe.Fix(xp)
					if err != nil {
						return nil, err
					}
					sq, err := pe.MulTrunc(f[0], f[0])
					if err != nil {
						return nil, err
					}
					neg, err := pe.LTZ(f[0])
					if err != nil {
						return nil, err
					}
					x2, err := mpc.Reshape(xs[e.Party()], n/3, 3)
					if err != nil {
						return nil, err
					}
					y2, err := mpc.Reshape(ys[e.Party()], 3, n/3)
					if err != nil {
						return nil, err
					}
					mm, err := e.MatMulPair(x2, y2) // into the view directly
					if err != nil {
						return nil, err
					}
					for _, s := range []*mpc.Share{prod, lt, sq, neg, mm} {
						b, err := e.FromPair(s)
						if err != nil {
							return nil, err
						}
						out = append(out, b)
					}
					// Back in the engine, the results compute on: x·y + [x < y].
					s, err := e.Add(out[0], out[1])
					if err != nil {
						return nil, err
					}
					return append(out[:4], s, out[4]), nil
				})
				got := make([]*mpc.Tensor, len(res[0]))
				for k := range got {
					shares := []*mpc.Share{res[0][k], res[1][k]}
					if p == mpc.ThreePC {
						shares = append(shares, res[2][k])
					}
					got[k] = mpctest.Reveal(t, p, shares)
				}
				for i := range n {
					xi, yi := x.Data[i], y.Data[i]
					lt, neg := uint64(0), uint64(0)
					if int64(xi) < int64(yi) {
						lt = 1
					}
					if int64(xi) < 0 {
						neg = 1
					}
					sq := int64(xi) * int64(xi) >> frac
					if got[0].Data[i] != xi*yi || got[1].Data[i] != lt || got[3].Data[i] != neg || got[4].Data[i] != xi*yi+lt {
						t.Fatalf("element %d: product %#x less %d neg %d sum %#x; want %#x %d %d", i, got[0].Data[i], got[1].Data[i], got[3].Data[i], got[4].Data[i], xi*yi, lt, neg)
					}
					if d := int64(got[2].Data[i]) - sq; d < -1 || d > 1 {
						t.Fatalf("element %d: square %d, want %d ± 1", i, int64(got[2].Data[i]), sq)
					}
				}
				xm, ym := &mpc.Tensor{Shape: []int{n / 3, 3}, Data: x.Data}, &mpc.Tensor{Shape: []int{3, n / 3}, Data: y.Data}
				if want := mpctest.MatMul(xm, ym); !slices.Equal(got[5].Data, want) {
					t.Fatalf("MatMulPair: product differs from the plaintext one")
				}
			})
		}
	}
}

// TestMeterScopes nests labels as a model does ("layer3", "attn", "softmax") and checks that
// each operation is charged to the innermost open path, that closing a scope charges the next
// operations to its parent again, and that Under sums a label with its descendants only
// ("layer3/attnX" is not under "layer3/attn").
func TestMeterScopes(t *testing.T) {
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			// Online bytes each computing party sends per element: Mul opens E and F in 2pc
			// (16) and reshares once in 3pc (8); Open sends one share component (8).
			mulB, openB := int64(8), int64(8)
			mulOff := int64(0) // offline bytes P1 receives per Mul element (2pc: c's correction)
			if p == mpc.TwoPC {
				mulB, mulOff = 16, 8
			}
			sh := func(k int) []*mpc.Share { return split(t, p, mpc.NewTensor(k)) }
			x1000, x100, x10, x7, x3 := sh(1000), sh(100), sh(10), sh(7), sh(3)
			type out struct {
				stats map[string]mpc.Stat
				under map[string]mpc.Stat
				paths []string
			}
			res := mpctest.Run(t, p, mpctest.Memory, mpc.Config{}, func(e mpc.Engine) (out, error) {
				m, i := e.Meter(), e.Party()
				var o out
				path := func() { o.paths = append(o.paths, m.Path()) }
				m.Reset()
				closeLayer := m.Scope("layer3")
				path()
				if _, err := e.Mul(x1000[i], x1000[i]); err != nil { // layer3
					return o, err
				}
				closeAttn := m.Scope("attn")
				path()
				if _, err := e.Open(x100[i]); err != nil { // layer3/attn
					return o, err
				}
				closeSoftmax := m.Scope("softmax")
				path()
				if _, err := e.Mul(x10[i], x10[i]); err != nil { // layer3/attn/softmax
					return o, err
				}
				closeSoftmax()
				path()
				if _, err := e.Open(x10[i]); err != nil { // layer3/attn again
					return o, err
				}
				closeAttn()
				closeX := m.Scope("attnX")
				path()
				if _, err := e.Open(x7[i]); err != nil { // layer3/attnX
					return o, err
				}
				closeX()
				closeLayer()
				path()
				if _, err := e.Open(x3[i]); err != nil { // the root label ""
					return o, err
				}
				o.stats = m.Stats()
				o.under = map[string]mpc.Stat{}
				for _, l := range []string{"layer3", "layer3/attn", "layer3/attn/softmax", "layer3/attnX", ""} {
					o.under[l] = m.Under(l)
				}
				o.under["total"] = m.Total()
				return o, nil
			})
			wantPaths := []string{"layer3", "layer3/attn", "layer3/attn/softmax", "layer3/attn", "layer3/attnX", ""}
			type c struct{ sent, rounds, off int64 } // at P1: bytes sent, rounds, offline received
			own := map[string]c{
				"layer3":              {1000 * mulB, 1, 1000 * mulOff},
				"layer3/attn":         {(100 + 10) * openB, 2, 0},
				"layer3/attn/softmax": {10 * mulB, 1, 10 * mulOff},
				"layer3/attnX":        {7 * openB, 1, 0},
				"":                    {3 * openB, 1, 0},
			}
			add := func(ls ...string) c {
				var s c
				for _, l := range ls {
					s = c{s.sent + own[l].sent, s.rounds + own[l].rounds, s.off + own[l].off}
				}
				return s
			}
			under := map[string]c{
				"layer3":              add("layer3", "layer3/attn", "layer3/attn/softmax", "layer3/attnX"),
				"layer3/attn":         add("layer3/attn", "layer3/attn/softmax"),
				"layer3/attn/softmax": own["layer3/attn/softmax"],
				"layer3/attnX":        own["layer3/attnX"],
				"":                    add("layer3", "layer3/attn", "layer3/attn/softmax", "layer3/attnX", ""),
				"total":               add("layer3", "layer3/attn", "layer3/attn/softmax", "layer3/attnX", ""),
			}
			parties := []int{0, 1, 2}
			if p == mpc.TwoPC {
				parties = []int{0, 1}
			}
			for _, i := range parties {
				r := res[i]
				if !slices.Equal(r.paths, wantPaths) {
					t.Errorf("party %d: paths %q, want %q", i, r.paths, wantPaths)
				}
				if got := slices.Sorted(maps.Keys(r.stats)); !slices.Equal(got, slices.Sorted(maps.Keys(own))) {
					t.Errorf("party %d: labels %q, want %q", i, got, slices.Sorted(maps.Keys(own)))
				}
				check := func(kind, l string, s mpc.Stat, w c) {
					off := w.off
					if i != 1 {
						off = 0 // only P1 receives Mul material (2pc)
					}
					if s.OnlineSent != w.sent || s.OnlineRecv != w.sent || s.Rounds != w.rounds || s.OfflineRecv != off {
						t.Errorf("party %d, %s %q: sent %d recv %d rounds %d offline %d; want %d %d %d %d",
							i, kind, l, s.OnlineSent, s.OnlineRecv, s.Rounds, s.OfflineRecv, w.sent, w.sent, w.rounds, off)
					}
				}
				for l, w := range own {
					check("label", l, r.stats[l], w)
				}
				for l, w := range under {
					check("under", l, r.under[l], w)
				}
			}
			if p == mpc.TwoPC {
				// The dealer runs the same scopes: its material is charged to the same labels.
				d := res[2]
				for l, w := range own {
					if s := d.stats[l]; s.OfflineSent != w.off || s.OnlineSent != 0 || s.Rounds != 0 {
						t.Errorf("dealer, label %q: offline sent %d online %d rounds %d; want %d 0 0", l, s.OfflineSent, s.OnlineSent, s.Rounds, w.off)
					}
				}
				if s := d.under["layer3"]; s.OfflineSent != under["layer3"].off {
					t.Errorf("dealer: offline sent under layer3 %d, want %d", s.OfflineSent, under["layer3"].off)
				}
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	for _, p := range protocols {
		t.Run(string(p)+"/shapes", func(t *testing.T) {
			_, err := mpctest.RunErr(p, mpctest.Memory, mpc.Config{}, func(e mpc.Engine) (*mpc.Share, error) {
				a := &mpc.Share{Shape: []int{2, 3}}
				b := &mpc.Share{Shape: []int{4, 5}}
				if _, err := e.MatMul(a, b); err == nil || !strings.Contains(err.Error(), "matmul") {
					return nil, fmt.Errorf("matmul of mismatched shapes: %v", err)
				}
				if _, err := e.Add(a, b); err == nil {
					return nil, errors.New("add of mismatched shapes succeeded")
				}
				if _, err := e.AddPublic(a, mpc.NewTensor(3, 2)); err == nil {
					return nil, errors.New("add of mismatched public succeeded")
				}
				if _, err := e.LessThan(a, nil, nil); err == nil || !strings.Contains(err.Error(), "less than: no thresholds") {
					return nil, fmt.Errorf("less than without thresholds: %v", err)
				}
				for _, w := range []*mpc.Tensor{mpc.NewTensor(3, 1), mpc.NewTensor(2, 0), mpc.NewTensor(2), {Shape: []int{2, 2}, Data: make([]uint64, 3)}} {
					if _, err := e.LessThan(a, []uint64{0, 1}, w); err == nil || !strings.Contains(err.Error(), "less than: map of shape") {
						return nil, fmt.Errorf("less than with a map of shape %v: %v", w.Shape, err)
					}
				}
				return nil, nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
		t.Run(string(p)+"/peer-dies", func(t *testing.T) {
			ctx := context.Background()
			ts := transport.NewMemory(3).Endpoints()
			errs := make(chan error, 3)
			for i := 0; i < 3; i++ {
				go func(i int) {
					e, err := mpc.New(ctx, p, ts[i], mpc.Config{Timeout: 30 * time.Second})
					if err != nil {
						errs <- err
						return
					}
					if i == 1 {
						ts[i].Close() // P1 dies after setup
						errs <- nil
						return
					}
					x := &mpc.Share{Shape: []int{10}, Own: make([]uint64, 10)}
					if p == mpc.ThreePC {
						x.Next = make([]uint64, 10)
					}
					if i == 2 && p == mpc.TwoPC {
						x.Own = nil
					}
					_, err = e.Mul(x, x)
					errs <- err
				}(i)
			}
			start := time.Now()
			var failed int
			for i := 0; i < 3; i++ {
				if err := <-errs; err != nil {
					failed++
					if !strings.Contains(err.Error(), "party") {
						t.Errorf("error does not name the peer: %v", err)
					}
				}
			}
			if failed == 0 {
				t.Fatal("no party noticed the dead peer")
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("took %v to notice the dead peer", time.Since(start))
			}
		})
	}
}

func TestOneHot(t *testing.T) {
	for _, p := range protocols {
		for _, nw := range networks(t) {
			for _, n := range []int{1, 5, 8, 33} {
				t.Run(fmt.Sprintf("%s/%s/n=%d", p, nw.name, n), func(t *testing.T) {
					idx := &mpc.Tensor{Shape: []int{2, n}}
					for i := 0; i < 2*n; i++ {
						idx.Data = append(idx.Data, uint64((i*7+3)%n))
					}
					xs := split(t, p, idx)
					res := mpctest.Run(t, p, nw.nw, mpc.Config{}, func(e mpc.Engine) (*mpc.Share, error) {
						return e.OneHot(xs[e.Party()], n)
					})
					got := mpctest.Reveal(t, p, res)
					if !slices.Equal(got.Shape, []int{2, n, n}) {
						t.Fatalf("shape %v", got.Shape)
					}
					for i, v := range idx.Data {
						for j := 0; j < n; j++ {
							want := uint64(0)
							if uint64(j) == v {
								want = 1
							}
							if got.Data[i*n+j] != want {
								t.Fatalf("onehot(%d)[%d] = %d", v, j, got.Data[i*n+j])
							}
						}
					}
				})
			}
		}
	}
}

func TestPermute(t *testing.T) {
	x := &mpc.Tensor{Shape: []int{2, 3, 4}}
	for i := 0; i < 24; i++ {
		x.Data = append(x.Data, uint64(i))
	}
	s := split(t, mpc.TwoPC, x)
	p, err := mpc.Permute(s[0], 2, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := mpc.Permute(s[1], 2, 0, 1)
	got := mpctest.Reveal(t, mpc.TwoPC, []*mpc.Share{p, q, nil})
	if !slices.Equal(got.Shape, []int{4, 2, 3}) {
		t.Fatalf("shape %v", got.Shape)
	}
	for a := 0; a < 4; a++ {
		for b := 0; b < 2; b++ {
			for c := 0; c < 3; c++ {
				if got.Data[a*6+b*3+c] != uint64(b*12+c*4+a) {
					t.Fatalf("permute wrong at %d,%d,%d", a, b, c)
				}
			}
		}
	}
	if _, err := mpc.Permute(s[0], 0, 0, 1); err == nil {
		t.Fatal("a repeated axis was accepted")
	}
}

// TestDealerPaced checks that the 2pc dealer's lead is bounded: with a small MaterialAhead, the
// bytes queued for P1 never exceed the bound plus one message while P1 is slow.
func TestDealerPaced(t *testing.T) {
	const ahead = 1 << 20
	ts := transport.NewMemory(3).Endpoints()
	mem := ts[2].(transport.Backlogger)
	x := &mpc.Tensor{Shape: []int{4096}, Data: make([]uint64, 4096)}
	xs := split(t, mpc.TwoPC, x)
	var worst int64
	done := make(chan error, 3)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		go func(i int) {
			e, err := mpc.New(ctx, mpc.TwoPC, ts[i], mpc.Config{MaterialAhead: ahead})
			if err != nil {
				done <- err
				return
			}
			for k := 0; k < 64; k++ {
				if i == 1 {
					time.Sleep(2 * time.Millisecond) // a slow P1
					worst = max(worst, mem.Backlog(1))
				}
				if _, err := e.Mul(xs[i], xs[i]); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}(i)
	}
	for i := 0; i < 3; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	// One triple of 4096 elements is 32 KiB of correction.
	if worst > ahead+64<<10 {
		t.Fatalf("the dealer ran %d bytes ahead, bound %d", worst, ahead)
	}
}

// TestFixedOperands checks element-wise products and comparisons of fixed values (Fix): one
// fixed operand, both, broadcast, with truncation, and LTZ and LessThan on a fixed value,
// whose opened difference serves as the masked value (2pc FSS).
func TestFixedOperands(t *testing.T) {
	const frac = 16
	thr := []uint64{0, 1 << frac, 1<<64 - 3<<frac}
	for _, p := range protocols {
		for _, cmp := range comparisons {
			t.Run(string(p)+"/"+string(cmp), func(t *testing.T) {
				r := rand.New(rand.NewPCG(13, 14))
				const n = 600
				x, y := mpc.NewTensor(n), mpc.NewTensor(n)
				for i := range x.Data {
					x.Data[i] = uint64(int64(r.IntN(16<<frac)) - 8<<frac)
					y.Data[i] = uint64(int64(r.IntN(16<<frac)) - 8<<frac)
				}
				x.Data[0], x.Data[1], x.Data[2] = 0, 1<<frac, 1<<64-3<<frac // on the thresholds
				row := &mpc.Tensor{Shape: []int{1, 3}, Data: []uint64{5, 1 << 20, 1<<64 - 7}}
				xs, ys := split(t, p, x), split(t, p, y)
				rs := split(t, p, row)
				res := mpctest.Run(t, p, mpctest.Memory, mpc.Config{Frac: frac, Comparison: cmp}, func(e mpc.Engine) ([]*mpc.Share, error) {
					f, err := e.Fix(xs[e.Party()], rs[e.Party()])
					if err != nil {
						return nil, err
					}
					xf, rf := f[0], f[1]
					var out []*mpc.Share
					for _, op := range []func() (*mpc.Share, error){
						func() (*mpc.Share, error) { return e.Mul(xf, ys[e.Party()]) },
						func() (*mpc.Share, error) { return e.Mul(ys[e.Party()], xf) },
						func() (*mpc.Share, error) { return e.Mul(xf, xf) },
						func() (*mpc.Share, error) { return e.MulTrunc(xf, ys[e.Party()]) },
						func() (*mpc.Share, error) {
							x2, _ := mpc.Reshape(xf, n/3, 3)
							return e.Mul(x2, rf) // broadcast of a fixed row
						},
						func() (*mpc.Share, error) { return e.LTZ(xf) },
						func() (*mpc.Share, error) { return e.LessThan(xf, thr, nil) },
					} {
						s, err := op()
						if err != nil {
							return nil, err
						}
						out = append(out, s)
					}
					return out, nil
				})
				got := make([]*mpc.Tensor, len(res[0]))
				for k := range got {
					got[k] = mpctest.Reveal(t, p, []*mpc.Share{res[0][k], res[1][k], res[2][k]})
				}
				bit := func(c bool) uint64 {
					if c {
						return 1
					}
					return 0
				}
				for i := range n {
					xi, yi := x.Data[i], y.Data[i]
					want := []uint64{xi * yi, yi * xi, xi * xi}
					for k, w := range want {
						if got[k].Data[i] != w {
							t.Fatalf("product %d at %d: got %#x, want %#x", k, i, got[k].Data[i], w)
						}
					}
					tw := int64(xi*yi) >> frac
					if d := int64(got[3].Data[i]) - tw; d < 0 || d > 1 {
						t.Fatalf("truncated product at %d: got %d, want %d (+1 allowed)", i, int64(got[3].Data[i]), tw)
					}
					if w := xi * row.Data[i%3]; i < n/3*3 && got[4].Data[i] != w {
						t.Fatalf("broadcast product at %d: got %#x, want %#x", i, got[4].Data[i], w)
					}
					if w := bit(int64(xi) < 0); got[5].Data[i] != w {
						t.Fatalf("LTZ(%d) = %d", int64(xi), got[5].Data[i])
					}
					for k, tk := range thr {
						if w := bit(int64(xi) < int64(tk)); got[6].Data[i*len(thr)+k] != w {
							t.Fatalf("LessThan(%d, %d) = %d", int64(xi), int64(tk), got[6].Data[i*len(thr)+k])
						}
					}
				}
			})
		}
	}
}

// TestPairBadInput checks that moving a malformed share into or out of the two-party view is an
// error naming the operation, with no round started.
func TestPairBadInput(t *testing.T) {
	_, err := mpctest.RunErr(mpc.ThreePC, mpctest.Memory, mpc.Config{}, func(e mpc.Engine) (bool, error) {
		bad := &mpc.Share{Shape: []int{4}, Own: make([]uint64, 3), Next: make([]uint64, 4)}
		if _, err := e.ToPair(bad); err == nil || !strings.Contains(err.Error(), "to pair") {
			return false, fmt.Errorf("ToPair of 3 elements for [4]: %v", err)
		}
		short := &mpc.Share{Shape: []int{4}, Own: make([]uint64, 2)}
		if _, err := e.FromPair(short); e.Party() != 2 && (err == nil || !strings.Contains(err.Error(), "from pair")) {
			return false, fmt.Errorf("FromPair of 2 elements for [4]: %v", err)
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
