package protocols

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/privinfer/mpcache/mpc"
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

// TestCompareCost asserts the costs the doc comments of ReLU and Equal state.
func TestCompareCost(t *testing.T) {
	const n = 1000
	for _, p := range testProtocols {
		sh := shareFloats(t, p, make([]float64, n))
		t.Run(string(p)+"/relu", func(t *testing.T) {
			_, st := measure(t, p, "relu", func(e mpc.Engine) (*mpc.Share, error) { return ReLU(e, sh[e.Party()]) })
			want := ltzCost(p, n)
			want.add(mulCost(p, n))
			assertMeterCost(t, st, want)
			per := map[mpc.Protocol][3]float64{mpc.TwoPC: {200.125, 200.125, 112}, mpc.ThreePC: {176, 112, 0}}[p]
			if got := float64(st[0].OnlineSent) / n; got != per[0] {
				t.Errorf("P0 sends %v B/elem, doc says %v", got, per[0])
			}
			if got := float64(st[1].OnlineSent) / n; got != per[1] {
				t.Errorf("P1 sends %v B/elem, doc says %v", got, per[1])
			}
			if got := float64(st[1].OfflineRecv) / n; got != per[2] {
				t.Errorf("offline %v B/elem, doc says %v", got, per[2])
			}
		})
		t.Run(string(p)+"/equal", func(t *testing.T) {
			_, st := measure(t, p, "equal", func(e mpc.Engine) (*mpc.Share, error) {
				return Equal(e, sh[e.Party()], sh[e.Party()])
			})
			assertMeterCost(t, st, ltzCost(p, 2*n))
			per := map[mpc.Protocol][3]float64{mpc.TwoPC: {368.25, 368.25, 208}, mpc.ThreePC: {336, 208, 0}}[p]
			if got := float64(st[0].OnlineSent) / n; got != per[0] {
				t.Errorf("P0 sends %v B/elem, doc says %v", got, per[0])
			}
			if got := float64(st[1].OnlineSent) / n; got != per[1] {
				t.Errorf("P1 sends %v B/elem, doc says %v", got, per[1])
			}
			if got := float64(st[1].OfflineRecv) / n; got != per[2] {
				t.Errorf("offline %v B/elem, doc says %v", got, per[2])
			}
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
