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

// approxCase is one fixed-point approximation run on a zero input of the given shape, with
// the traffic the meter must count exactly: rounds and online bytes sent per party, and the
// offline bytes P1 receives (the dealer's material in 2pc, P2's truncation material in 3pc;
// P0 draws its material from a seed). The doc comments quote these figures per element.
type approxCase struct {
	name   string
	shape  []int
	f      func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error)
	rounds map[mpc.Protocol][3]int64
	sent   map[mpc.Protocol][3]int64
	off    map[mpc.Protocol]int64
}

// firstRow returns x's first row as a vector (an arbitrary shared γ, β or weight).
func firstRow(x *mpc.Share) *mpc.Share {
	r, _ := mpc.Slice(x, 0, 0, 1)
	r, _ = mpc.Reshape(r, x.Shape[len(x.Shape)-1])
	return r
}

var approxCases = []approxCase{
	{"exp", []int{1024}, Exp,
		map[mpc.Protocol][3]int64{mpc.TwoPC: {14, 14, 0}, mpc.ThreePC: {15, 15, 12}},
		map[mpc.Protocol][3]int64{mpc.TwoPC: {786816, 786816, 0}, mpc.ThreePC: {671744, 475136, 475136}},
		map[mpc.Protocol]int64{mpc.TwoPC: 540672, mpc.ThreePC: 147456}},
	{"gelu", []int{1024}, GeLU,
		map[mpc.Protocol][3]int64{mpc.TwoPC: {12, 12, 0}, mpc.ThreePC: {12, 12, 10}},
		map[mpc.Protocol][3]int64{mpc.TwoPC: {1041024, 1041024, 0}, mpc.ThreePC: {925696, 598016, 598016}},
		map[mpc.Protocol]int64{mpc.TwoPC: 630784, mpc.ThreePC: 65536}},
	{"silu", []int{1024}, SiLU,
		map[mpc.Protocol][3]int64{mpc.TwoPC: {12, 12, 0}, mpc.ThreePC: {12, 12, 10}},
		map[mpc.Protocol][3]int64{mpc.TwoPC: {1041024, 1041024, 0}, mpc.ThreePC: {925696, 598016, 598016}},
		map[mpc.Protocol]int64{mpc.TwoPC: 630784, mpc.ThreePC: 65536}},
	{"reciprocal", []int{64}, func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) { return Reciprocal(e, x, 4096) },
		map[mpc.Protocol][3]int64{mpc.TwoPC: {10, 10, 0}, mpc.ThreePC: {11, 11, 10}},
		map[mpc.Protocol][3]int64{mpc.TwoPC: {2110872, 2110872, 0}, mpc.ThreePC: {1926144, 1192960, 1192960}},
		map[mpc.Protocol]int64{mpc.TwoPC: 1192960, mpc.ThreePC: 1024}},
	{"rsqrt", []int{64}, func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) { return Rsqrt(e, x, 1e-5, 1e5) },
		map[mpc.Protocol][3]int64{mpc.TwoPC: {12, 12, 0}, mpc.ThreePC: {12, 12, 10}},
		map[mpc.Protocol][3]int64{mpc.TwoPC: {3267240, 3267240, 0}, mpc.ThreePC: {2980352, 1845760, 1845760}},
		map[mpc.Protocol]int64{mpc.TwoPC: 1846784, mpc.ThreePC: 2048}},
	{"layernorm", []int{4, 768}, func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
		return LayerNorm(e, x, firstRow(x), firstRow(x), 1e-5)
	},
		map[mpc.Protocol][3]int64{mpc.TwoPC: {16, 16, 0}, mpc.ThreePC: {19, 19, 15}},
		map[mpc.Protocol][3]int64{mpc.TwoPC: {390997, 390997, 0}, mpc.ThreePC: {322688, 246656, 246656}},
		map[mpc.Protocol]int64{mpc.TwoPC: 246688, mpc.ThreePC: 49344}},
	{"rmsnorm", []int{4, 768}, func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
		return RMSNorm(e, x, firstRow(x), 1e-5)
	},
		map[mpc.Protocol][3]int64{mpc.TwoPC: {15, 15, 0}, mpc.ThreePC: {17, 17, 14}},
		map[mpc.Protocol][3]int64{mpc.TwoPC: {390965, 390965, 0}, mpc.ThreePC: {322624, 246592, 246592}},
		map[mpc.Protocol]int64{mpc.TwoPC: 246624, mpc.ThreePC: 49280}},
	// Softmax without its maximum (the meter's "max" scope, checked against Max alone below).
	{"softmax", []int{12, 1024}, func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
		return Softmax(e, x, SoftmaxOptions{})
	},
		map[mpc.Protocol][3]int64{mpc.TwoPC: {26, 26, 0}, mpc.ThreePC: {29, 29, 24}},
		map[mpc.Protocol][3]int64{mpc.TwoPC: {10066208, 10066208, 0}, mpc.ThreePC: {8656512, 6182784, 6182784}},
		map[mpc.Protocol]int64{mpc.TwoPC: 6969216, mpc.ThreePC: 1966272}},
}

