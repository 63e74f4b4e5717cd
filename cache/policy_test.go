package cache

import (
	"fmt"
	"slices"
	"testing"

	"github.com/privinfer/mpcache/infer"
	"github.com/privinfer/mpcache/model"
)

// policyCase is a secure policy and its plaintext specification.
type policyCase struct {
	name   string
	secure func() infer.Policy
	ref    func() model.Policy
	// exact says the selections must agree with the float64 reference (public ones).
	exact bool
}

// acceptanceCases returns the policies of the acceptance test for a prompt of T tokens, with
// budgets that keep a strict subset of the cache and, for MPCache, clusters that make both
// selection levels choose among several clusters.
func acceptanceCases(t *testing.T, T int, short bool) []policyCase {
	params := model.DefaultMPCacheParams()
	sinks, window, heavy, recent := 4, 60, 40, 40
	if short {
		params.Cluster1, params.Cluster2 = 8, 4
		sinks, window, heavy, recent = 4, 24, 12, 12
	}
	mp := func() *MPCache {
		p, err := NewMPCache(params)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	return []policyCase{
		{name: "streaming",
			secure: func() infer.Policy { return NewStreamingLLM(sinks, window) },
			ref:    func() model.Policy { return model.StreamingLLM{Sinks: sinks, Window: window} },
			exact:  true},
		{name: "h2o",
			secure: func() infer.Policy { return NewH2O(heavy, recent) },
			ref:    func() model.Policy { return model.NewH2O(heavy, recent) }},
		{name: "mpcache",
			secure: func() infer.Policy { return mp() },
			ref: func() model.Policy {
				p, err := model.NewMPCache(params)
				if err != nil {
					t.Fatal(err)
				}
				return p
			}},
	}
}

// TestPolicies is the acceptance test on stories260K: for each policy in 2pc and 3pc, secure
// greedy generation after a prompt cut from tinyshakespeare equals the float64 reference under
// the same policy's plaintext simulation, token for token, and every selection of every decode
// step, layer and KV head equals the specification's index for index: the plaintext policy
// replayed on the secure run's own inputs (replay). StreamingLLM's public selections must also
// equal the float64 reference's; for H2O and MPCache the agreement with float64 is logged: their
// scores (sums of hundreds of probabilities, or products of queries with cluster
// representatives) carry the protocol's approximation error, which flips near ties.
func TestPolicies(t *testing.T) {
	m, text := loadStories(t)
	// The prompts start at offsets where every reference step's two largest logits lie at least
	// 0.05 apart (checked below), far more than the secure logits' error of about 0.01: a near
	// tie would make the test depend on the protocol's rounding, not on the policies.
	T, n, off := 320, 32, 518
	if testing.Short() {
		T, n, off = 96, 8, 111
	}
	prompt := append([]int{text[0]}, text[off+1:off+T]...) // BOS, then T−1 tokens of the corpus
	cfg := m.Config
	for _, c := range acceptanceCases(t, T, testing.Short()) {
		refTok, refSel, gap := reference(t, m, prompt, n, c.ref(), 0)
		if gap < 0.05 {
			t.Fatalf("%s: the reference's top two logits come within %.4f of each other: pick another prompt", c.name, gap)
		}
		for _, p := range backends {
			t.Run(fmt.Sprintf("%s/%s", c.name, p), func(t *testing.T) {
				run := generate(t, p, m, prompt, n, c.secure, true)
				if !slices.Equal(run.tokens, refTok) {
					t.Fatalf("tokens: secure %v, reference %v", run.tokens, refTok)
				}
				checked := replay(t, cfg, T, c.ref(), run)
				agree, total, first := agreement(t, run, refSel, cfg.KVHeads)
				if c.exact && agree != total {
					t.Fatalf("%d of %d selections agree with the float64 reference; first difference: %s", agree, total, first)
				}
				t.Logf("%d tokens agree; all %d selections (%d decode steps × %d layers × %d KV heads) agree with the specification on the secure inputs, %d with the float64 reference",
					n, checked, n-1, cfg.Layers, cfg.KVHeads, agree)
				if first != "" {
					t.Logf("first difference from float64: %s", first)
				}
			})
		}
	}
}
