package protocols

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
)

// Margins for comparing SampleTopP with model.NucleusToken: Softmax's probabilities are within
// sampleEps of float64 (its doc: 1e-3), a sum of m of them within sampleSumEps(m).
const sampleEps = 1e-3

func sampleSumEps(m int) float64 { return 2e-3 + float64(m)*math.Ldexp(1, -testFrac+1) }

// nucleusMargin checks that the reference's draw for (logits, temperature, topP, u) is robust to
// the secure probabilities' error: the threshold's tie group stands apart from the next smaller
// probability, the nucleus mass is away from topP on both sides, and u is away from every
// boundary of the nucleus's CDF. It returns a description of the first violation, or "".
func nucleusMargin(logits []float64, temperature, topP, u float64) string {
	probs, tau := model.Nucleus(logits, temperature, topP)
	var in []float64
	below := 0.0 // the largest probability outside the nucleus
	for _, v := range probs {
		if v >= tau {
			in = append(in, v)
		} else {
			below = max(below, v)
		}
	}
	var q float64
	for _, v := range in {
		q += v
	}
	del := sampleSumEps(len(in))
	if topP < 1 {
		if tau-below <= 2*sampleEps+math.Ldexp(1, -testFrac) {
			return fmt.Sprintf("threshold %.5f is %.2g above the next probability", tau, tau-below)
		}
		if q-topP <= del {
			return fmt.Sprintf("nucleus mass %.5f is within %.2g of top-p %v", q, del, topP)
		}
		ties := 0.0
		for _, v := range in {
			if v == tau {
				ties += v
			}
		}
		if topP-(q-ties) <= del+sampleEps {
			return fmt.Sprintf("nucleus mass without the threshold's tokens %.5f is within %.2g of top-p %v", q-ties, del+sampleEps, topP)
		}
	}
	var cum float64
	for _, v := range probs {
		if v < tau {
			continue
		}
		cum += v
		if d := math.Abs(cum/q - u); d <= 2*del/q {
			return fmt.Sprintf("u = %.5f is %.2g from a CDF boundary", u, d)
		}
	}
	return ""
}

// randomRow returns n fixed-point-exact logits: Gaussian with the given deviation.
func randomRow(r *rand.Rand, n int, std float64) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = fxRound(r.NormFloat64() * std)
	}
	return xs
}

// headRow returns n fixed-point-exact logits: a head of k tokens at distinct, evenly spaced
// logits in [lo, hi] at random positions, the rest Gaussian around lo − 8.
func headRow(r *rand.Rand, n, k int, lo, hi float64) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = fxRound(lo - 8 + r.NormFloat64())
	}
	for j, i := range r.Perm(n)[:k] {
		xs[i] = fxRound(lo + (hi-lo)*float64(j)/float64(k-1))
	}
	return xs
}

// randomU returns n uniforms on the 2^−testFrac grid in [0, 1), as the client draws them.
func randomU(r *rand.Rand, n int) []float64 {
	us := make([]float64, n)
	for i := range us {
		us[i] = math.Ldexp(float64(r.Uint64N(1<<testFrac)), -testFrac)
	}
	return us
}

// sampleSecure runs SampleTopP on rows of logits with one u per row and returns the revealed
// ids and one-hot rows.
func sampleSecure(t *testing.T, p mpc.Protocol, rows [][]float64, us []float64, temperature, topP float64) (ids []int64, onehot []int64) {
	t.Helper()
	n := len(rows[0])
	x := shareFloats(t, p, slices.Concat(rows...), len(rows), n)
	u := shareFloats(t, p, us, len(rows))
	res := runAll(t, p, func(e mpc.Engine) ([]*mpc.Share, error) {
		oh, id, err := SampleTopP(e, x[e.Party()], u[e.Party()], temperature, topP)
		return []*mpc.Share{oh, id}, err
	})
	return revealInts(t, p, res[1]), revealInts(t, p, res[0])
}

func gauss(std float64) func(*rand.Rand, int) []float64 {
	return func(r *rand.Rand, n int) []float64 { return randomRow(r, n, std) }
}

func head(k int, lo, hi float64) func(*rand.Rand, int) []float64 {
	return func(r *rand.Rand, n int) []float64 { return headRow(r, n, k, lo, hi) }
}

func TestSampleTopP(t *testing.T) {
	cases := []struct {
		name        string
		n, rows     int
		gen         func(r *rand.Rand, n int) []float64
		temperature float64
		topP        float64
		seed        uint64
	}{
		{"narrow nucleus", 64, 4, gauss(3), 1, 0.5, 1},
		{"wide nucleus, hot", 128, 4, head(12, 4, 8), 1.7, 0.7, 1},
		{"cool", 100, 4, head(10, 0, 2), 0.7, 0.8, 1},
		{"cool, Gaussian", 100, 4, gauss(1.5), 0.6, 0.7, 1},
		{"full distribution", 48, 4, gauss(1), 1, 1, 6},
		{"one dominant token", 32, 3, gauss(10), 1, 0.3, 1},
		{"head of 8 in 512, top-p 0.95", 512, 2, head(8, 0, 2), 1, 0.95, 1},
	}
	for _, c := range cases {
		r := rand.New(rand.NewPCG(c.seed, 77))
		rows := make([][]float64, c.rows)
		for i := range rows {
			rows[i] = c.gen(r, c.n)
		}
		us := randomU(r, c.rows)
		want := make([]int64, c.rows)
		for i := range rows {
			if m := nucleusMargin(rows[i], c.temperature, c.topP, us[i]); m != "" {
				t.Fatalf("%s: seed %d, row %d is too close to a boundary for a fixed-point comparison (%s): choose another seed", c.name, c.seed, i, m)
			}
			id, err := model.NucleusToken(rows[i], c.temperature, c.topP, us[i])
			if err != nil {
				t.Fatal(err)
			}
			want[i] = int64(id)
		}
		for _, p := range testProtocols {
			t.Run(fmt.Sprintf("%s/%s", p, c.name), func(t *testing.T) {
				ids, oh := sampleSecure(t, p, rows, us, c.temperature, c.topP)
				if !slices.Equal(ids, want) {
					t.Errorf("tokens %v, reference %v (u = %v)", ids, want, us)
				}
				for i := range c.rows {
					for j, b := range oh[i*c.n : (i+1)*c.n] {
						if w := int64(0); j == int(ids[i]) && b != 1 || j != int(ids[i]) && b != w {
							t.Fatalf("row %d: one-hot holds %d at %d, id %d", i, b, j, ids[i])
						}
					}
				}
			})
		}
	}
}

