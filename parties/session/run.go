package session

import (
	"context"
	"fmt"
	"time"

	"github.com/privinfer/mpcache/infer"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/twoparty"
	"github.com/privinfer/mpcache/parties/policies"
	"github.com/privinfer/mpcache/parties/role"
	"github.com/privinfer/mpcache/parties/wire"
)

// run computes the session: peers, parameter check, engine, generation, summary.
func (s *Session) run(prompt *mpc.Share) {
	sum, err := s.compute(prompt)
	// Drop the client's input share (the engine and the secure session go with this frame).
	clear(prompt.Own)
	clear(prompt.Next)
	switch {
	case err == nil:
		s.end(sum, nil, "ok")
	case context.Cause(s.ctx) != nil && s.ctx.Err() != nil:
		s.end(nil, s.failure(context.Cause(s.ctx)), "cancelled")
	default:
		s.end(nil, s.failure(err), "failed")
	}
}

// failure names the session, the party and the phase in err.
func (s *Session) failure(err error) error {
	s.mu.Lock()
	phase := s.phase
	s.mu.Unlock()
	return fmt.Errorf("session %s at %s failed during %s: %w", s.req.ID, s.m.cfg.Role, phase, err)
}

func (s *Session) compute(prompt *mpc.Share) (*Summary, error) {
	cfg := &s.m.cfg
	s.setPhase("set-up (waiting for the other parties to open the session)")
	ready, cancel := context.WithTimeout(s.ctx, cfg.ReadyTimeout)
	err := s.ls.WaitReady(ready)
	cancel()
	if err != nil {
		return nil, err
	}
	s.setPhase("set-up (checking the session parameters with the other parties)")
	if err := s.checkParams(); err != nil {
		return nil, err
	}
	ecfg := mpc.Config{Frac: s.shares.Frac, Timeout: cfg.RecvTimeout, Comparison: cfg.Comparison, Network: cfg.Network}
	var gen *twoparty.Generator
	var budget twoparty.Batch
	if cfg.Preprocessing == role.DealerFree {
		s.setPhase("set-up (material budget)")
		if budget, err = s.budget(); err != nil {
			return nil, err
		}
		o := twoparty.Options{StoreDir: cfg.DealerFree.StoreDir, StoreBytes: cfg.DealerFree.StoreBytes}
		ecfg.Material = func(l mpc.Link) (mpc.Material, error) {
			g, err := twoparty.New(l, o)
			gen = g
			return g, err
		}
	}
	s.setPhase("set-up (engine)")
	e, err := mpc.New(s.ctx, mpc.Protocol(cfg.Protocol), s.ls, ecfg)
	if err != nil {
		return nil, err
	}
	if gen != nil && cfg.DealerFree.Precompute {
		if err := s.precompute(e, gen, budget); err != nil {
			return nil, err
		}
	}
	pol, err := policies.Secure(s.req.Policy, s.shares.Config, s.req.PolicyParams)
	if err != nil {
		return nil, err
	}
	s.setPhase("set-up (weights)")
	is, err := infer.NewSession(e, s.shares, infer.Options{Policy: pol})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	last := start
	var first float64
	sendShares := s.InputSize() > 0
	s.setPhase("prefill")
	emit := func(step int, id *mpc.Share) error {
		now := time.Now()
		if step == 0 {
			first = now.Sub(start).Seconds()
		}
		if met := cfg.Metrics; met != nil {
			met.Tokens.Inc()
			if step == 0 {
				met.FirstToken.Observe(first)
			} else {
				met.TokenGap.Observe(now.Sub(last).Seconds())
			}
		}
		last = now
		if sendShares {
			s.emit(Event{Token: &Token{Index: step, Share: wire.EncodeShare(id)}})
		}
		s.setPhase(fmt.Sprintf("decode step %d", step+1))
		return s.ctx.Err()
	}
	if s.req.Sampling() {
		err = s.generateSampled(is, prompt, emit)
	} else {
		err = is.Generate(prompt, s.req.MaxNewTokens, emit)
	}
	if err != nil {
		return nil, err
	}
	st := e.Meter().Total()
	if gen != nil {
		s.log.Info("session: dealer-free material", "offline_sent", st.OfflineSent, "offline_recv", st.OfflineRecv,
			"offline_sent_per_token", st.OfflineSent/int64(s.req.MaxNewTokens), "precomputed_left", gen.StoredBytes())
	}
	return &Summary{
		Tokens: s.req.MaxNewTokens, OnlineSent: st.OnlineSent, OnlineRecv: st.OnlineRecv,
		OfflineSent: st.OfflineSent, OfflineRecv: st.OfflineRecv, Rounds: st.Rounds,
		Seconds: time.Since(start).Seconds(), FirstToken: first,
	}, nil
}

// generateSampled splits the input share into the prompt's one-hot rows and the client's
// uniforms (the entries after them, see InputShape) and generates by top-p sampling.
func (s *Session) generateSampled(is *infer.Session, input *mpc.Share, emit func(int, *mpc.Share) error) error {
	n, start := s.req.MaxNewTokens, s.req.PromptLen*s.shares.Config.Vocab
	prompt, err := mpc.Slice(input, 0, 0, s.req.PromptLen)
	if err != nil {
		return err
	}
	flat, err := mpc.Reshape(input, input.Len())
	if err != nil {
		return err
	}
	us, err := mpc.Slice(flat, 0, start, start+n)
	if err != nil {
		return err
	}
	smp := infer.Sampling{TopP: s.req.TopP, Temperature: s.req.Temperature, U: func(step int) (*mpc.Share, error) {
		if step < 0 || step >= n {
			return nil, fmt.Errorf("no uniform for step %d of %d", step, n)
		}
		return mpc.Slice(us, 0, step, step+1)
	}}
	defer func() {
		for _, x := range []*mpc.Share{prompt, us} {
			clear(x.Own)
			clear(x.Next)
		}
	}()
	return is.GenerateWith(prompt, n, smp, emit)
}

