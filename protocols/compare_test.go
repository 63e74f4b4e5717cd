package protocols

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/mpctest"
)

func TestReLU(t *testing.T) {
	edges := []float64{0, math.Ldexp(1, -testFrac), -math.Ldexp(1, -testFrac), 1 << 20, -(1 << 20), 1 << 40, -(1 << 40)}
	for _, p := range testProtocols {
		for _, shape := range [][]int{{1}, {7}, {12, 1, 64}} {
			t.Run(fmt.Sprintf("%s/%v", p, shape), func(t *testing.T) {
				r := rand.New(rand.NewPCG(2, uint64(len(shape))))
				xs := randValues(r, mpc.Numel(shape))
				copy(xs, edges)
				sh := shareFloats(t, p, xs, shape...)
				got := revealFloats(t, p, run(t, p, func(e mpc.Engine) (*mpc.Share, error) {
					return ReLU(e, sh[e.Party()])
				}))
				for i, x := range xs {
					if want := math.Max(x, 0); got[i] != want {
						t.Fatalf("relu(%v) = %v, want %v", x, got[i], want)
					}
				}
			})
		}
	}
}

type equalCase struct {
	name   string
	a, b   []int64 // ring integers
	bShape []int   // nil: same as a
}

func TestEqual(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var ra, rb []int64
	for i := 0; i < 500; i++ {
		v := r.Int64N(1<<37) - (1 << 36)
		w := v
		switch i % 4 {
		case 1:
			w = v + 1
		case 2:
			w = v - 1
		case 3:
			w = r.Int64N(1<<37) - (1 << 36)
		}
		ra, rb = append(ra, v), append(rb, w)
	}
	big := int64(1)<<62 - 1
	cases := []equalCase{
		{"random", ra, rb, nil},
		{"edges", []int64{0, 0, big, -big, big, 1, -1}, []int64{0, 1, big, -big, -big, -1, 1}, nil},
		{"broadcast", []int64{3, 4, 5, 3, 3, 0}, []int64{3}, []int{1}},
	}
	for _, p := range testProtocols {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/%s", p, c.name), func(t *testing.T) {
				as := shareInts(t, p, c.a)
				bs := shareInts(t, p, c.b, c.bShape...)
				got := revealInts(t, p, run(t, p, func(e mpc.Engine) (*mpc.Share, error) {
					return Equal(e, as[e.Party()], bs[e.Party()])
				}))
				for i := range c.a {
					b := c.b[0]
					if c.bShape == nil {
						b = c.b[i]
					}
					want := int64(0)
					if c.a[i] == b {
						want = 1
					}
					if got[i] != want {
						t.Fatalf("equal(%d, %d) = %d, want %d", c.a[i], b, got[i], want)
					}
				}
			})
		}
	}
}

// TestCompareCost asserts the traffic of ReLU and Equal from the meter, on both comparison
// methods, and the per-element figures their doc comments state.
func TestCompareCost(t *testing.T) {
	const n = 1000
	// Per element: rounds, online bytes P0 and P1 send, offline bytes P1 receives (the most of
	// any party), for ReLU and for Equal.
	docs := map[backend][2][4]float64{
		{p: mpc.TwoPC, cmp: mpc.CompareFSS}:       {{2, 24, 24, 1536}, {1, 8, 8, 1528}},
		{p: mpc.TwoPC, cmp: mpc.CompareCircuit}:   {{9, 200.125, 200.125, 112}, {8, 368.25, 368.25, 208}},
		{p: mpc.ThreePC, cmp: mpc.CompareFSS}:     {{3, 24, 24, 1528}, {2, 16, 16, 1528}},
		{p: mpc.ThreePC, cmp: mpc.CompareCircuit}: {{9, 176, 112, 0}, {8, 336, 208, 0}},
	}
	check := func(t *testing.T, st []mpc.Stat, doc [4]float64) {
		t.Helper()
		got := [4]float64{float64(st[0].Rounds), float64(st[0].OnlineSent) / n, float64(st[1].OnlineSent) / n, float64(st[1].OfflineRecv) / n}
		for i := range got {
			if math.Abs(got[i]-doc[i]) > 0.05 { // the AES key of a batch of FSS keys: 0.016 B/elem
				t.Errorf("measured %v (rounds, P0, P1 online B/elem, offline B/elem), doc says %v", got, doc)
				return
			}
		}
	}
	for _, b := range testBackends {
		sh := shareFloats(t, b.p, make([]float64, n))
		t.Run(b.String()+"/relu", func(t *testing.T) {
			_, st := measureOn(t, b, "relu", func(e mpc.Engine) (*mpc.Share, error) { return ReLU(e, sh[e.Party()]) })
			want := ltzCost(b, n)
			want.add(mulCost(b.p, n))
			assertMeterCost(t, st, want)
			check(t, st, docs[b][0])
		})
		t.Run(b.String()+"/equal", func(t *testing.T) {
			_, st := measureOn(t, b, "equal", func(e mpc.Engine) (*mpc.Share, error) {
				return Equal(e, sh[e.Party()], sh[e.Party()])
			})
			assertMeterCost(t, st, lessCost(b, n, 2, 1))
			check(t, st, docs[b][1])
		})
	}
}

