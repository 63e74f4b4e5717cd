package protocols

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/mpctest"
)

// fxSoftmax is the float64 reference along rows of n over the entries whose keep[i] is true
// (all when keep is nil); dropped entries get 0.
func fxSoftmax(x []float64, n int, keep []bool) []float64 {
	out := make([]float64, len(x))
	for r := 0; r < len(x); r += n {
		m := math.Inf(-1)
		for i := r; i < r+n; i++ {
			if keep == nil || keep[i] {
				m = math.Max(m, x[i])
			}
		}
		s := 0.0
		for i := r; i < r+n; i++ {
			if keep == nil || keep[i] {
				out[i] = math.Exp(x[i] - m)
				s += out[i]
			}
		}
		for i := r; i < r+n; i++ {
			out[i] /= s
		}
	}
	return out
}

// attentionRows returns rows×n attention-like scores: Gaussian rows of several widths, a row
// with one dominant score, a constant row, a row whose other scores sit 15 below the maximum
// (the worst case for the tail), and rows spread over ±200.
func attentionRows(r *rand.Rand, rows, n int) []float64 {
	xs := make([]float64, rows*n)
	for row := 0; row < rows; row++ {
		x := xs[row*n : (row+1)*n]
		switch row % 6 {
		case 0, 1, 2:
			sd := []float64{0.5, 2, 4}[row%6]
			for i := range x {
				x[i] = sd*r.NormFloat64() + 3
			}
		case 3:
			for i := range x {
				x[i] = r.NormFloat64()
			}
			x[r.IntN(n)] = 12
		case 4:
			for i := range x {
				x[i] = -7.25
			}
			if row%12 == 10 {
				for i := range x {
					x[i] = -15 + 0.01*r.NormFloat64()
				}
				x[r.IntN(n)] = 0
			}
		default:
			for i := range x {
				x[i] = 400*r.Float64() - 200
			}
		}
	}
	return fxRounded(xs)
}

// TestSoftmax checks Softmax against float64: every probability within 1e-3 (the measured
// largest error is logged), masked entries exactly 0, for decode shapes (12 heads × 1 × n, n up
// to 4096, 1024 with -short), prefill with a causal mask, a secret mask, and both masks.
func TestSoftmax(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	ns := []int{1, 7, 64, 1024, 4096}
	if testing.Short() {
		ns = ns[:4]
	}
	for _, n := range ns {
		xs := attentionRows(r, 12, n)
		for _, p := range testProtocols {
			t.Run(fmt.Sprintf("%s/decode-%d", p, n), func(t *testing.T) {
				sh := shareFloats(t, p, xs, 12, 1, n)
				got := revealFloats(t, p, run(t, p, func(e mpc.Engine) (*mpc.Share, error) {
					return Softmax(e, sh[e.Party()], SoftmaxOptions{})
				}))
				worst := fxCheck(t, "softmax", got, fxSoftmax(xs, n, nil), func(int) float64 { return 1e-3 })
				t.Logf("largest absolute error %.3g", worst)
			})
		}
	}

	// Prefill: 2 heads × T × T with a causal mask ([T, T], broadcast over heads) and a secret
	// mask per head and key ([2, 1, T]); masked entries must be exactly 0.
	const T = 48
	xs := attentionRows(r, 2*T, T)
	causal := mpc.NewTensor(T, T)
	for q := 0; q < T; q++ {
		for k := 0; k <= q; k++ {
			causal.Data[q*T+k] = 1
		}
	}
	secret := make([]int64, 2*T)
	for i := range secret {
		if i%T == 0 || r.IntN(3) > 0 { // key 0 stays, so no row is left empty
			secret[i] = 1
		}
	}
	for _, c := range []struct {
		name         string
		public, priv bool
	}{{"causal", true, false}, {"secret", false, true}, {"both", true, true}} {
		keep := make([]bool, len(xs))
		for i := range keep {
			h, q, k := i/(T*T), i/T%T, i%T
			keep[i] = (!c.public || k <= q) && (!c.priv || secret[h*T+k] == 1)
		}
		want := fxSoftmax(xs, T, keep)
		for _, p := range testProtocols {
			t.Run(fmt.Sprintf("%s/prefill-%s", p, c.name), func(t *testing.T) {
				sh := shareFloats(t, p, xs, 2, T, T)
				sm := shareInts(t, p, secret, 2, 1, T)
				got := revealFloats(t, p, run(t, p, func(e mpc.Engine) (*mpc.Share, error) {
					var opt SoftmaxOptions
					if c.public {
						opt.Mask = causal
					}
					if c.priv {
						opt.SecretMask = sm[e.Party()]
					}
					return Softmax(e, sh[e.Party()], opt)
				}))
				worst := fxCheck(t, "softmax", got, want, func(i int) float64 {
					if !keep[i] {
						return 0
					}
					return 1e-3
				})
				t.Logf("largest absolute error %.3g", worst)
			})
		}
	}
}

