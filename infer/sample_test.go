package infer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/inproc"
	"github.com/privinfer/mpcache/mpc/mpctest"
)

// sampleMargin checks that the reference's top-p draw at u is robust to a probability error of
// eps per token (a sum of m of them: 2·eps + m·2^−15): the threshold's tie group stands apart
// from the next smaller probability, the nucleus mass is away from topP on both sides, and u is
// away from every boundary of the nucleus's CDF. It returns the first violation, or "".
func sampleMargin(logits []float64, temperature, topP, u, eps float64) string {
	probs, tau := model.Nucleus(logits, temperature, topP)
	var q, below, ties float64
	m := 0
	for _, v := range probs {
		switch {
		case v >= tau:
			q, m = q+v, m+1
			if v == tau {
				ties += v
			}
		default:
			below = max(below, v)
		}
	}
	del := 2*eps + float64(m)*math.Ldexp(1, -int(testFrac)+1)
	if topP < 1 {
		switch {
		case tau-below <= 2*eps:
			return fmt.Sprintf("threshold %.5f is only %.2g above the next probability", tau, tau-below)
		case q-topP <= del:
			return fmt.Sprintf("nucleus mass %.5f is within %.2g of top-p %v", q, del, topP)
		case topP-(q-ties) <= del+eps:
			return fmt.Sprintf("nucleus mass without the threshold's tokens %.5f is within %.2g of top-p %v", q-ties, del+eps, topP)
		}
	}
	var cum float64
	for _, v := range probs {
		if v >= tau {
			cum += v
			if d := math.Abs(cum/q - u); d <= 2*del/q {
				return fmt.Sprintf("u = %.5f is only %.2g from a CDF boundary", u, d)
			}
		}
	}
	return ""
}

// probError is the largest difference between the softmax(·/temperature) of two logit rows.
func probError(a, b []float64, temperature float64) float64 {
	pa, _ := model.Nucleus(a, temperature, 1)
	pb, _ := model.Nucleus(b, temperature, 1)
	worst := 0.0
	for i := range pa {
		worst = max(worst, math.Abs(pa[i]-pb[i]))
	}
	return worst
}

