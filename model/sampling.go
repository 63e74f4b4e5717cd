package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Sampler picks the next token from a row of logits.
type Sampler interface {
	Sample(logits []float64) int
}

// Greedy picks the largest logit, the lowest id on ties.
type Greedy struct{}

// Sample returns argmax(logits).
func (Greedy) Sample(logits []float64) int { return argmax(logits) }

func argmax(x []float64) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// TopP samples from softmax(logits/Temperature) restricted to its nucleus: the fewest
// most probable tokens (ties by lower id) whose probabilities sum to more than P.
type TopP struct {
	Temperature float64 // > 0; 0 means greedy
	P           float64 // in (0, 1]; 1 samples from the whole distribution
	rng         *rand.Rand
}

// NewTopP returns a nucleus sampler whose choices are a deterministic function of seed.
func NewTopP(temperature, p float64, seed uint64) (*TopP, error) {
	if !(temperature >= 0) || math.IsInf(temperature, 0) || !(p > 0 && p <= 1) {
		return nil, fmt.Errorf("model: sampler needs temperature ≥ 0 and top-p in (0, 1], have %v and %v", temperature, p)
	}
	return &TopP{Temperature: temperature, P: p, rng: rand.New(rand.NewPCG(seed, 0x6d6f64656c))}, nil
}

// Sample draws one token id.
func (t *TopP) Sample(logits []float64) int {
	if t.Temperature == 0 {
		return argmax(logits)
	}
	probs := make([]float64, len(logits))
	for i, v := range logits {
		probs[i] = v / t.Temperature
	}
	arith{}.softmax(probs)
	order := prefix(len(probs))
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case probs[a] > probs[b]:
			return -1
		case probs[a] < probs[b]:
			return 1
		}
		return 0
	})
	var cum float64
	n := 0
	for n < len(order) {
		cum += probs[order[n]]
		n++
		if cum > t.P {
			break
		}
	}
	r := t.rng.Float64() * cum
	for _, id := range order[:n] {
		if r -= probs[id]; r < 0 {
			return id
		}
	}
	return order[n-1]
}

// Generate prefills prompt and then samples up to maxNew tokens, feeding each back, and
// returns them. It stops before a token in stop (which is not returned) or when the
// context is full.
func Generate(s *Session, prompt []int, maxNew int, smp Sampler, stop ...int) ([]int, error) {
	logits, err := s.Prefill(prompt)
	if err != nil {
		return nil, err
	}
	var out []int
	for len(out) < maxNew {
		tok := smp.Sample(logits)
		if slices.Contains(stop, tok) {
			break
		}
		out = append(out, tok)
		if len(out) == maxNew || s.Len() == s.cfg.MaxSeq {
			break
		}
		if logits, err = s.Decode(tok); err != nil {
			return out, err
		}
	}
	return out, nil
}