// TestSoftmaxPublicMaskCost checks what a public mask saves. Exp and the normalisation run on
// the unmasked entries only: with a causal mask over T×T, the exp's traffic (2pc, P0, whose
// material is exactly per element) is that of T(T+1)/2 entries. The maximum runs over blocks of
// rows cut to their longest unmasked prefix where the cost model finds it faster: on the LAN it
// takes less material than over whole rows, and every probability still matches float64.
func TestSoftmaxPublicMaskCost(t *testing.T) {
	const T = 256
	causal := mpc.NewTensor(T, T)
	keep := make([]bool, T*T)
	for q := 0; q < T; q++ {
		for k := 0; k <= q; k++ {
			causal.Data[q*T+k] = 1
			keep[q*T+k] = true
		}
	}
	xs := attentionRows(rand.New(rand.NewPCG(4, 4)), T, T)
	want := fxSoftmax(xs, T, keep)
	sh := shareFloats(t, mpc.TwoPC, xs, 1, T, T)
	stat := func(opt SoftmaxOptions, net mpc.Network) (exp, max mpc.Stat, got []float64) {
		type res struct {
			exp, max mpc.Stat
			y        *mpc.Share
		}
		rs := mpctest.Run(t, mpc.TwoPC, mpctest.Memory, mpc.Config{Network: net}, func(e mpc.Engine) (res, error) {
			e.Meter().Reset()
			done := e.Meter().Scope("s")
			y, err := Softmax(e, sh[e.Party()], opt)
			done()
			return res{e.Meter().Under("s/exp"), e.Meter().Under("s/max"), y}, err
		})
		return rs[0].exp, rs[0].max, revealFloats(t, mpc.TwoPC, []*mpc.Share{rs[0].y, rs[1].y, rs[2].y})
	}
	for _, net := range []mpc.Network{mpc.WANNetwork, mpc.LANNetwork} {
		t.Run(net.String(), func(t *testing.T) {
			fullExp, fullMax, _ := stat(SoftmaxOptions{}, net)
			maskExp, maskMax, got := stat(SoftmaxOptions{Mask: causal}, net)
			kept := int64(T * (T + 1) / 2)
			if maskExp.OfflineRecv*T*T != fullExp.OfflineRecv*kept || maskExp.OnlineSent*T*T != fullExp.OnlineSent*kept {
				t.Errorf("exp under a causal mask: offline %d, online %d bytes; unmasked %d, %d: want the fraction %d/%d",
					maskExp.OfflineRecv, maskExp.OnlineSent, fullExp.OfflineRecv, fullExp.OnlineSent, kept, T*T)
			}
			if net == mpc.LANNetwork && maskMax.OfflineRecv >= fullMax.OfflineRecv {
				t.Errorf("max under a causal mask on the LAN: %d bytes of material, %d without", maskMax.OfflineRecv, fullMax.OfflineRecv)
			}
			worst := fxCheck(t, "softmax", got, want, func(i int) float64 {
				if !keep[i] {
					return 0
				}
				return 1e-3
			})
			t.Logf("max: %d → %d bytes of material, %d → %d rounds; largest error %.3g",
				fullMax.OfflineRecv, maskMax.OfflineRecv, fullMax.Rounds, maskMax.Rounds, worst)
		})
	}
}