// TestApproxCosts asserts the exact traffic of every fixed-point approximation, per party, and
// that Softmax's maximum costs what Max alone does. It logs the per-element figures.
func TestApproxCosts(t *testing.T) {
	for _, c := range approxCases {
		for _, p := range testProtocols {
			t.Run(c.name+"/"+string(p), func(t *testing.T) {
				sh := shareFloats(t, p, make([]float64, mpc.Numel(c.shape)), c.shape...)
				type stats struct{ all, max mpc.Stat }
				res := mpctest.Run(t, p, mpctest.Memory, mpc.Config{}, func(e mpc.Engine) (stats, error) {
					e.Meter().Reset()
					done := e.Meter().Scope(c.name)
					_, err := c.f(e, sh[e.Party()])
					done()
					return stats{e.Meter().Under(c.name), e.Meter().Under(c.name + "/max")}, err
				})
				var mx []mpc.Stat
				if c.name == "softmax" {
					_, mx = measure(t, p, "max", func(e mpc.Engine) (*mpc.Share, error) { return Max(e, sh[e.Party()]) })
				}
				n := float64(mpc.Numel(c.shape))
				for i, r := range res {
					got := r.all
					if mx != nil {
						if r.max.Rounds != mx[i].Rounds || r.max.OnlineSent != mx[i].OnlineSent || r.max.OfflineRecv != mx[i].OfflineRecv {
							t.Errorf("party %d: softmax's max %+v differs from Max's %+v", i, r.max, mx[i])
						}
						got.Rounds -= r.max.Rounds
						got.OnlineSent -= r.max.OnlineSent
						got.OfflineRecv -= r.max.OfflineRecv
					}
					wantOff := int64(0)
					if i == 1 {
						wantOff = c.off[p]
					}
					if got.Rounds != c.rounds[p][i] || got.OnlineSent != c.sent[p][i] || got.OfflineRecv != wantOff {
						t.Errorf("party %d: rounds %d, sent %d, offline %d; want %d, %d, %d", i,
							got.Rounds, got.OnlineSent, got.OfflineRecv, c.rounds[p][i], c.sent[p][i], wantOff)
					}
				}
				t.Logf("%v: rounds %d, online B/elem %v (P0) %v (P1), offline B/elem %v", c.shape, c.rounds[p][0],
					float64(c.sent[p][0])/n, float64(c.sent[p][1])/n, float64(c.off[p])/n)
			})
		}
	}
}

