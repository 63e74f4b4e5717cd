package mpc_test

import (
	"fmt"
	"testing"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/mpctest"
)

// benchOp runs op on shares of zeros of the given shapes for every party, b.N times, over the
// in-memory network (all parties share this machine's cores), and reports per element of
// elems: online bytes sent by the busiest party ("online-B/elem"), offline bytes received
// ("offline-B/elem") and rounds per call.
func benchOp(b *testing.B, p mpc.Protocol, cfg mpc.Config, elems int, shapes [][]int, op func(e mpc.Engine, xs []*mpc.Share) error) {
	var shares [][]*mpc.Share
	for _, s := range shapes {
		sh, err := mpc.Split(p, mpc.NewTensor(s...))
		if err != nil {
			b.Fatal(err)
		}
		shares = append(shares, sh)
	}
	b.ResetTimer()
	stats := mpctest.Run(b, p, mpctest.Memory, cfg, func(e mpc.Engine) (mpc.Stat, error) {
		xs := make([]*mpc.Share, len(shares))
		for i := range shares {
			xs[i] = shares[i][e.Party()]
		}
		e.Meter().Reset()
		for i := 0; i < b.N; i++ {
			if err := op(e, xs); err != nil {
				return mpc.Stat{}, err
			}
		}
		return e.Meter().Total(), nil
	})
	b.StopTimer()
	var on, off, rounds int64
	for _, s := range stats {
		on = max(on, s.OnlineSent)
		off = max(off, s.OfflineRecv)
		rounds = max(rounds, s.Rounds)
	}
	per := float64(b.N) * float64(elems)
	b.ReportMetric(float64(on)/per, "online-B/elem")
	b.ReportMetric(float64(off)/per, "offline-B/elem")
	b.ReportMetric(float64(rounds)/float64(b.N), "rounds")
}

func BenchmarkMul(b *testing.B) {
	const n = 1_000_000
	for _, p := range protocols {
		b.Run(fmt.Sprintf("%s/n=1e6", p), func(b *testing.B) {
			benchOp(b, p, mpc.Config{}, n, [][]int{{n}, {n}}, func(e mpc.Engine, xs []*mpc.Share) error {
				_, err := e.MulTrunc(xs[0], xs[1])
				return err
			})
		})
	}
}

func BenchmarkMatMul(b *testing.B) {
	const d = 768
	for _, p := range protocols {
		b.Run(fmt.Sprintf("%s/768x768x768", p), func(b *testing.B) {
			benchOp(b, p, mpc.Config{}, d*d, [][]int{{d, d}, {d, d}}, func(e mpc.Engine, xs []*mpc.Share) error {
				_, err := e.MatMulTrunc(xs[0], xs[1])
				return err
			})
		})
	}
}

func BenchmarkLTZ(b *testing.B) {
	const n = 1_000_000
	for _, p := range protocols {
		for _, cmp := range comparisons {
			b.Run(fmt.Sprintf("%s/%s/n=1e6", p, cmp), func(b *testing.B) {
				benchOp(b, p, mpc.Config{Comparison: cmp}, n, [][]int{{n}}, func(e mpc.Engine, xs []*mpc.Share) error {
					_, err := e.LTZ(xs[0])
					return err
				})
			})
		}
	}
}
