package infer

import (
	"errors"
	"fmt"
	"slices"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/protocols"
)

// Options configures a Session.
type Options struct {
	// Policy chooses what decoding attends to; nil means the full cache.
	Policy Policy
}

// Session runs the secure forward of one sequence with a KV cache on one party: one Prefill of
// the prompt, then one Decode per further token, mirroring model.Session. Every party runs the
// same calls in the same order. A Session is not safe for concurrent use.
type Session struct {
	e      mpc.Engine
	cfg    model.Config
	w      *ModelShares
	layers []LayerShares
	embedW *mpc.Share // [Vocab][Dim], fixed in 2pc
	cls    *mpc.Share // [Dim][Vocab], fixed in 2pc
	policy Policy
	prompt int    // prompt length, 0 before Prefill
	pos    int    // tokens processed
	phase  string // "prefill" or "decode": the meter label of the last forward and its argmax
}

// NewSession checks that w belongs to e's protocol, party and fixed point, and prepares the
// weights: in 2pc every matrix becomes a fixed operand (one round that opens each weight minus
// a fresh mask, once per session), so per-token products open only activations.
func NewSession(e mpc.Engine, w *ModelShares, opts Options) (*Session, error) {
	if w == nil {
		return nil, errors.New("infer: session needs model shares")
	}
	switch {
	case w.Protocol != e.Protocol():
		return nil, fmt.Errorf("infer: shares are for protocol %s, the engine runs %s", w.Protocol, e.Protocol())
	case w.Party != e.Party():
		return nil, fmt.Errorf("infer: shares belong to party %d, the engine is party %d", w.Party, e.Party())
	case w.Frac != e.Frac():
		return nil, fmt.Errorf("infer: shares use %d fractional bits, the engine %d", w.Frac, e.Frac())
	}
	if err := w.check(); err != nil {
		return nil, err
	}
	s := &Session{e: e, cfg: w.Config, w: w, policy: opts.Policy}
	if s.policy == nil {
		s.policy = NewFull()
	}
	defer e.Meter().Scope("setup")()
	// Fix every matrix operand in one round.
	s.layers = slices.Clone(w.Layers)
	var ops []**mpc.Share
	ops = append(ops, &s.embedW)
	s.embedW = w.Embed
	if w.Classifier != nil {
		s.cls = w.Classifier
		ops = append(ops, &s.cls)
	}
	for l := range s.layers {
		ly := &s.layers[l]
		ops = append(ops, &ly.QKV, &ly.Out, &ly.Up, &ly.Down)
	}
	in := make([]*mpc.Share, len(ops))
	for i, p := range ops {
		in[i] = *p
	}
	fixed, err := e.Fix(in...)
	if err != nil {
		return nil, fmt.Errorf("infer: fixing the weights: %w", err)
	}
	for i, p := range ops {
		*p = fixed[i]
	}
	if w.Classifier == nil {
		if s.cls, err = mpc.Transpose(s.embedW); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Len is the number of tokens processed so far (the position of the next token).
func (s *Session) Len() int { return s.pos }

// Prefill runs the whole prompt, given as shares of its one-hot rows ([T][Vocab], plain 0/1
// ring integers, 1 ≤ T ≤ MaxSeq), with full causal attention, lets the policy see the
// attention and evict, and returns shares of the logits ([Vocab], fixed point) that predict
// the token after the prompt. It may be called once per session.
func (s *Session) Prefill(tokens *mpc.Share) (*mpc.Share, error) {
	return s.prefill(tokens, false)
}

// PrefillNext is Prefill followed by Next, with the argmax taken on the classifier's product
// before truncation (the logits at 2·Frac fractional bits rank as the truncated ones do, without
// their rounding): it saves the truncation of the Vocab logits (2pc: 16 bytes per logit and a
// round), and in 3pc with FSS the product goes straight to the two-party view where the argmax
// runs (8 bytes per logit from P2, instead of 48 from the three parties for the truncated
// replicated product). Greedy generation uses it.
func (s *Session) PrefillNext(tokens *mpc.Share) (onehot, id *mpc.Share, err error) {
	logits, err := s.prefill(tokens, true)
	if err != nil {
		return nil, nil, err
	}
	return s.next(logits, true)
}

func (s *Session) prefill(tokens *mpc.Share, raw bool) (*mpc.Share, error) {
	if s.prompt != 0 {
		return nil, errors.New("infer: prefill called twice on one session")
	}
	if err := s.checkTokens(tokens); err != nil {
		return nil, err
	}
	if err := s.policy.Start(s.e, s.cfg, tokens.Shape[0]); err != nil {
		return nil, fmt.Errorf("infer: policy %s: %w", s.policy.Name(), err)
	}
	s.prompt, s.phase = tokens.Shape[0], "prefill"
	defer s.e.Meter().Scope(s.phase)()
	return s.forward(tokens, false, raw)
}

// Decode appends one token, given as shares of its one-hot row ([1][Vocab]), after Prefill and
// returns shares of the logits that predict the next one.
func (s *Session) Decode(token *mpc.Share) (*mpc.Share, error) {
	return s.decode(token, false)
}

// DecodeNext is Decode followed by Next, with the argmax on the untruncated logits as in
// PrefillNext: one greedy decoding step.
func (s *Session) DecodeNext(token *mpc.Share) (onehot, id *mpc.Share, err error) {
	logits, err := s.decode(token, true)
	if err != nil {
		return nil, nil, err
	}
	return s.next(logits, true)
}

func (s *Session) decode(token *mpc.Share, raw bool) (*mpc.Share, error) {
	if s.prompt == 0 {
		return nil, errors.New("infer: decode before prefill")
	}
	if err := s.checkTokens(token); err != nil {
		return nil, err
	}
	if token.Shape[0] != 1 {
		return nil, fmt.Errorf("infer: decode takes one token, got %d", token.Shape[0])
	}
	s.phase = "decode"
	defer s.e.Meter().Scope(s.phase)()
	return s.forward(token, true, raw)
}

func (s *Session) checkTokens(t *mpc.Share) error {
	if t == nil || len(t.Shape) != 2 || t.Shape[1] != s.cfg.Vocab || t.Shape[0] < 1 {
		var shape []int
		if t != nil {
			shape = t.Shape
		}
		return fmt.Errorf("infer: tokens must be one-hot rows of shape [n][%d], got %v", s.cfg.Vocab, shape)
	}
	if n := s.pos + t.Shape[0]; n > s.cfg.MaxSeq {
		return fmt.Errorf("infer: sequence of %d tokens exceeds the context of %d", n, s.cfg.MaxSeq)
	}
	return nil
}

// logitBits is the width above the fractional bits that greedy decoding's comparisons need:
// logits within ±2^19 differ by less than 2^20, which 21 bits hold with their sign.
const logitBits = 21

// Next picks the next token from shares of logits by a secure argmax over the vocabulary
// (ties to the lower id): it returns shares of its one-hot row ([1][Vocab], the next Decode's
// input, which stays inside the parties) and of its id ([1], for the client only). The logits
// must lie within ±2^19, the range Softmax (and so Sample) requires: the argmax compares over
// the bits that range needs.
func (s *Session) Next(logits *mpc.Share) (onehot, id *mpc.Share, err error) {
	return s.next(logits, false)
}

// next is Next, for logits given as a share of protocols.View when inView (the untruncated
// classifier product, at twice the fractional bits).
//
// Greedy decoding takes logits in Softmax's range, |logit| < 2^19, as sampling does (Sample's
// softmax requires it): the argmax then compares differences below 2^20, over Frac + 21 bits
// (mpc.Engine.WithCompareBits), 37 at Frac = 16. In the view, where the logits carry 2·Frac
// fractional bits, the pairwise comparisons of the argmax's tournament drop the Frac − 1
// lowest (mpc.Engine.WithComparePrecision; groups of more than two compare exactly): a pair
// whose logits differ by at least half a unit in the last place at Frac bits (2^−17) ranks
// exactly, a closer one as dithered by the masks (ties at Frac bits, which a truncated logit
// would have rounded), so the token chosen has a logit within 2^−17 per pairwise level (at
// most log2 of the vocabulary) of the largest, far inside the logits' own fixed-point error.
// Those keys are over Frac + 23 bits (39 at Frac = 16: one more than the range needs, for the
// borrow of the dropped bits) instead of 2·Frac + 21 (53).
func (s *Session) next(logits *mpc.Share, inView bool) (onehot, id *mpc.Share, err error) {
	defer s.e.Meter().Scope(s.phase)()
	defer s.e.Meter().Scope("lm_head/argmax")()
	f := s.e.Frac()
	argmax, bits, drop := protocols.Argmax, f+logitBits, uint(0)
	if inView {
		argmax, bits = protocols.ArgmaxInView, 2*f+logitBits
		if f > 1 {
			drop = f - 1
			bits += 1 - drop // one bit more for the borrow of the dropped ones
		}
	}
	ce, err := s.e.WithComparePrecision(min(bits, 64-drop), drop)
	if err != nil {
		return nil, nil, fmt.Errorf("infer: argmax: %w", err)
	}
	oh, idx, err := argmax(ce, logits)
	if err != nil {
		return nil, nil, fmt.Errorf("infer: argmax: %w", err)
	}
	if oh, err = mpc.Reshape(oh, 1, s.cfg.Vocab); err != nil {
		return nil, nil, err
	}
	if idx, err = mpc.Reshape(idx, 1); err != nil {
		return nil, nil, err
	}
	return oh, idx, nil
}

// Sample picks the next token from shares of logits by top-p sampling (protocols.SampleTopP):
// from softmax(logits/temperature) restricted to its nucleus (the tokens of probability at
// least the largest threshold that keeps topP of the mass, ties at the threshold included),
// by the inverse CDF in vocabulary order at the client's secret uniform u (shares of [1],
// fixed point in [0, 1)). It is model.NucleusCDF on the same u, up to fixed-point error, and
// returns what Next returns. temperature > 0 and topP ∈ (0, 1] are public; nothing about the
// logits, the probabilities, u or the token is opened.
func (s *Session) Sample(logits, u *mpc.Share, temperature, topP float64) (onehot, id *mpc.Share, err error) {
	defer s.e.Meter().Scope(s.phase)()
	defer s.e.Meter().Scope("lm_head/sample")()
	oh, idx, err := protocols.SampleTopP(s.e, logits, u, temperature, topP)
	if err != nil {
		return nil, nil, fmt.Errorf("infer: %w", err)
	}
	if oh, err = mpc.Reshape(oh, 1, s.cfg.Vocab); err != nil {
		return nil, nil, err
	}
	if idx, err = mpc.Reshape(idx, 1); err != nil {
		return nil, nil, err
	}
	return oh, idx, nil
}

// Sampling chooses how GenerateWith picks each token. The zero value is greedy (Next).
type Sampling struct {
	// TopP > 0 selects top-p sampling (Sample) at Temperature; both are public.
	TopP, Temperature float64
	// U returns the shares of step's uniform (shape [1], fixed point in [0, 1)), contributed
	// by the client; it is called once per generated token, in order.
	U func(step int) (*mpc.Share, error)
}

// Greedy reports whether smp is greedy decoding.
func (smp Sampling) Greedy() bool { return smp.TopP == 0 }

// Generate runs Prefill on the prompt and greedy decoding until n tokens are generated, calling
// emit with each new token's id shares as soon as it exists (the client reconstructs them; the
// parties never do). n ≥ 1 is public, as is the prompt length.
func (s *Session) Generate(prompt *mpc.Share, n int, emit func(step int, id *mpc.Share) error) error {
	return s.GenerateWith(prompt, n, Sampling{}, emit)
}

// GenerateWith is Generate with a choice of sampling.
func (s *Session) GenerateWith(prompt *mpc.Share, n int, smp Sampling, emit func(step int, id *mpc.Share) error) error {
	if n < 1 {
		return fmt.Errorf("infer: generate %d tokens: need at least one", n)
	}
	if !smp.Greedy() {
		if smp.U == nil {
			return errors.New("infer: top-p sampling needs the client's uniforms")
		}
		if err := model.CheckNucleus(smp.Temperature, smp.TopP); err != nil {
			return fmt.Errorf("infer: %w", err)
		}
	}
	if total := prompt.Shape[0] + n - 1; len(prompt.Shape) == 2 && total > s.cfg.MaxSeq {
		return fmt.Errorf("infer: prompt of %d tokens plus %d new ones exceeds the context of %d", prompt.Shape[0], n, s.cfg.MaxSeq)
	}
	// next runs the prompt (oh nil) or one more token and picks the following one.
	next := func(step int, oh *mpc.Share) (*mpc.Share, *mpc.Share, error) {
		if smp.Greedy() {
			if oh == nil {
				return s.PrefillNext(prompt)
			}
			return s.DecodeNext(oh)
		}
		var logits *mpc.Share
		var err error
		if oh == nil {
			logits, err = s.Prefill(prompt)
		} else {
			logits, err = s.Decode(oh)
		}
		if err != nil {
			return nil, nil, err
		}
		u, err := smp.U(step)
		if err != nil {
			return nil, nil, err
		}
		return s.Sample(logits, u, smp.Temperature, smp.TopP)
	}
	var oh *mpc.Share
	for step := 0; ; step++ {
		var id *mpc.Share
		var err error
		if oh, id, err = next(step, oh); err != nil {
			return err
		}
		if err = emit(step, id); err != nil || step == n-1 {
			return err
		}
	}
}