// TestSample runs secure top-p generation on seeded random models for both protocols and
// compares it token for token with model.NucleusCDF on the same uniforms. Every step's margin
// is checked on the reference logits, widened by the step's observed logit error and
// Softmax's 1e-3, before the tokens are compared.
func TestSample(t *testing.T) {
	cases := []struct {
		model       string
		seed        uint64
		temperature float64
		topP        float64
		useed       uint64
	}{
		{"gpt2-test", 7, 0.08, 0.95, 1},
		{"llama-test", 3, 0.08, 0.8, 2},
	}
	const steps = 4
	prompt := []int{3, 17, 42, 5, 99}
	for _, c := range cases {
		m, err := model.RandomModel(c.model, c.seed)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(c.useed, 5))
		us := make([]float64, steps)
		for i := range us {
			us[i] = math.Ldexp(float64(r.Uint64N(1<<testFrac)), -int(testFrac))
		}
		// Reference, with the uniforms replayed.
		next := 0
		smp, err := model.NewNucleusCDF(c.temperature, c.topP, func() float64 { next++; return us[next-1] })
		if err != nil {
			t.Fatal(err)
		}
		rs, err := model.NewSession(m, model.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var refTok []int
		var refLogits [][]float64
		logits, err := rs.Prefill(prompt)
		for err == nil {
			refLogits = append(refLogits, logits)
			refTok = append(refTok, smp.Sample(logits))
			if len(refTok) == steps {
				break
			}
			logits, err = rs.Decode(refTok[len(refTok)-1])
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range backends {
			t.Run(fmt.Sprintf("%s/%s", c.model, p), func(t *testing.T) {
				toks, lgs := generateSampled(t, p, m, prompt, steps, c.temperature, c.topP, us)
				for i := range refTok {
					eps := 1e-3 + probError(lgs[i], refLogits[i], c.temperature)
					if msg := sampleMargin(refLogits[i], c.temperature, c.topP, us[i], eps); msg != "" {
						t.Fatalf("step %d: model seed %d, uniform seed %d too close to a boundary for comparison (%s): choose other seeds", i, c.seed, c.useed, msg)
					}
					if toks[i] != refTok[i] {
						t.Fatalf("step %d: secure %v, reference %v", i, toks, refTok)
					}
				}
				var sizes []int
				for _, lg := range refLogits {
					probs, tau := model.Nucleus(lg, c.temperature, c.topP)
					n := 0
					for _, v := range probs {
						if v >= tau {
							n++
						}
					}
					sizes = append(sizes, n)
				}
				t.Logf("tokens %v; nucleus sizes %v", toks, sizes)
			})
		}
	}
}

// generateSampled runs GenerateWith top-p sampling on every party and reveals the tokens and
// (tests only) each step's logits.
func generateSampled(t *testing.T, p mpc.Protocol, m *model.Model, prompt []int, n int, temperature, topP float64, us []float64) ([]int, [][]float64) {
	t.Helper()
	shares, in := shareInputs(t, p, m, prompt)
	var uShares [][]*mpc.Share // [step][party]
	for _, u := range us {
		ut, err := mpc.EncodeTensor([]float64{u}, testFrac, 1)
		if err != nil {
			t.Fatal(err)
		}
		s, err := mpc.Split(p, ut)
		if err != nil {
			t.Fatal(err)
		}
		uShares = append(uShares, s)
	}
	type party struct{ ids, logits []*mpc.Share }
	res, err := inproc.Run(p, inproc.Memory, mpc.Config{Frac: testFrac}, func(e mpc.Engine) (party, error) {
		var out party
		s, err := NewSession(e, shares[e.Party()], Options{})
		if err != nil {
			return out, err
		}
		smp := Sampling{TopP: topP, Temperature: temperature, U: func(step int) (*mpc.Share, error) {
			return uShares[step][e.Party()], nil
		}}
		rec := &recorder{Session: s}
		err = rec.generate(in[e.Party()], n, smp, func(step int, id *mpc.Share) error {
			out.ids = append(out.ids, id)
			return nil
		})
		out.logits = rec.logits
		return out, err
	})
	if err != nil {
		t.Fatal(err)
	}
	var toks []int
	var logits [][]float64
	for step := range res[0].ids {
		var ids, lgs []*mpc.Share
		for _, r := range res {
			ids, lgs = append(ids, r.ids[step]), append(lgs, r.logits[step])
		}
		toks = append(toks, int(int64(mpctest.Reveal(t, p, ids).Data[0])))
		logits = append(logits, mpc.DecodeTensor(mpctest.Reveal(t, p, lgs), testFrac))
	}
	return toks, logits
}

// recorder runs GenerateWith's loop by hand (Prefill, Sample, Decode) so the test can keep each
// step's logits; it is GenerateWith's loop with the logits kept.
type recorder struct {
	*Session
	logits []*mpc.Share
}

func (r *recorder) generate(prompt *mpc.Share, n int, smp Sampling, emit func(int, *mpc.Share) error) error {
	logits, err := r.Prefill(prompt)
	for step := 0; err == nil; step++ {
		r.logits = append(r.logits, logits)
		var u, oh, id *mpc.Share
		if u, err = smp.U(step); err != nil {
			break
		}
		if oh, id, err = r.Sample(logits, u, smp.Temperature, smp.TopP); err != nil {
			break
		}
		if err = emit(step, id); err != nil || step == n-1 {
			break
		}
		logits, err = r.Decode(oh)
	}
	return err
}

// TestGenerateWithSampling checks that GenerateWith's sampled loop gives the same tokens as the
// hand-run loop above and that bad parameters are refused before any computation.
func TestGenerateWithSampling(t *testing.T) {
	m, err := model.RandomModel("gpt2-test", 7)
	if err != nil {
		t.Fatal(err)
	}
	p := mpc.TwoPC
	prompt := []int{3, 17, 42, 5, 99}
	shares, in := shareInputs(t, p, m, prompt)
	us := []float64{0.25, 0.75, 0.5}
	want, _ := generateSampled(t, p, m, prompt, len(us), 0.05, 0.9, us)
	var uShares [][]*mpc.Share
	for _, u := range us {
		ut, _ := mpc.EncodeTensor([]float64{u}, testFrac, 1)
		s, err := mpc.Split(p, ut)
		if err != nil {
			t.Fatal(err)
		}
		uShares = append(uShares, s)
	}
	res, err := inproc.Run(p, inproc.Memory, mpc.Config{Frac: testFrac}, func(e mpc.Engine) ([]*mpc.Share, error) {
		s, err := NewSession(e, shares[e.Party()], Options{})
		if err != nil {
			return nil, err
		}
		for _, bad := range []Sampling{
			{TopP: 0.9, Temperature: 0, U: func(int) (*mpc.Share, error) { return nil, nil }},
			{TopP: 1.5, Temperature: 1, U: func(int) (*mpc.Share, error) { return nil, nil }},
			{TopP: -0.1, Temperature: 1, U: func(int) (*mpc.Share, error) { return nil, nil }},
			{TopP: 0.9, Temperature: 1},
		} {
			if err := s.GenerateWith(in[e.Party()], 2, bad, func(int, *mpc.Share) error { return nil }); err == nil {
				return nil, fmt.Errorf("GenerateWith accepted top-p %v, temperature %v", bad.TopP, bad.Temperature)
			}
		}
		var ids []*mpc.Share
		smp := Sampling{TopP: 0.9, Temperature: 0.05, U: func(step int) (*mpc.Share, error) { return uShares[step][e.Party()], nil }}
		err = s.GenerateWith(in[e.Party()], len(us), smp, func(_ int, id *mpc.Share) error {
			ids = append(ids, id)
			return nil
		})
		return ids, err
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for step := range us {
		got = append(got, int(int64(mpctest.Reveal(t, p, []*mpc.Share{res[0][step], res[1][step], res[2][step]}).Data[0])))
	}
	if !slices.Equal(got, want) {
		t.Errorf("GenerateWith gave %v, the hand-run loop %v", got, want)
	}
}
