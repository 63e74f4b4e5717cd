package model

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func randomTokens(n, vocab int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]int, n)
	for i := range out {
		out[i] = rng.IntN(vocab)
	}
	return out
}

func testModel(t testing.TB, shape string) *Model {
	t.Helper()
	m, err := RandomModel(shape, 42)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPrefillMatchesDecode checks that batched prefill and token-by-token decoding give
// bit-identical logits, for both families.
func TestPrefillMatchesDecode(t *testing.T) {
	for _, shape := range []string{"llama-test", "gpt2-test"} {
		t.Run(shape, func(t *testing.T) {
			m := testModel(t, shape)
			toks := randomTokens(20, m.Config.Vocab, 1)
			batched := runLogits(t, m, Options{}, toks, nil)[0]
			stepwise := runLogits(t, m, Options{}, toks[:1], toks[1:])
			if !equalRows([][]float64{batched}, stepwise[len(stepwise)-1:]) {
				t.Error("prefill and decode logits differ")
			}
		})
	}
}

// TestRotaryLayouts checks the package doc's claim: Hugging Face's rotate-half rotary
// embedding on a head equals the interleaved one on the permuted head.
func TestRotaryLayouts(t *testing.T) {
	const hd, heads, pos, theta = 8, 3, 37, 10000.0
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, heads*hd)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	// Rotate-half: out[i] = x[i]cos_i − x[i+hd/2]sin_i; out[i+hd/2] = x[i+hd/2]cos_i + x[i]sin_i.
	hf := make([]float64, len(x))
	for h := range heads {
		for i := range hd / 2 {
			ang := pos * math.Pow(theta, -2*float64(i)/hd)
			a, b := x[h*hd+i], x[h*hd+i+hd/2]
			hf[h*hd+i] = a*math.Cos(ang) - b*math.Sin(ang)
			hf[h*hd+i+hd/2] = b*math.Cos(ang) + a*math.Sin(ang)
		}
	}
	y := interleaveRotary(x, heads, hd, 1)
	arith{}.rope(y, 1, heads, hd, pos, theta)
	want := interleaveRotary(hf, heads, hd, 1)
	for i := range y {
		if math.Abs(y[i]-want[i]) > 1e-12 {
			t.Fatalf("element %d: %v, want %v", i, y[i], want[i])
		}
	}
}

func TestSessionErrors(t *testing.T) {
	m := testModel(t, "llama-test")
	cases := []struct {
		name string
		run  func(s *Session) error
		want string
	}{
		{"empty prompt", func(s *Session) error { _, err := s.Prefill(nil); return err }, "at least one token"},
		{"token range", func(s *Session) error { _, err := s.Prefill([]int{1, 512}); return err }, "outside the vocabulary"},
		{"negative token", func(s *Session) error { _, err := s.Prefill([]int{-1}); return err }, "outside the vocabulary"},
		{"too long", func(s *Session) error { _, err := s.Prefill(make([]int, 513)); return err }, "exceeds the context"},
		{"decode first", func(s *Session) error { _, err := s.Decode(1); return err }, "before prefill"},
		{"prefill twice", func(s *Session) error {
			if _, err := s.Prefill([]int{1}); err != nil {
				return err
			}
			_, err := s.Prefill([]int{1})
			return err
		}, "twice"},
		{"context full", func(s *Session) error {
			if _, err := s.Prefill(make([]int, 512)); err != nil {
				return err
			}
			_, err := s.Decode(1)
			return err
		}, "exceeds the context"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewSession(m, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.run(s); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
	if _, err := NewSession(m, Options{FracBits: 40}); err == nil {
		t.Error("FracBits 40 accepted")
	}
	if _, err := NewSession(&Model{Config: m.Config, Weights: &Weights{}}, Options{}); err == nil {
		t.Error("empty weights accepted")
	}
}

// maxDeviation returns the largest |a−b| over all rows.
func maxDeviation(a, b [][]float64) float64 {
	var d float64
	for i := range a {
		for j := range a[i] {
			d = max(d, math.Abs(a[i][j]-b[i][j]))
		}
	}
	return d
}

// TestFixedPoint measures the logit deviation of the fixed-point emulation from float64.
func TestFixedPoint(t *testing.T) {
	for _, shape := range []string{"llama-test", "gpt2-test"} {
		t.Run(shape, func(t *testing.T) {
			m := testModel(t, shape)
			toks := randomTokens(24, m.Config.Vocab, 3)
			exact := runLogits(t, m, Options{}, toks[:16], toks[16:])
			prev := math.Inf(1)
			for _, f := range []int{12, 16, 20} {
				d := maxDeviation(exact, runLogits(t, m, Options{FracBits: f}, toks[:16], toks[16:]))
				t.Logf("f=%d: max logit deviation %.3g", f, d)
				if d == 0 || d > prev {
					t.Errorf("f=%d: deviation %v not in (0, %v]", f, d, prev)
				}
				prev = d
			}
			if prev > 1e-3 {
				t.Errorf("f=20 deviation %v > 1e-3", prev)
			}
		})
	}
}

// TestStoriesFixedPoint reports the max logit deviation at f=16 on stories260K over the
// greedy continuation of every reference case, and checks the greedy tokens still match.
func TestStoriesFixedPoint(t *testing.T) {
	m, _, cases := loadStories(t)
	var worst float64
	for _, c := range cases {
		exact := runLogits(t, m, Options{}, c.PromptIDs, c.Greedy)
		fixed := runLogits(t, m, Options{FracBits: DefaultFracBits}, c.PromptIDs, c.Greedy)
		worst = max(worst, maxDeviation(exact, fixed))
		for i := range c.Greedy {
			if got := argmax(fixed[i]); got != c.Greedy[i] {
				t.Errorf("prompt %q step %d: fixed-point argmax %d, want %d", c.Prompt, i, got, c.Greedy[i])
			}
		}
	}
	t.Logf("stories260K, f=16: max logit deviation %.4g", worst)
	if worst > 0.02 {
		t.Errorf("max logit deviation %v > 0.02", worst)
	}
}

func TestQuantize(t *testing.T) {
	m := testModel(t, "gpt2-test")
	q, err := Quantize(m.Config, m.Weights, 8)
	if err != nil {
		t.Fatal(err)
	}
	if &q.Classifier[0] != &q.Embed[0] {
		t.Error("tied classifier untied by Quantize")
	}
	for _, v := range q.Layers[1].Wq {
		if v*256 != math.Round(v*256) {
			t.Fatalf("value %v not on the 2^-8 grid", v)
		}
	}
	if _, err := Quantize(m.Config, m.Weights, 0); err == nil {
		t.Error("0 fraction bits accepted")
	}
}
