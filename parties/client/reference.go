package client

import (
	"fmt"
	"math"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/parties/policies"
)

// Reference runs the float64 plaintext reference greedily on prompt for n tokens, with the
// plaintext simulation of the named cache policy: what the secure generation must reproduce.
// Only a client that holds the model can run it (for checking).
func Reference(m *model.Model, prompt []int, n int, policy string, params map[string]string) ([]int, error) {
	pol, err := policies.Reference(policy, m.Config, params)
	if err != nil {
		return nil, err
	}
	s, err := model.NewSession(m, model.Options{Policy: pol})
	if err != nil {
		return nil, err
	}
	logits, err := s.Prefill(prompt)
	var out []int
	for err == nil {
		next := 0
		for i, v := range logits {
			if v > logits[next] {
				next = i
			}
		}
		out = append(out, next)
		if len(out) == n {
			break
		}
		logits, err = s.Decode(next)
	}
	return out, err
}

// SoftmaxError is the accuracy of the parties' secure softmax (protocols.Softmax): each
// probability within about 1e-3 of float64's. NearBoundary's allowance uses it.
const SoftmaxError = 1e-3

// ReferenceSampled runs the float64 plaintext reference with top-p sampling
// (model.NucleusCDF, the rule the parties compute) on prompt for len(us) tokens, replaying the
// uniforms us of the secure generation (Result.Uniforms), with the plaintext simulation of the
// named cache policy. The parties compute the probabilities in fixed point with frac
// fractional bits, so a draw whose u lies that close to a boundary of the nucleus's CDF may
// legitimately come out as the neighbouring token: given the secure tokens, near explains the
// first difference from the reference when NearBoundary finds it within that error, and is ""
// otherwise (no difference, or one that fixed point does not explain).
func ReferenceSampled(m *model.Model, prompt []int, temperature, topP float64, us []float64, frac uint, policy string, params map[string]string, secure []int) (toks []int, near string, err error) {
	if err := model.CheckNucleus(temperature, topP); err != nil {
		return nil, "", err
	}
	pol, err := policies.Reference(policy, m.Config, params)
	if err != nil {
		return nil, "", err
	}
	s, err := model.NewSession(m, model.Options{Policy: pol})
	if err != nil {
		return nil, "", err
	}
	if len(us) == 0 {
		return nil, "", nil
	}
	differed := false
	logits, err := s.Prefill(prompt)
	for err == nil {
		k, u := len(toks), us[len(toks)]
		var next int
		if next, err = model.NucleusToken(logits, temperature, topP, u); err != nil {
			break
		}
		toks = append(toks, next)
		if !differed && k < len(secure) && secure[k] != next {
			differed = true
			if why := NearBoundary(logits, temperature, topP, u, secure[k], SoftmaxError, frac); why != "" {
				near = fmt.Sprintf("token %d: %s", k, why)
			}
		}
		if len(toks) == len(us) {
			break
		}
		logits, err = s.Decode(next)
	}
	return toks, near, err
}

// NearBoundary reports whether the draw of token got at u from logits, where NucleusCDF draws
// another token, is within fixed-point error: within an error of eps in each probability (the
// softmax's) and of the frac-bit rounding (a sum of m probabilities off by up to
// m·2^(1−frac)), widened by the mass of the tokens whose membership of the nucleus that error
// could flip (probabilities within 2·eps of the threshold), u lies that close to got's
// interval of the nucleus's CDF in vocabulary order. It says how close, or returns "" when
// fixed point does not explain got (a token far from u, or far outside the nucleus).
func NearBoundary(logits []float64, temperature, topP, u float64, got int, eps float64, frac uint) string {
	if got < 0 || got >= len(logits) {
		return ""
	}
	probs, tau := model.Nucleus(logits, temperature, topP)
	var q, flip, lo float64
	m := 0
	for i, v := range probs {
		if v >= tau {
			q, m = q+v, m+1
			if i < got {
				lo += v
			}
		}
		if tau > 0 && math.Abs(v-tau) <= 2*eps {
			flip += v
		}
	}
	if probs[got] < tau-2*eps || q == 0 {
		return ""
	}
	hi := lo
	if probs[got] >= tau {
		hi += probs[got]
	}
	lo, hi = lo/q, hi/q
	tol := (2*(2*eps+float64(m)*math.Ldexp(1, 1-int(frac))) + flip) / q
	dist := 0.0
	switch {
	case u < lo:
		dist = lo - u
	case u >= hi:
		dist = u - hi
	}
	if dist > tol {
		return ""
	}
	return fmt.Sprintf("u = %.5f is %.2g from token %d's interval [%.5f, %.5f) of the reference's nucleus CDF, within the fixed-point error %.2g", u, dist, got, lo, hi, tol)
}
