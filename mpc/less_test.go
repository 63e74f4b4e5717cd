package mpc_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/mpctest"
)

// TestLess checks Less(a, b) = [a < b] on both backends, both comparison methods and both
// networks, on edge pairs over the whole supported range (values in [−2^62, 2^62), where a − b
// cannot wrap) and on random pairs, and a broadcast threshold.
func TestLess(t *testing.T) {
	const lo, hi = -(int64(1) << 62), int64(1)<<62 - 1 // the extreme supported values
	ulp := int64(1)                                    // one unit in the last place (ring unit)
	one := int64(1) << 16                              // 1.0 at the default 16 fractional bits
	type pair = lessPair
	cases := []struct {
		name  string
		pairs []pair
	}{
		{"equal", []pair{{0, 0}, {1, 1}, {-1, -1}, {one, one}, {-one, -one}, {hi, hi}, {lo, lo}, {lo + 1, lo + 1}}},
		{"ulp", []pair{
			{0, ulp}, {ulp, 0}, {0, -ulp}, {-ulp, 0}, {-ulp, ulp}, {ulp, -ulp},
			{one, one + ulp}, {one + ulp, one}, {-one, -one + ulp}, {-one + ulp, -one},
			{hi - ulp, hi}, {hi, hi - ulp}, {lo, lo + ulp}, {lo + ulp, lo},
		}},
		{"extremes", []pair{
			{lo, hi}, {hi, lo}, // |a − b| = 2^63 − 1, the widest gap
			{lo, 0}, {0, lo}, {hi, 0}, {0, hi}, {lo + 1, hi}, {hi, lo + 1}, {-hi, hi}, {hi, -hi},
			{lo, -ulp}, {-ulp, lo}, {hi, ulp}, {ulp, hi},
		}},
		{"random", func() []pair {
			r := rand.New(rand.NewPCG(21, 22))
			uni := func() int64 { return int64(r.Uint64()>>1) - 1<<62 } // uniform in [−2^62, 2^62)
			var ps []pair
			for i := 0; i < 500; i++ {
				ps = append(ps, pair{uni(), uni()})
				// Close pairs at every magnitude: the sign of a small difference of large values.
				a := uni() >> uint(r.IntN(62))
				d := int64(r.IntN(5)) - 2
				if b := a + d; b >= lo && b <= hi {
					ps = append(ps, pair{a, b})
				}
			}
			return ps
		}()},
	}
	for _, p := range protocols {
		for _, nw := range networks(t) {
			for _, cmp := range comparisons {
				t.Run(fmt.Sprintf("%s/%s/%s", p, nw.name, cmp), func(t *testing.T) {
					// One run for every case: the cases share the comparison's rounds.
					var all []lessPair
					var names []string
					for _, c := range cases {
						all = append(all, c.pairs...)
						for range c.pairs {
							names = append(names, c.name)
						}
					}
					checkLess(t, p, nw.nw, cmp, names, all)
				})
			}
		}
	}
}

type lessPair struct{ a, b int64 }

// lessMap is a public map of checkLess's seven comparison bits to two values.
var lessMap = &mpc.Tensor{Shape: []int{7, 2}, Data: []uint64{1, 0, 2, 1 << 40, 4, 3, 8, 0, 16, 1<<64 - 1, 32, 7, 64, 1}}

// checkLess runs Less(a, b), Less(a, thr) for a broadcast threshold thr, and LessThan(a, ts)
// for public thresholds ts over the pairs (labelled by names, for messages) and checks the
// revealed bits.
func checkLess(t *testing.T, p mpc.Protocol, nw mpctest.Network, cmp mpc.Comparison, names []string, pairs []lessPair) {
	t.Helper()
	n := len(pairs)
	a, b := mpc.NewTensor(n), mpc.NewTensor(n)
	for i, q := range pairs {
		a.Data[i], b.Data[i] = uint64(q.a), uint64(q.b)
	}
	thr := int64(-12345)
	pub := []int64{thr, 0, 1, -1, 1<<62 - 1, -(1 << 62), 1 << 16}
	pubRing := make([]uint64, len(pub))
	for k, v := range pub {
		pubRing[k] = uint64(v)
	}
	as, bs, ts := split(t, p, a), split(t, p, b), split(t, p, mpc.Scalar(uint64(thr)))
	res := mpctest.Run(t, p, nw, mpc.Config{Comparison: cmp}, func(e mpc.Engine) ([]*mpc.Share, error) {
		i := e.Party()
		lt, err := mpc.Less(e, as[i], bs[i])
		if err != nil {
			return nil, err
		}
		ltt, err := mpc.Less(e, as[i], ts[i])
		if err != nil {
			return nil, err
		}
		ltp, err := e.LessThan(as[i], pubRing, nil)
		if err != nil {
			return nil, err
		}
		ltm, err := e.LessThan(as[i], pubRing, lessMap)
		return []*mpc.Share{lt, ltt, ltp, ltm}, err
	})
	got := mpctest.Reveal(t, p, []*mpc.Share{res[0][0], res[1][0], res[2][0]})
	gotT := mpctest.Reveal(t, p, []*mpc.Share{res[0][1], res[1][1], res[2][1]})
	gotP := mpctest.Reveal(t, p, []*mpc.Share{res[0][2], res[1][2], res[2][2]})
	gotM := mpctest.Reveal(t, p, []*mpc.Share{res[0][3], res[1][3], res[2][3]})
	if want := []int{n, len(pub)}; !slices.Equal(gotP.Shape, want) {
		t.Fatalf("LessThan of %d elements and %d thresholds has shape %v, want %v", n, len(pub), gotP.Shape, want)
	}
	bit := func(c bool) uint64 {
		if c {
			return 1
		}
		return 0
	}
	for i, q := range pairs {
		if w := bit(q.a < q.b); got.Data[i] != w {
			t.Fatalf("%s: Less(%d, %d) = %d, want %d", names[i], q.a, q.b, got.Data[i], w)
		}
		if w := bit(q.a < thr); gotT.Data[i] != w {
			t.Fatalf("%s: Less(%d, %d) (broadcast) = %d, want %d", names[i], q.a, thr, gotT.Data[i], w)
		}
		var mapped [2]uint64
		for k, v := range pub {
			if w := bit(q.a < v); gotP.Data[i*len(pub)+k] != w {
				t.Fatalf("%s: LessThan(%d, %d) = %d, want %d", names[i], q.a, v, gotP.Data[i*len(pub)+k], w)
			}
			for c := range mapped {
				mapped[c] += bit(q.a < v) * lessMap.Data[k*2+c]
			}
		}
		if got := gotM.Data[2*i : 2*i+2]; got[0] != mapped[0] || got[1] != mapped[1] {
			t.Fatalf("%s: LessThan(%d) mapped = %v, want %v", names[i], q.a, got, mapped)
		}
	}
}