// TestApproxBadInput checks that bad shapes and ranges give errors naming the function, at
// every party, without panics or communication deadlocks.
func TestApproxBadInput(t *testing.T) {
	type bad struct {
		name, want string
		f          func(e mpc.Engine, x *mpc.Share) error
	}
	vec := func(x *mpc.Share, n int) *mpc.Share {
		v, _ := mpc.Slice(firstRow(x), 0, 0, n)
		return v
	}
	cases := []bad{
		{"exp of nothing", "exp: empty", func(e mpc.Engine, x *mpc.Share) error {
			z, _ := mpc.Slice(x, 0, 0, 0)
			_, err := Exp(e, z)
			return err
		}},
		{"gelu of nothing", "gelu: empty", func(e mpc.Engine, x *mpc.Share) error {
			z, _ := mpc.Slice(x, 0, 0, 0)
			_, err := GeLU(e, z)
			return err
		}},
		{"maxValue below 1", "reciprocal: maxValue", func(e mpc.Engine, x *mpc.Share) error {
			_, err := Reciprocal(e, x, 0.5)
			return err
		}},
		{"maxValue NaN", "reciprocal: maxValue", func(e mpc.Engine, x *mpc.Share) error {
			_, err := Reciprocal(e, x, math.NaN())
			return err
		}},
		{"maxValue too large", "reciprocal: range", func(e mpc.Engine, x *mpc.Share) error {
			_, err := Reciprocal(e, x, 1<<17)
			return err
		}},
		{"empty rsqrt range", "rsqrt: range", func(e mpc.Engine, x *mpc.Share) error {
			_, err := Rsqrt(e, x, 2, 1)
			return err
		}},
		{"negative rsqrt range", "rsqrt: range", func(e mpc.Engine, x *mpc.Share) error {
			_, err := Rsqrt(e, x, -1, 1)
			return err
		}},
		{"rsqrt range too wide", "rsqrt: range", func(e mpc.Engine, x *mpc.Share) error {
			_, err := Rsqrt(e, x, 1, 1e30)
			return err
		}},
		{"softmax row too long", "softmax: rows of", func(e mpc.Engine, x *mpc.Share) error {
			long := &mpc.Share{Shape: []int{1 << 17}}
			_, err := Softmax(e, long, SoftmaxOptions{})
			return err
		}},
		{"softmax mask shape", "softmax: mask of shape", func(e mpc.Engine, x *mpc.Share) error {
			_, err := Softmax(e, x, SoftmaxOptions{Mask: mpc.NewTensor(3, 4)})
			return err
		}},
		{"softmax mask values", "softmax: mask holds 2", func(e mpc.Engine, x *mpc.Share) error {
			m := mpc.NewTensor(8)
			m.Data[0], m.Data[1] = 1, 2
			_, err := Softmax(e, x, SoftmaxOptions{Mask: m})
			return err
		}},
		{"softmax empty row", "softmax: mask leaves row 1 empty", func(e mpc.Engine, x *mpc.Share) error {
			m := mpc.NewTensor(2, 8)
			m.Data[0] = 1
			_, err := Softmax(e, x, SoftmaxOptions{Mask: m})
			return err
		}},
		{"softmax secret mask shape", "softmax: secret mask of shape", func(e mpc.Engine, x *mpc.Share) error {
			_, err := Softmax(e, x, SoftmaxOptions{SecretMask: vec(x, 3)})
			return err
		}},
		{"layernorm gamma shape", "layernorm: parameter of shape", func(e mpc.Engine, x *mpc.Share) error {
			_, err := LayerNorm(e, x, vec(x, 3), nil, 1e-5)
			return err
		}},
		{"layernorm eps", "layernorm: eps", func(e mpc.Engine, x *mpc.Share) error {
			_, err := LayerNorm(e, x, nil, nil, 0)
			return err
		}},
		{"rmsnorm eps", "rmsnorm: eps", func(e mpc.Engine, x *mpc.Share) error {
			_, err := RMSNorm(e, x, nil, math.Inf(1))
			return err
		}},
		{"rmsnorm eps too large", "rmsnorm: eps", func(e mpc.Engine, x *mpc.Share) error {
			_, err := RMSNorm(e, x, nil, 1e9)
			return err
		}},
		{"norm of a scalar row", "rmsnorm: shape", func(e mpc.Engine, x *mpc.Share) error {
			_, err := RMSNorm(e, &mpc.Share{Shape: []int{4, 0}}, nil, 1e-5)
			return err
		}},
	}
	r := rand.New(rand.NewPCG(7, 7))
	for _, p := range testProtocols {
		sh := shareFloats(t, p, fxUniform(r, 16, 1, 2), 2, 8)
		for _, c := range cases {
			t.Run(string(p)+"/"+c.name, func(t *testing.T) {
				errs := mpctest.Run(t, p, mpctest.Memory, mpc.Config{}, func(e mpc.Engine) (string, error) {
					err := c.f(e, sh[e.Party()])
					if err == nil {
						return "", nil
					}
					return err.Error(), nil
				})
				for i, msg := range errs {
					if !strings.Contains(msg, c.want) {
						t.Errorf("party %d: error %q, want one containing %q", i, msg, c.want)
					}
				}
			})
		}
	}
}

// BenchmarkApprox runs the fixed-point approximations at the sizes of a GPT-2-124M decode step
// (softmax over 12 heads × 1024 keys, GeLU over 3072, LayerNorm over 768; exp over the softmax
// entries, one reciprocal per head, one inverse square root per norm row) and a LLaMA-7B MLP
// and norm (SiLU over 11008, RMSNorm over 4096), on both backends.
func BenchmarkApprox(b *testing.B) {
	cases := []struct {
		name  string
		shape []int
		f     func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error)
	}{
		{"softmax/12x1024", []int{12, 1, 1024}, func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
			return Softmax(e, x, SoftmaxOptions{})
		}},
		{"exp/12x1024", []int{12, 1024}, Exp},
		{"reciprocal/12", []int{12}, func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) { return Reciprocal(e, x, 1024) }},
		{"gelu/3072", []int{3072}, GeLU},
		{"silu/11008", []int{11008}, SiLU},
		{"layernorm/768", []int{1, 768}, func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
			return LayerNorm(e, x, firstRow(x), firstRow(x), 1e-5)
		}},
		{"rmsnorm/4096", []int{1, 4096}, func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
			return RMSNorm(e, x, firstRow(x), 1e-6)
		}},
		{"rsqrt/1", []int{1}, func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) { return Rsqrt(e, x, 1e-5, 1e5) }},
	}
	for _, c := range cases {
		for _, p := range testProtocols {
			b.Run(fmt.Sprintf("%s/%s", c.name, p), func(b *testing.B) {
				xs := make([]float64, mpc.Numel(c.shape))
				for i := range xs {
					xs[i] = 1 + float64(i%7)
				}
				sh := shareFloats(b, p, xs, c.shape...)
				benchOp(b, p, len(xs), func(e mpc.Engine) error {
					_, err := c.f(e, sh[e.Party()])
					return err
				})
			})
		}
	}
}