func TestCompareBadInput(t *testing.T) {
	for _, p := range testProtocols {
		t.Run(string(p), func(t *testing.T) {
			a := shareFloats(t, p, make([]float64, 6), 2, 3)
			b := shareFloats(t, p, make([]float64, 4), 4)
			run(t, p, func(e mpc.Engine) (*mpc.Share, error) {
				if _, err := Equal(e, a[e.Party()], b[e.Party()]); err == nil || !strings.Contains(err.Error(), "equal") {
					return nil, fmt.Errorf("equal of mismatched shapes: %v", err)
				}
				if _, err := ReLU(e, &mpc.Share{Shape: []int{0}}); err == nil || !strings.Contains(err.Error(), "relu") {
					return nil, fmt.Errorf("relu of nothing: %v", err)
				}
				return a[e.Party()], nil
			})
		})
	}
}

// TestCircuitComparison runs the comparison-based functions on random inputs with the circuit
// comparison (the other tests use the engine's default, FSS): ReLU, Argmax and TopK exactly,
// Softmax within 1e-3.
func TestCircuitComparison(t *testing.T) {
	const rows, n, k = 3, 40, 5
	r := rand.New(rand.NewPCG(6, 6))
	xs := randValues(r, rows*n)
	scores := attentionRows(r, rows, n)
	cfg := mpc.Config{Comparison: mpc.CompareCircuit}
	for _, p := range testProtocols {
		t.Run(string(p), func(t *testing.T) {
			sh := shareFloats(t, p, xs, rows, n)
			ss := shareFloats(t, p, scores, rows, n)
			res := mpctest.Run(t, p, mpctest.Memory, cfg, func(e mpc.Engine) ([]*mpc.Share, error) {
				if e.Comparison() != mpc.CompareCircuit {
					return nil, fmt.Errorf("engine compares by %q", e.Comparison())
				}
				relu, err := ReLU(e, sh[e.Party()])
				if err != nil {
					return nil, err
				}
				_, am, err := Argmax(e, sh[e.Party()])
				if err != nil {
					return nil, err
				}
				_, top, err := TopK(e, sh[e.Party()], k)
				if err != nil {
					return nil, err
				}
				sm, err := Softmax(e, ss[e.Party()], SoftmaxOptions{})
				return []*mpc.Share{relu, am, top, sm}, err
			})
			out := transpose(res)
			relu := revealFloats(t, p, out[0])
			for i, x := range xs {
				if relu[i] != math.Max(x, 0) {
					t.Fatalf("relu(%v) = %v", x, relu[i])
				}
			}
			_, wantIdx := plainArgmax(xs, n)
			am, top := revealInts(t, p, out[1]), revealInts(t, p, out[2])
			for row := 0; row < rows; row++ {
				if am[row] != int64(wantIdx[row]) {
					t.Fatalf("row %d: argmax %d, want %d", row, am[row], wantIdx[row])
				}
				for rk, pos := range plainTopK(xs[row*n:(row+1)*n], k, nil, nil) {
					if top[row*k+rk] != int64(pos) {
						t.Fatalf("row %d rank %d: index %d, want %d", row, rk, top[row*k+rk], pos)
					}
				}
			}
			fxCheck(t, "softmax", revealFloats(t, p, out[3]), fxSoftmax(scores, n, nil), func(int) float64 { return 1e-3 })
		})
	}
}
