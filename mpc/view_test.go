package mpc_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/mpctest"
	"github.com/privinfer/mpcache/mpc/transport"
)

// TestViewIndependentOfSecret checks that what each party receives during the online phase
// looks uniformly random, whatever the secret: for two very different secrets (all zeros and
// all −1, the extremes of a sign test) the byte histogram of every party's received messages
// passes a chi-square test of uniformity. A protocol that opened anything unmasked (a bit of the
// secret, a product, a comparison result) fails this immediately.
func TestViewIndependentOfSecret(t *testing.T) {
	const n = 4096
	ltz := func(e mpc.Engine, x *mpc.Share) error { _, err := e.LTZ(x); return err }
	ops := []struct {
		name string
		cmp  mpc.Comparison
		f    func(e mpc.Engine, x *mpc.Share) error
	}{
		{"mul", "", func(e mpc.Engine, x *mpc.Share) error { _, err := e.Mul(x, x); return err }},
		{"multrunc", "", func(e mpc.Engine, x *mpc.Share) error { _, err := e.MulTrunc(x, x); return err }},
		{"ltz-circuit", mpc.CompareCircuit, ltz},
		{"ltz-fss", mpc.CompareFSS, ltz},
		{"onehot", "", func(e mpc.Engine, x *mpc.Share) error { _, err := e.OneHot(x, 16); return err }},
	}
	for _, p := range protocols {
		for _, op := range ops {
			for _, secret := range []uint64{0, math.MaxUint64} {
				t.Run(fmt.Sprintf("%s/%s/%x", p, op.name, secret&0xff), func(t *testing.T) {
					x := mpc.NewTensor(n)
					for i := range x.Data {
						x.Data[i] = secret
						if op.name == "onehot" {
							x.Data[i] = secret & 7
						}
					}
					shares, err := mpc.Split(p, x)
					if err != nil {
						t.Fatal(err)
					}
					recs := make([]*mpctest.Recorder, 3)
					_, err = mpctest.RunWrapped(p, mpctest.Memory, mpc.Config{Comparison: op.cmp}, func(i int, tr transport.Transport) transport.Transport {
						recs[i] = &mpctest.Recorder{Transport: tr}
						return recs[i]
					}, func(e mpc.Engine) (struct{}, error) {
						recs[e.Party()].Received = nil // drop set-up seeds
						return struct{}{}, op.f(e, shares[e.Party()])
					})
					if err != nil {
						t.Fatal(err)
					}
					for i, r := range recs {
						var hist [256]float64
						total := 0.0
						for _, m := range r.Received {
							for _, b := range m {
								hist[b]++
								total++
							}
						}
						if total < 4096 {
							continue // a party that received (almost) nothing has nothing to leak
						}
						chi := 0.0
						exp := total / 256
						for _, h := range hist {
							chi += (h - exp) * (h - exp) / exp
						}
						// 255 degrees of freedom: mean 255, sd ≈ 22.6; 400 is beyond 6 sd.
						if chi > 400 {
							t.Errorf("party %d's view is not uniform (chi-square %.0f over %.0f bytes)", i, chi, total)
						}
					}
				})
			}
		}
	}
}
