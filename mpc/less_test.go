package mpc_test

import (
	"fmt"
	"math/rand/v2"
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

// checkLess runs Less(a, b) and Less(a, thr) for a broadcast threshold thr over the pairs
// (labelled by names, for messages) and checks the revealed bits.
func checkLess(t *testing.T, p mpc.Protocol, nw mpctest.Network, cmp mpc.Comparison, names []string, pairs []lessPair) {
	t.Helper()
	n := len(pairs)
	a, b := mpc.NewTensor(n), mpc.NewTensor(n)
	for i, q := range pairs {
		a.Data[i], b.Data[i] = uint64(q.a), uint64(q.b)
	}
	thr := int64(-12345)
	as, bs, ts := split(t, p, a), split(t, p, b), split(t, p, mpc.Scalar(uint64(thr)))
	res := mpctest.Run(t, p, nw, mpc.Config{Comparison: cmp}, func(e mpc.Engine) ([]*mpc.Share, error) {
		i := e.Party()
		lt, err := mpc.Less(e, as[i], bs[i])
		if err != nil {
			return nil, err
		}
		ltt, err := mpc.Less(e, as[i], ts[i])
		return []*mpc.Share{lt, ltt}, err
	})
	got := mpctest.Reveal(t, p, []*mpc.Share{res[0][0], res[1][0], res[2][0]})
	gotT := mpctest.Reveal(t, p, []*mpc.Share{res[0][1], res[1][1], res[2][1]})
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
	}
}
