package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestTopP(t *testing.T) {
	logits := []float64{0, math.Log(3), -1e9, math.Log(3)}
	cases := []struct {
		name    string
		temp, p float64
		allowed []int   // ids that may be drawn
		freq    float64 // expected frequency of id 1, or −1 to skip
	}{
		{"greedy at temperature 0", 0, 1, []int{1}, 1},
		{"nucleus of one", 1, 0.1, []int{1}, 1},      // ties: id 1 sorts before id 3
		{"nucleus of two", 1, 0.8, []int{1, 3}, 0.5}, // 3/7 + 3/7 > 0.8
		{"full distribution", 1, 1, []int{0, 1, 3}, 3.0 / 7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewTopP(c.temp, c.p, 9)
			if err != nil {
				t.Fatal(err)
			}
			const n = 20000
			ones := 0
			for range n {
				id := s.Sample(logits)
				if !slices.Contains(c.allowed, id) {
					t.Fatalf("drew %d, allowed %v", id, c.allowed)
				}
				if id == 1 {
					ones++
				}
			}
			if got := float64(ones) / n; math.Abs(got-c.freq) > 0.02 {
				t.Errorf("frequency of id 1 = %.3f, want %.3f", got, c.freq)
			}
		})
	}
	for _, bad := range [][2]float64{{-1, 0.5}, {1, 0}, {1, 1.5}, {math.NaN(), 1}} {
		if _, err := NewTopP(bad[0], bad[1], 1); err == nil {
			t.Errorf("NewTopP(%v, %v) accepted", bad[0], bad[1])
		}
	}
}

// TestGenerate checks seeded determinism, the stop token and the length limit.
func TestGenerate(t *testing.T) {
	m := testModel(t, "llama-test")
	gen := func(smp Sampler, n int, stop ...int) []int {
		s, err := NewSession(m, Options{})
		if err != nil {
			t.Fatal(err)
		}
		out, err := Generate(s, []int{1, 2, 3}, n, smp, stop...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	sampler := func(seed uint64) Sampler {
		s, err := NewTopP(1, 0.9, seed)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := gen(sampler(5), 30), gen(sampler(5), 30)
	if !slices.Equal(a, b) || len(a) != 30 {
		t.Errorf("same seed gave %v and %v", a, b)
	}
	if c := gen(sampler(6), 30); slices.Equal(a, c) {
		t.Errorf("seeds 5 and 6 gave the same %v", a)
	}
	greedy := gen(Greedy{}, 10)
	if got := gen(Greedy{}, 10, greedy[4]); !slices.Equal(got, greedy[:slices.Index(greedy, greedy[4])]) {
		t.Errorf("stop at %d: got %v from %v", greedy[4], got, greedy)
	}
}

func TestNucleusCDF(t *testing.T) {
	// p = 1/8, 3/8, 0, 3/8, 1/8 at temperature 1.
	logits := []float64{0, math.Log(3), -1e9, math.Log(3), 0}
	cases := []struct {
		name    string
		temp, p float64
		want    map[int]float64 // frequencies of the nucleus
	}{
		{"tie at the threshold is taken whole", 1, 0.1, map[int]float64{1: 0.5, 3: 0.5}},
		{"mass just reached", 1, 0.74, map[int]float64{1: 0.5, 3: 0.5}},
		{"just above: the next tie group", 1, 0.76, map[int]float64{0: 1.0 / 8, 1: 3.0 / 8, 3: 3.0 / 8, 4: 1.0 / 8}},
		{"full distribution", 1, 1, map[int]float64{0: 1.0 / 8, 1: 3.0 / 8, 3: 3.0 / 8, 4: 1.0 / 8}},
		{"hot", 1e6, 0.6, map[int]float64{0: 0.25, 1: 0.25, 3: 0.25, 4: 0.25}}, // id 2 stays out: −1e9/1e6 is far below
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			s, err := NewNucleusCDF(c.temp, c.p, r.Float64)
			if err != nil {
				t.Fatal(err)
			}
			const n = 20000
			count := map[int]int{}
			for range n {
				count[s.Sample(logits)]++
			}
			for id, k := range count {
				if _, ok := c.want[id]; !ok {
					t.Fatalf("drew %d (%d times), outside the nucleus %v", id, k, c.want)
				}
			}
			for id, f := range c.want {
				if got := float64(count[id]) / n; math.Abs(got-f) > 0.02 {
					t.Errorf("frequency of %d = %.3f, want %.3f", id, got, f)
				}
			}
		})
	}
	// Inverse CDF in vocabulary order over the nucleus {1, 3}, each 1/2.
	for _, c := range []struct {
		u    float64
		want int
	}{{0, 1}, {0.4999, 1}, {0.5001, 3}, {0.99999, 3}} {
		if got, err := NucleusToken(logits, 1, 0.5, c.u); err != nil || got != c.want {
			t.Errorf("u = %v: token %d (%v), want %d", c.u, got, err, c.want)
		}
	}
	for _, bad := range [][3]float64{{0, 0.5, 0}, {-1, 0.5, 0}, {math.Inf(1), 0.5, 0}, {1, 0, 0}, {1, 1.5, 0}, {math.NaN(), 1, 0}, {1, math.NaN(), 0}, {1, 0.5, 1}, {1, 0.5, -0.1}} {
		if _, err := NucleusToken(logits, bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("NucleusToken(T=%v, p=%v, u=%v) accepted", bad[0], bad[1], bad[2])
		}
	}
	if _, err := NewNucleusCDF(1, 0.5, nil); err == nil {
		t.Error("NewNucleusCDF without a source of uniforms accepted")
	}
}