// budget computes the session's material from the model's shape and the session's lengths
// (infer.MaterialBudget: a run of the program on shapes, no messages) and logs it; it returns
// the elementwise part, which Precompute can produce ahead.
func (s *Session) budget() (twoparty.Batch, error) {
	t0 := time.Now()
	newPolicy := func() (infer.Policy, error) {
		return policies.Secure(s.req.Policy, s.shares.Config, s.req.PolicyParams)
	}
	var b infer.Budget
	var err error
	if s.req.Sampling() {
		b, err = infer.SampledMaterialBudget(s.shares.Config, s.shares.Frac, s.req.PromptLen, s.req.MaxNewTokens, s.req.Temperature, s.req.TopP, newPolicy)
	} else {
		b, err = infer.MaterialBudget(s.shares.Config, s.shares.Frac, s.req.PromptLen, s.req.MaxNewTokens, newPolicy)
	}
	if err != nil {
		return twoparty.Batch{}, err
	}
	tot := b.Total()
	batch := twoparty.BatchFor(tot)
	steps := int64(max(1, s.req.MaxNewTokens-1))
	s.log.Info("session: dealer-free material budget", "seconds", time.Since(t0).Seconds(),
		"triples", tot.Triples, "and_words", tot.ANDs, "private_and_words", tot.PrivateANDs, "bit_pairs", tot.BitPairs,
		"one_hot_rows", sumCounts(tot.OneHots), "trunc_tuples", sumCounts(tot.Truncs), "matrix_triples", sumCounts(tot.Matrices),
		"mask_elements", tot.Masks, "elementwise_bytes", batch.Bytes(),
		"per_decode_step_and_words", b.Decode.ANDs/steps, "per_decode_step_bytes", twoparty.BatchFor(b.Decode).Bytes()/steps)
	return batch, nil
}

// precompute produces the session's elementwise material now, when it fits the store bound
// (both parties decide alike: the budget and the bound are the same at both).
func (s *Session) precompute(e mpc.Engine, g *twoparty.Generator, b twoparty.Batch) error {
	bound := s.m.cfg.DealerFree.StoreBytes
	if b.Bytes() > bound {
		s.log.Warn("session: the material budget exceeds dealer_free.store_bytes; producing material as it is used",
			"budget_bytes", b.Bytes(), "store_bytes", bound)
		return nil
	}
	s.setPhase("set-up (precomputing dealer-free material)")
	t0 := time.Now()
	before := e.Meter().Total()
	end := e.Meter().Scope("precompute")
	err := g.Precompute(b)
	end()
	if err != nil {
		return err
	}
	after := e.Meter().Total()
	s.log.Info("session: dealer-free material precomputed", "seconds", time.Since(t0).Seconds(), "bytes", b.Bytes(),
		"offline_sent", after.OfflineSent-before.OfflineSent)
	return nil
}

func sumCounts[K comparable](m map[K]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// params are this party's view of the session's public parameters.
func (s *Session) params() wire.Params {
	return wire.Params{
		Version: wire.Version, Protocol: string(s.m.cfg.Protocol), ModelID: s.req.ModelID, Frac: s.shares.Frac,
		Preprocessing: s.m.cfg.Preprocessing.Field(), Precompute: s.m.cfg.Preprocessing == role.DealerFree && s.m.cfg.DealerFree.Precompute,
		Comparison: string(s.m.cfg.Comparison), Network: networkName(s.m.cfg.Network), Policy: policyName(s.req.Policy), PolicyParams: s.req.PolicyParams,
		PromptLen: s.req.PromptLen, MaxNewTokens: s.req.MaxNewTokens,
		Temperature: s.req.Temperature, TopP: s.req.TopP,
	}
}

// checkParams sends every peer this party's parameters and compares theirs. The messages go
// over the session's link before the engine's first message, so they never mix with shares. A
// difference is reported in preference to a transport failure: a peer that found the
// difference first may have closed the session already, after sending its parameters.
func (s *Session) checkParams() error {
	mine := s.params()
	msg := mine.Encode()
	self := s.m.party
	var peers []int
	for p := range s.m.cfg.Protocol.RolesWith(s.m.cfg.Preprocessing) {
		if p != self {
			peers = append(peers, p)
		}
	}
	var failed error
	for _, p := range peers {
		if err := s.ls.SendLabeled(s.ctx, p, "session/params", msg); err != nil && failed == nil {
			failed = err
		}
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.m.cfg.ReadyTimeout)
	defer cancel()
	for _, p := range peers {
		b, err := s.ls.Recv(ctx, p)
		if err != nil {
			if failed == nil {
				failed = err
			}
			continue
		}
		theirs, err := wire.DecodeParams(b)
		name, _ := s.m.cfg.Protocol.Role(p)
		if err != nil {
			return fmt.Errorf("the parameters from %s: %w", name, err)
		}
		if d := mine.Diff(theirs); d != "" {
			return fmt.Errorf("%w: %s and %s disagree on the session parameters (%s's first): %s",
				ErrMismatch, s.m.cfg.Role, name, s.m.cfg.Role, d)
		}
	}
	return failed
}

// networkName is the name of the network a party plans for, "" for the default (so that the
// parameters of parties that predate the setting still compare equal).
func networkName(n mpc.Network) string {
	if n == (mpc.Network{}) || n == mpc.WANNetwork {
		return ""
	}
	return n.String()
}
