package model

import (
	"fmt"
	"math"
	"strings"
)

// PolicySpec names a cache policy at a budget and makes a fresh instance per sequence.
type PolicySpec struct {
	Name   string  // e.g. "h2o"
	Budget float64 // the budget the policy was configured for, as a fraction of the prompt
	New    func(promptLen int) (Policy, error)
}

// PolicyKinds returns the policy names NewPolicySpec accepts.
func PolicyKinds() []string {
	return []string{"full", "streaming", "h2o", "mpcache", "mpcache-static"}
}

// NewPolicySpec maps a policy name and a budget b in (0, 1] (a fraction of the prompt length
// T) to concrete parameters, with B = max(2, round(b·T)) attended positions:
//   - full: no parameters (b is ignored);
//   - streaming: Sinks = min(4, B/2), Window = B − Sinks;
//   - h2o: Heavy = B/2, Recent = B − Heavy − 1 (the new token makes B);
//   - mpcache: the defaults with StaticRatio = b/Ratio2 when b < Ratio2 (so that roughly
//     StaticRatio·Ratio2 = b of the prompt is attended; forced clusters add to it), else
//     StaticRatio = 1 and Ratio2 = b;
//   - mpcache-static: the look-once eviction alone, StaticRatio = b, Ratio1 = Ratio2 = 1.
func NewPolicySpec(kind string, b float64) (PolicySpec, error) {
	if !(b > 0 && b <= 1) {
		return PolicySpec{}, fmt.Errorf("model: budget %v outside (0, 1]", b)
	}
	budget := func(T int) int { return max(2, int(math.Round(b*float64(T)))) }
	spec := PolicySpec{Name: kind, Budget: b}
	switch kind {
	case "full":
		spec.Budget = 1
		spec.New = func(int) (Policy, error) { return Full{}, nil }
	case "streaming":
		spec.New = func(T int) (Policy, error) {
			B := budget(T)
			s := min(4, B/2)
			return StreamingLLM{Sinks: s, Window: B - s}, nil
		}
	case "h2o":
		spec.New = func(T int) (Policy, error) {
			B := budget(T)
			return NewH2O(B/2, B-B/2-1), nil
		}
	case "mpcache", "mpcache-static":
		p := DefaultMPCacheParams()
		if b < p.Ratio2 {
			p.StaticRatio = b / p.Ratio2
		} else {
			p.StaticRatio, p.Ratio2 = 1, b
		}
		if kind == "mpcache-static" {
			p.StaticRatio, p.Ratio1, p.Ratio2 = b, 1, 1
		}
		spec.New = func(int) (Policy, error) { return NewMPCache(p) }
	default:
		return PolicySpec{}, fmt.Errorf("model: unknown policy %q (have %v)", kind, PolicyKinds())
	}
	return spec, nil
}

// PolicySpecs returns NewPolicySpec(kind, b) for every kind and budget, except that "full",
// which has no budget, appears once.
func PolicySpecs(kinds []string, budgets []float64) ([]PolicySpec, error) {
	var specs []PolicySpec
	for _, kind := range kinds {
		for i, b := range budgets {
			if kind == "full" && i > 0 {
				break
			}
			s, err := NewPolicySpec(kind, b)
			if err != nil {
				return nil, err
			}
			specs = append(specs, s)
		}
	}
	return specs, nil
}

// FidelityOptions configures Fidelity.
type FidelityOptions struct {
	Prompt   int // prompt (prefill) tokens per segment, ≥ 1
	Steps    int // teacher-forced decode steps per segment, ≥ 1
	Segments int // most segments to evaluate; 0 means all that fit
	FracBits int // number system, as Options.FracBits
}

// FidelityResult is one policy's quality relative to the full cache.
type FidelityResult struct {
	Policy string  `json:"policy"`
	Budget float64 `json:"budget"`
	// Agreement is the fraction of decode steps whose argmax equals the full cache's.
	Agreement float64 `json:"agreement"`
	// Perplexity is exp of the mean negative log-likelihood of the true next tokens.
	Perplexity float64 `json:"perplexity"`
	// KVFraction is the mean, over decode steps, layers and KV heads, of the attended
	// positions divided by the positions cached so far.
	KVFraction float64 `json:"kv_fraction"`
	Steps      int     `json:"steps"` // decode steps evaluated
}

