package protocols

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/fss"
	"github.com/privinfer/mpcache/mpc/mpctest"
)

// approxCase is one fixed-point approximation run on a zero input of the given shape, with
// the traffic the meter must count exactly: its LessThan calls, whose cost depends on the
// comparison method (lessCost), and everything else (products and truncations), which does
// not. The doc comments quote these figures per element.
type approxCase struct {
	name  string
	shape []int
	f     func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error)
	less  []lessCall
	rest  map[mpc.Protocol]meterCost
	// circuit, when set, is the cost under the boolean circuit, where the function takes another
	// form (fewer comparisons).
	circuit *circuitForm
	// paired: with FSS comparisons 3pc runs the function on its two-party view (backend.view),
	// so it costs the 2pc form plus moving the result back.
	paired bool
}

// circuitForm is an approximation's comparisons and other traffic under the boolean circuit.
type circuitForm struct {
	less []lessCall
	rest map[mpc.Protocol]meterCost
}

// form returns c's comparisons and other traffic on backend b.
func (c approxCase) form(b backend) ([]lessCall, meterCost) {
	if c.circuit != nil && b.cmp == mpc.CompareCircuit {
		return c.circuit.less, c.circuit.rest[b.p]
	}
	return c.less, c.rest[b.p]
}

// lessCall is one LessThan: n elements against thr thresholds, with outs results each, of a
// fixed value or not, over bits (0: the full width).
type lessCall struct {
	n, thr, outs int
	fixed        bool
	bits         uint
}

// segments is the LessThan of segmentValues on n elements with thr cuts and cols columns.
func segments(n, thr, cols int) lessCall { return lessCall{n, thr, min(thr, cols), false, 0} }

// fixedSegments is segments on a fixed value.
func fixedSegments(n, thr, cols int) lessCall { return lessCall{n, thr, min(thr, cols), true, 0} }

// over is l over bits.
func (l lessCall) over(bits uint) lessCall { l.bits = bits; return l }

func (l lessCall) cost(b backend) meterCost {
	if l.bits != 0 {
		b = b.withBits(l.bits)
	}
	c := lessCost(b, l.n, l.thr, l.outs)
	if l.fixed && b.p == mpc.TwoPC && b.cmp == mpc.CompareFSS {
		// The fix's opened difference is the masked value: only the keys remain.
		c.rounds, c.sent = [3]int64{}, [3]int64{}
	}
	return c
}

// firstRow returns x's first row as a vector (an arbitrary shared γ, β or weight).
func firstRow(x *mpc.Share) *mpc.Share {
	r, _ := mpc.Slice(x, 0, 0, 1)
	r, _ = mpc.Reshape(r, x.Shape[len(x.Shape)-1])
	return r
}

// restCost is the traffic besides comparisons: rounds, online bytes sent and offline bytes
// received at P0, P1 and P2.
func restCost(r0, r1, r2, s0, s1, s2, o0, o1, o2 int64) meterCost {
	return meterCost{[3]int64{r0, r1, r2}, [3]int64{s0, s1, s2}, [3]int64{o0, o1, o2}}
}

// The widths of GeLU's and SiLU's, Exp's and softmax's exp's comparisons at 16 fractional bits.
var (
	activationWidth, _ = activationPrecision(16)
	expWidth, _        = cutPrecision(16, fss.MaxBits)
	softmaxExpWidth, _ = cutPrecision(16, softmaxBits(16))
)

