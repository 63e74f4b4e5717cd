package client

import (
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