// Fidelity cuts tokens into consecutive segments of Prompt+Steps+1 tokens. For each it
// prefills the first Prompt tokens, then decodes the next Steps true tokens (teacher
// forcing), so each decode step predicts a known token. It runs the full cache and every
// policy on the same segments and returns one result per policy, in order.
func Fidelity(m *Model, tokens []int, opt FidelityOptions, policies []PolicySpec) ([]FidelityResult, error) {
	if opt.Prompt < 1 || opt.Steps < 1 {
		return nil, fmt.Errorf("model: fidelity needs prompt ≥ 1 and steps ≥ 1, have %d and %d", opt.Prompt, opt.Steps)
	}
	seg := opt.Prompt + opt.Steps + 1
	n := len(tokens) / seg
	if opt.Segments > 0 {
		n = min(n, opt.Segments)
	}
	if n == 0 {
		return nil, fmt.Errorf("model: fidelity needs %d tokens per segment, text has %d", seg, len(tokens))
	}
	type run struct {
		nll, kv float64
		agree   int
	}
	runs := make([]run, len(policies))
	for k := range n {
		toks := tokens[k*seg : (k+1)*seg]
		ref, refNLL, _, err := teacherForce(m, toks, opt, Full{})
		if err != nil {
			return nil, err
		}
		for i, ps := range policies {
			p, err := ps.New(opt.Prompt)
			if err != nil {
				return nil, err
			}
			argmaxes, nll, kv := ref, refNLL, 1.0
			if _, full := p.(Full); !full {
				if argmaxes, nll, kv, err = teacherForce(m, toks, opt, p); err != nil {
					return nil, err
				}
			}
			for s, a := range argmaxes {
				if a == ref[s] {
					runs[i].agree++
				}
			}
			runs[i].nll += nll
			runs[i].kv += kv
		}
	}
	steps := n * opt.Steps
	out := make([]FidelityResult, len(policies))
	for i, r := range runs {
		out[i] = FidelityResult{Policy: policies[i].Name, Budget: policies[i].Budget,
			Agreement: float64(r.agree) / float64(steps), Perplexity: math.Exp(r.nll / float64(steps)),
			KVFraction: r.kv / float64(n), Steps: steps}
	}
	return out, nil
}

// teacherForce runs one segment under policy p and returns each decode step's argmax, the
// summed negative log-likelihood of the true next tokens and the mean attended fraction.
func teacherForce(m *Model, toks []int, opt FidelityOptions, p Policy) (argmaxes []int, nll, kv float64, err error) {
	var frac float64
	var count int
	s, err := NewSession(m, Options{FracBits: opt.FracBits, Policy: p, Trace: func(sel Selection) {
		frac += float64(len(sel.Indices)) / float64(sel.Pos+1)
		count++
	}})
	if err != nil {
		return nil, 0, 0, err
	}
	if _, err := s.Prefill(toks[:opt.Prompt]); err != nil {
		return nil, 0, 0, err
	}
	for i := opt.Prompt; i < opt.Prompt+opt.Steps; i++ {
		logits, err := s.Decode(toks[i])
		if err != nil {
			return nil, 0, 0, err
		}
		argmaxes = append(argmaxes, argmax(logits))
		nll -= logSoftmax(logits, toks[i+1])
	}
	return argmaxes, nll, frac / float64(count), nil
}

// logSoftmax returns log softmax(logits)[i].
func logSoftmax(logits []float64, i int) float64 {
	m := math.Inf(-1)
	for _, v := range logits {
		m = max(m, v)
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(v - m)
	}
	return logits[i] - m - math.Log(sum)
}

// FidelityMarkdown renders results as a markdown table.
func FidelityMarkdown(results []FidelityResult) string {
	var sb strings.Builder
	sb.WriteString("| policy | budget | agreement | perplexity | kv fraction | steps |\n")
	sb.WriteString("| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range results {
		fmt.Fprintf(&sb, "| %s | %.3g | %.4f | %.4f | %.4f | %d |\n",
			r.Policy, r.Budget, r.Agreement, r.Perplexity, r.KVFraction, r.Steps)
	}
	return sb.String()
}