var approxCases = []approxCase{
	{"exp", []int{1024}, Exp, []lessCall{segments(1024, 3, 9).over(expWidth)}, map[mpc.Protocol]meterCost{
		mpc.TwoPC:   restCost(6, 6, 0, 216*1024, 216*1024, 0, 0, 216*1024, 0),
		mpc.ThreePC: restCost(6, 6, 3, 144*1024, 144*1024, 144*1024, 0, 144*1024, 0),
	}, nil, false},
	// The activations: with FSS comparisons quadratic pieces on a fixed x (2pc: the fix, 1
	// round and 8 bytes, then two products that open 8 bytes and truncate; 3pc the same on
	// its two-party view), cubic pieces (4 products) with the circuit, whose cost is in the
	// circuit field.
	{"gelu", []int{1024}, GeLU, []lessCall{fixedSegments(1024, 14, 3).over(activationWidth)}, map[mpc.Protocol]meterCost{
		mpc.TwoPC: restCost(5, 5, 0, 40*1024, 40*1024, 0, 0, 48*1024, 0),
	}, &circuitForm{[]lessCall{segments(1024, 8, 5).over(activationWidth)}, map[mpc.Protocol]meterCost{
		mpc.TwoPC:   restCost(4, 4, 0, 96*1024, 96*1024, 0, 0, 96*1024, 0),
		mpc.ThreePC: restCost(4, 4, 2, 64*1024, 64*1024, 64*1024, 0, 64*1024, 0),
	}}, true},
	{"silu", []int{1024}, SiLU, []lessCall{fixedSegments(1024, 18, 3).over(activationWidth)}, map[mpc.Protocol]meterCost{
		mpc.TwoPC: restCost(5, 5, 0, 40*1024, 40*1024, 0, 0, 48*1024, 0),
	}, &circuitForm{[]lessCall{segments(1024, 10, 5).over(activationWidth)}, map[mpc.Protocol]meterCost{
		mpc.TwoPC:   restCost(4, 4, 0, 96*1024, 96*1024, 0, 0, 96*1024, 0),
		mpc.ThreePC: restCost(4, 4, 2, 64*1024, 64*1024, 64*1024, 0, 64*1024, 0),
	}}, true},
	{"reciprocal", []int{64}, func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) { return Reciprocal(e, x, 4096) }, []lessCall{segments(64, 179, 2)},
		map[mpc.Protocol]meterCost{
			mpc.TwoPC:   restCost(2, 2, 0, 24*64, 24*64, 0, 0, 24*64, 0),
			mpc.ThreePC: restCost(2, 2, 1, 16*64, 16*64, 16*64, 0, 16*64, 0),
		}, nil, false},
	{"rsqrt", []int{64}, func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) { return Rsqrt(e, x, 1e-5, 1e5) }, []lessCall{segments(64, 277, 3)},
		map[mpc.Protocol]meterCost{
			mpc.TwoPC:   restCost(4, 4, 0, 48*64, 48*64, 0, 0, 48*64, 0),
			mpc.ThreePC: restCost(4, 4, 2, 32*64, 32*64, 32*64, 0, 32*64, 0),
		}, nil, false},
	{"layernorm", []int{4, 768}, func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
		return LayerNorm(e, x, firstRow(x), firstRow(x), 1e-5)
	}, []lessCall{segments(4, 297, 3)}, map[mpc.Protocol]meterCost{ // per element and per row
		// 2pc: c and γ fixed in one round (8 per element and per entry of γ), the rest as ever.
		mpc.TwoPC:   restCost(8, 8, 0, 32*4*768+8*768+56*4, 32*4*768+8*768+56*4, 0, 0, 40*4*768+64*4, 0),
		mpc.ThreePC: restCost(9, 9, 5, 32*4*768+48*4, 32*4*768+48*4, 32*4*768+48*4, 0, 16*4*768+48*4, 0),
	}, nil, false},
	{"rmsnorm", []int{4, 768}, func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
		return RMSNorm(e, x, firstRow(x), 1e-5)
	}, []lessCall{segments(4, 297, 3)}, map[mpc.Protocol]meterCost{
		mpc.TwoPC:   restCost(7, 7, 0, 32*4*768+8*768+48*4, 32*4*768+8*768+48*4, 0, 0, 40*4*768+48*4, 0),
		mpc.ThreePC: restCost(7, 7, 4, 32*4*768+32*4, 32*4*768+32*4, 32*4*768+32*4, 0, 16*4*768+32*4, 0),
	}, nil, false},
	// Softmax without its maximum (the meter's "max" scope, checked against Max alone below).
	{"softmax", []int{12, 1024}, func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
		return Softmax(e, x, SoftmaxOptions{})
	}, []lessCall{segments(12*1024, 3, 9).over(softmaxExpWidth), segments(12, 149, 2)}, map[mpc.Protocol]meterCost{
		mpc.TwoPC:   restCost(10, 10, 0, 240*12*1024+24*12, 240*12*1024+24*12, 0, 0, 240*12*1024+24*12, 0),
		mpc.ThreePC: restCost(10, 10, 5, 160*12*1024+16*12, 160*12*1024+16*12, 160*12*1024+16*12, 0, 160*12*1024+16*12, 0),
	}, nil, false},
}

