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

// NucleusCDF is the top-p sampler that the secure computation implements
// (protocols.SampleTopP, infer.Session.Sample): a deterministic function of the logits and of
// one uniform u ∈ [0, 1) per draw, so the two can be compared token for token on the same u.
// It differs from TopP in two rules, both chosen so that no sorting is needed:
//
//   - Nucleus by threshold. p = softmax(logits/Temperature); the threshold τ is the largest
//     probability such that the tokens of probability at least τ hold at least P of the mass
//     (Σ p_i·[p_i ≥ τ] ≥ P), and the nucleus is every token with p_i ≥ τ: all tokens tied at
//     τ are in (TopP breaks such ties by id and stops once the mass exceeds P). P = 1 takes
//     every token.
//   - Inverse CDF in vocabulary order. With q_i = p_i over the nucleus and 0 elsewhere, the
//     token is the lowest id i with q_0 + … + q_i > u·Σq (TopP walks the nucleus from the
//     most probable token).
//
// Both rules sample exactly from the top-p distribution (the nucleus renormalised); only the
// mapping from u to a token differs from TopP.
type NucleusCDF struct {
	Temperature float64        // > 0
	P           float64        // in (0, 1]
	U           func() float64 // the next uniform in [0, 1)
}

// NewNucleusCDF returns the sampler with temperature > 0, top-p p ∈ (0, 1] and a source of
// uniforms in [0, 1) (for instance the client's randomness, replayed).
func NewNucleusCDF(temperature, p float64, u func() float64) (*NucleusCDF, error) {
	if err := CheckNucleus(temperature, p); err != nil {
		return nil, err
	}
	if u == nil {
		return nil, fmt.Errorf("model: nucleus sampler needs a source of uniforms")
	}
	return &NucleusCDF{Temperature: temperature, P: p, U: u}, nil
}

// CheckNucleus validates NucleusCDF's public parameters: temperature > 0 (finite) and top-p in
// (0, 1].
func CheckNucleus(temperature, p float64) error {
	if !(temperature > 0) || math.IsInf(temperature, 0) {
		return fmt.Errorf("model: top-p sampling needs a finite temperature > 0, have %v (use greedy decoding for temperature 0)", temperature)
	}
	if !(p > 0 && p <= 1) {
		return fmt.Errorf("model: top-p must lie in (0, 1], have %v", p)
	}
	return nil
}

// Sample draws one token id with the next u.
func (s *NucleusCDF) Sample(logits []float64) int {
	id, _ := NucleusToken(logits, s.Temperature, s.P, s.U())
	return id
}

// Nucleus returns p = softmax(logits/temperature) and the nucleus threshold τ of NucleusCDF
// (0 when p = 1): the nucleus is every i with p[i] ≥ τ.
func Nucleus(logits []float64, temperature, p float64) (probs []float64, tau float64) {
	probs = make([]float64, len(logits))
	for i, v := range logits {
		probs[i] = v / temperature
	}
	arith{}.softmax(probs)
	if p >= 1 {
		return probs, 0
	}
	sorted := slices.Clone(probs)
	slices.SortFunc(sorted, func(a, b float64) int {
		switch {
		case a > b:
			return -1
		case a < b:
			return 1
		}
		return 0
	})
	var cum float64
	for i := 0; i < len(sorted); {
		// Take the whole group tied at sorted[i].
		j := i
		for j < len(sorted) && sorted[j] == sorted[i] {
			cum += sorted[j]
			j++
		}
		if cum >= p {
			return probs, sorted[i]
		}
		i = j
	}
	return probs, 0 // rounding left the total below p: take every token
}

// NucleusToken is NucleusCDF's draw for one u ∈ [0, 1), with its validation.
func NucleusToken(logits []float64, temperature, p, u float64) (int, error) {
	if err := CheckNucleus(temperature, p); err != nil {
		return 0, err
	}
	if !(u >= 0 && u < 1) {
		return 0, fmt.Errorf("model: top-p sampling needs u in [0, 1), have %v", u)
	}
	if len(logits) == 0 {
		return 0, fmt.Errorf("model: top-p sampling of an empty row")
	}
	probs, tau := Nucleus(logits, temperature, p)
	var total float64
	for _, v := range probs {
		if v >= tau {
			total += v
		}
	}
	r, last := u*total, 0
	var cum float64
	for i, v := range probs {
		if v < tau {
			continue
		}
		if cum += v; cum > r {
			return i, nil
		}
		last = i
	}
	return last, nil // rounding: u·total reached the total
}