// TestSampleTopPNucleus draws many times from one distribution: no token outside the nucleus
// is ever drawn, and the frequencies follow the renormalised nucleus.
func TestSampleTopPNucleus(t *testing.T) {
	const n, draws = 16, 300
	// Probabilities ∝ 8, 4, 4, 2, 1, 1, 0.5… (of 25): with top-p 0.6 the nucleus is {0, 1, 2},
	// 16/25 of the mass.
	logits := make([]float64, n)
	for i := range logits {
		logits[i] = math.Log(0.5)
	}
	copy(logits, []float64{math.Log(8), math.Log(4), math.Log(4), math.Log(2), 0, 0})
	logits = fxRounded(logits)
	probs, tau := model.Nucleus(logits, 1, 0.6)
	var nuc []int
	var mass float64
	for i, v := range probs {
		if v >= tau {
			nuc, mass = append(nuc, i), mass+v
		}
	}
	if !slices.Equal(nuc, []int{0, 1, 2}) {
		t.Fatalf("reference nucleus %v, want [0 1 2]", nuc)
	}
	r := rand.New(rand.NewPCG(11, 12))
	rows := make([][]float64, draws)
	for i := range rows {
		rows[i] = logits
	}
	us := randomU(r, draws)
	for _, p := range testProtocols {
		t.Run(string(p), func(t *testing.T) {
			ids, _ := sampleSecure(t, p, rows, us, 1, 0.6)
			count := make([]int, n)
			for _, id := range ids {
				if !slices.Contains(nuc, int(id)) {
					t.Fatalf("drew %d, outside the nucleus %v", id, nuc)
				}
				count[id]++
			}
			for _, i := range nuc {
				want := probs[i] / mass
				if got := float64(count[i]) / draws; math.Abs(got-want) > 0.1 {
					t.Errorf("frequency of %d = %.3f, want %.3f", i, got, want)
				}
			}
		})
	}
}

func TestSampleTopPErrors(t *testing.T) {
	x := shareFloats(t, mpc.TwoPC, []float64{1, 2, 3, 4}, 1, 4)
	u := shareFloats(t, mpc.TwoPC, []float64{0.5}, 1)
	u2 := shareFloats(t, mpc.TwoPC, []float64{0.5, 0.5}, 2)
	cases := []struct {
		name    string
		temp, p float64
		u       []*mpc.Share
	}{
		{"temperature 0", 0, 0.9, u},
		{"negative temperature", -1, 0.9, u},
		{"infinite temperature", math.Inf(1), 0.9, u},
		{"NaN temperature", math.NaN(), 0.9, u},
		{"top-p 0", 1, 0, u},
		{"top-p above 1", 1, 1.01, u},
		{"NaN top-p", 1, math.NaN(), u},
		{"two uniforms for one row", 1, 0.9, u2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Parameters are checked before the engine is touched, so no engine is needed.
			if _, _, err := SampleTopP(nil, x[2], c.u[2], c.temp, c.p); err == nil {
				t.Errorf("accepted temperature %v, top-p %v, u of shape %v", c.temp, c.p, c.u[2].Shape)
			}
		})
	}
}

// TestSampleTopPCost measures one sampling step over gpt2's vocabulary (50257, one row,
// temperature 0.8, top-p 0.9) for SampleTopP's doc comment. Not under -short: the FSS keys of
// the ~18 comparison batches come to about 1.4 GB.
func TestSampleTopPCost(t *testing.T) {
	if testing.Short() {
		t.Skip("measures a 50257-entry row")
	}
	const n = 50257
	r := rand.New(rand.NewPCG(3, 4))
	logits := randomRow(r, n, 2)
	for _, b := range testBackends {
		x := shareFloats(t, b.p, logits, 1, n)
		u := shareFloats(t, b.p, []float64{0.37}, 1)
		_, st := measureAllOn(t, b, "sample", func(e mpc.Engine) ([]*mpc.Share, error) {
			oh, id, err := SampleTopP(e, x[e.Party()], u[e.Party()], 0.8, 0.9)
			return []*mpc.Share{oh, id}, err
		})
		var rounds, sent int64
		for _, s := range st {
			rounds, sent = max(rounds, s.Rounds), max(sent, s.OnlineSent)
		}
		t.Logf("%-8s rounds %d, online %.1f MB (max party), offline %.1f MB to P1", b, rounds, float64(sent)/1e6, float64(st[1].OfflineRecv)/1e6)
	}
}