// TestApproxCosts asserts the exact traffic of every fixed-point approximation, per party, on
// both comparison methods, and that Softmax's maximum costs what Max alone does. It logs the
// per-element figures.
func TestApproxCosts(t *testing.T) {
	for _, c := range approxCases {
		for _, b := range testBackends {
			t.Run(c.name+"/"+b.String(), func(t *testing.T) {
				sh := shareFloats(t, b.p, make([]float64, mpc.Numel(c.shape)), c.shape...)
				type stats struct{ all, max mpc.Stat }
				res := mpctest.Run(t, b.p, mpctest.Memory, mpc.Config{Comparison: b.cmp}, func(e mpc.Engine) (stats, error) {
					e.Meter().Reset()
					done := e.Meter().Scope(c.name)
					_, err := c.f(e, sh[e.Party()])
					done()
					return stats{e.Meter().Under(c.name), e.Meter().Under(c.name + "/max")}, err
				})
				var mx []mpc.Stat
				if c.name == "softmax" {
					_, mx = measureOn(t, b, "max", func(e mpc.Engine) (*mpc.Share, error) {
						ce, err := e.WithCompareBits(softmaxBits(e.Frac()))
						if err != nil {
							return nil, err
						}
						return Max(ce, sh[e.Party()])
					})
				}
				// eb is the backend the function computes on: 3pc's two-party view for a paired
				// function, which then moves its result back.
				eb := b
				if c.paired {
					eb = b.view()
				}
				less, want := c.form(eb)
				for _, l := range less {
					want.add(l.cost(eb))
				}
				if eb != b {
					want.add(fromPairCost(b, mpc.Numel(c.shape)))
				}
				got := make([]mpc.Stat, 3)
				for i, r := range res {
					got[i] = r.all
					if mx != nil {
						if r.max.Rounds != mx[i].Rounds || r.max.OnlineSent != mx[i].OnlineSent || r.max.OfflineRecv != mx[i].OfflineRecv {
							t.Errorf("party %d: softmax's max %+v differs from Max's %+v", i, r.max, mx[i])
						}
						got[i].Rounds -= r.max.Rounds
						got[i].OnlineSent -= r.max.OnlineSent
						got[i].OfflineRecv -= r.max.OfflineRecv
					}
				}
				assertMeterCost(t, got, want)
				n := float64(mpc.Numel(c.shape))
				t.Logf("%v: rounds %d, online B/elem %.2f (P0) %.2f (P1) %.2f (P2), offline B/elem %.2f (P1); without comparisons: rounds %v, sent %v, offline %v",
					c.shape, got[0].Rounds, float64(got[0].OnlineSent)/n, float64(got[1].OnlineSent)/n, float64(got[2].OnlineSent)/n,
					float64(got[1].OfflineRecv)/n, restOf(got, less, eb).rounds, restOf(got, less, eb).sent, restOf(got, less, eb).offline)
			})
		}
	}
}

// restOf returns the measured traffic less the comparisons'.
func restOf(st []mpc.Stat, less []lessCall, b backend) meterCost {
	var c meterCost
	for i := range 3 {
		c.rounds[i], c.sent[i], c.offline[i] = st[i].Rounds, st[i].OnlineSent, st[i].OfflineRecv
	}
	for _, lc := range less {
		l := lc.cost(b)
		for i := range 3 {
			c.rounds[i] -= l.rounds[i]
			c.sent[i] -= l.sent[i]
			c.offline[i] -= l.offline[i]
		}
	}
	return c
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
		{"reciprocal result scale", "reciprocal: result scale", func(e mpc.Engine, x *mpc.Share) error {
			_, err := ReciprocalFrac(e, x, 16, 61)
			return err
		}},
		{"rsqrt result scale", "rsqrt: result scale", func(e mpc.Engine, x *mpc.Share) error {
			_, err := RsqrtFrac(e, x, 1e-5, 1e5, 37)
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
// and norm (SiLU over 11008, RMSNorm over 4096), on both backends with both comparison methods.
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
		for _, be := range testBackends {
			b.Run(fmt.Sprintf("%s/%v", c.name, be), func(b *testing.B) {
				xs := make([]float64, mpc.Numel(c.shape))
				for i := range xs {
					xs[i] = 1 + float64(i%7)
				}
				sh := shareFloats(b, be.p, xs, c.shape...)
				benchOpOn(b, be, len(xs), func(e mpc.Engine) error {
					_, err := c.f(e, sh[e.Party()])
					return err
				})
			})
		}
	}
}
