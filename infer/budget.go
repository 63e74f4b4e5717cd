package infer

import (
	"fmt"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
)

// Budget is the correlated randomness a dealer-free 2pc session consumes, by phase.
type Budget struct {
	// Setup is what NewSession consumes (the weights' masks), Prefill the prompt's forward and
	// the first token's argmax, Decode every further step (MaxNewTokens − 1 of them).
	Setup, Prefill, Decode  mpc.MaterialCount
	PromptLen, MaxNewTokens int
}

// Total is the whole session's material.
func (b Budget) Total() mpc.MaterialCount {
	t := b.Setup.Clone()
	t.Add(b.Prefill)
	t.Add(b.Decode)
	return t
}

// MaterialBudget computes, from the model's shape alone, the material a 2pc session with
// dealer-free material consumes: NewSession, then Generate of maxNew tokens after a prompt of
// promptLen tokens with the policy that newPolicy builds (nil: the full cache). It runs the
// session's program once on shapes, as the dealer would (mpc.NewDry with an mpc.Counter): no
// data, no messages, no material produced; the programs are data-oblivious, so every real
// session of these lengths asks for exactly these counts, in this order. Comparisons are
// counted as the boolean circuit, which dealer-free sessions use. The cost is that of the
// dealer's bookkeeping (shapes and zero masks), small next to the session itself.
func MaterialBudget(cfg model.Config, frac uint, promptLen, maxNew int, newPolicy func() (Policy, error)) (Budget, error) {
	return materialBudget(cfg, frac, promptLen, maxNew, Sampling{}, newPolicy)
}

// SampledMaterialBudget is MaterialBudget for a session that generates by top-p sampling at
// temperature and topP (GenerateWith with a Sampling) instead of greedily: the same run on
// shapes, with each step's token drawn by Sample (the uniforms' shares are shapes too). The
// public parameters matter only through SampleTopP's public branches (temperature 1 skips the
// scaling, top-p 1 the threshold search), so sessions with equal parameters and lengths ask
// for equal counts.
func SampledMaterialBudget(cfg model.Config, frac uint, promptLen, maxNew int, temperature, topP float64, newPolicy func() (Policy, error)) (Budget, error) {
	if err := model.CheckNucleus(temperature, topP); err != nil {
		return Budget{PromptLen: promptLen, MaxNewTokens: maxNew}, fmt.Errorf("infer: budget: %w", err)
	}
	smp := Sampling{TopP: topP, Temperature: temperature, U: func(int) (*mpc.Share, error) {
		return &mpc.Share{Shape: []int{1}}, nil
	}}
	return materialBudget(cfg, frac, promptLen, maxNew, smp, newPolicy)
}

func materialBudget(cfg model.Config, frac uint, promptLen, maxNew int, smp Sampling, newPolicy func() (Policy, error)) (Budget, error) {
	b := Budget{PromptLen: promptLen, MaxNewTokens: maxNew}
	if promptLen < 1 || maxNew < 1 {
		return b, fmt.Errorf("infer: budget: prompt length %d and new tokens %d must both be at least 1", promptLen, maxNew)
	}
	if promptLen+maxNew-1 > cfg.MaxSeq {
		return b, fmt.Errorf("infer: budget: a prompt of %d tokens plus %d new tokens exceeds the context of %d", promptLen, maxNew, cfg.MaxSeq)
	}
	var pol Policy
	if newPolicy != nil {
		var err error
		if pol, err = newPolicy(); err != nil {
			return b, err
		}
	}
	c := &mpc.Counter{}
	e, err := mpc.NewDry(mpc.Config{Frac: frac}, c)
	if err != nil {
		return b, err
	}
	w, err := PhantomShares(cfg, "budget", e.Frac())
	if err != nil {
		return b, err
	}
	s, err := NewSession(e, w, Options{Policy: pol})
	if err != nil {
		return b, fmt.Errorf("infer: budget: %w", err)
	}
	b.Setup = c.Count.Clone()
	mark := b.Setup
	err = s.GenerateWith(&mpc.Share{Shape: []int{promptLen, cfg.Vocab}}, maxNew, smp, func(step int, _ *mpc.Share) error {
		if step == 0 {
			b.Prefill = c.Count.Sub(mark)
			mark = c.Count.Clone()
		}
		return nil
	})
	if err != nil {
		return b, fmt.Errorf("infer: budget: %w", err)
	}
	b.Decode = c.Count.Sub(mark)
	return b, nil
}
