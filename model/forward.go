package model

import (
	"errors"
	"fmt"
	"math"
)

// Options configures a Session.
type Options struct {
	// FracBits selects the number system: 0 is exact float64; 1..24 emulates fixed point
	// with that many fractional bits (DefaultFracBits is the project's default), rounding
	// as described in the package doc.
	FracBits int
	// Policy chooses the attended tokens at each decode step; nil means Full.
	Policy Policy
	// Trace, if set, receives every decode-step selection of every layer and KV head.
	Trace func(Selection)
}

// Session runs the float64 reference forward of one sequence with a KV cache: one Prefill
// of the prompt, then one Decode per further token. A Session is not safe for concurrent use.
type Session struct {
	cfg    Config
	w      *Weights
	a      arith
	policy Policy
	trace  func(Selection)
	cache  []LayerCache
	prompt int // prompt length, 0 before Prefill
	step   int // decode steps done
}

// NewSession checks m and opts and returns a session with an empty cache. In fixed-point
// mode the weights are first encoded (Quantize), which copies them.
func NewSession(m *Model, opts Options) (*Session, error) {
	if m == nil || m.Weights == nil {
		return nil, errors.New("model: session needs a model with weights")
	}
	if err := m.Weights.Check(m.Config); err != nil {
		return nil, err
	}
	a, err := newArith(opts.FracBits)
	if err != nil {
		return nil, err
	}
	w := m.Weights
	if opts.FracBits > 0 {
		w = w.mapTensors(m.Config, a.round)
	}
	s := &Session{cfg: m.Config, w: w, a: a, policy: opts.Policy, trace: opts.Trace}
	if s.policy == nil {
		s.policy = Full{}
	}
	s.cache = make([]LayerCache, m.Config.Layers)
	for l := range s.cache {
		s.cache[l] = LayerCache{kvHeads: m.Config.KVHeads, headDim: m.Config.HeadDim()}
	}
	return s, nil
}

// Len is the number of tokens processed so far (the position of the next token).
func (s *Session) Len() int { return s.cache[0].Len() }

// Cache returns the KV cache of a layer.
func (s *Session) Cache(layer int) *LayerCache { return &s.cache[layer] }

// Prefill runs the whole prompt (1..MaxSeq token ids) through the model with full causal
// attention, lets the policy see the attention and evict, and returns the logits (Vocab
// values) that predict the token after the prompt. It may be called once per session.
func (s *Session) Prefill(tokens []int) ([]float64, error) {
	if s.prompt != 0 {
		return nil, errors.New("model: prefill called twice on one session")
	}
	if len(tokens) == 0 {
		return nil, errors.New("model: prefill needs at least one token")
	}
	if err := s.checkTokens(tokens); err != nil {
		return nil, err
	}
	if err := s.policy.Start(s.cfg, len(tokens)); err != nil {
		return nil, fmt.Errorf("model: policy %s: %w", s.policy.Name(), err)
	}
	s.prompt = len(tokens)
	return s.forward(tokens, false)
}

// Decode appends one token after Prefill and returns the logits that predict the next one.
func (s *Session) Decode(token int) ([]float64, error) {
	if s.prompt == 0 {
		return nil, errors.New("model: decode before prefill")
	}
	if err := s.checkTokens([]int{token}); err != nil {
		return nil, err
	}
	logits, err := s.forward([]int{token}, true)
	if err == nil {
		s.step++
	}
	return logits, err
}

func (s *Session) checkTokens(tokens []int) error {
	if n := s.Len() + len(tokens); n > s.cfg.MaxSeq {
		return fmt.Errorf("model: sequence of %d tokens exceeds the context of %d", n, s.cfg.MaxSeq)
	}
	for i, t := range tokens {
		if t < 0 || t >= s.cfg.Vocab {
			return fmt.Errorf("model: token %d at offset %d outside the vocabulary [0, %d)", t, i, s.cfg.Vocab)
		}
	}
	return nil
}

// forward runs rows tokens at positions Len().. through every block and returns the
// logits of the last one. decode selects policy attention (one row) instead of causal
// prefill attention.
func (s *Session) forward(tokens []int, decode bool) ([]float64, error) {
	pos0, rows := s.Len(), len(tokens)
	x := s.embed(tokens, pos0)
	for l := range s.w.Layers {
		if err := s.block(l, x, rows, pos0, decode); err != nil {
			return nil, err
		}
	}
	last := x[(rows-1)*s.cfg.Dim:]
	return s.classify(s.finalNorm(last)), nil
}

// embed returns the rows×Dim input: token embedding rows, plus learned positions (GPT2).
func (s *Session) embed(tokens []int, pos0 int) []float64 {
	d := s.cfg.Dim
	x := make([]float64, len(tokens)*d)
	for t, tok := range tokens {
		copy(x[t*d:(t+1)*d], s.w.Embed[tok*d:(tok+1)*d])
		if s.cfg.Family == GPT2 {
			p := pos0 + t
			addInPlace(x[t*d:(t+1)*d], s.w.Pos[p*d:(p+1)*d])
		}
	}
	return x
}

// block updates x (rows×Dim) in place by one transformer layer: x += attn(norm(x)) then
// x += mlp(norm(x)).
func (s *Session) block(l int, x []float64, rows, pos0 int, decode bool) error {
	ly := &s.w.Layers[l]
	h := s.norm(x, rows, ly.AttnNorm, ly.AttnNormBias)
	q, k, v := s.qkv(ly, h, rows)
	if s.cfg.Family == LLaMA {
		s.a.rope(q, rows, s.cfg.Heads, s.cfg.HeadDim(), pos0, s.cfg.RopeTheta)
		s.a.rope(k, rows, s.cfg.KVHeads, s.cfg.HeadDim(), pos0, s.cfg.RopeTheta)
	}
	s.cache[l].append(k, v)
	att, err := s.attention(l, q, rows, pos0, decode)
	if err != nil {
		return err
	}
	addInPlace(x, s.outProj(ly, att, rows))
	h = s.norm(x, rows, ly.MLPNorm, ly.MLPNormBias)
	addInPlace(x, s.mlp(ly, h, rows))
	return nil
}

// norm is RMSNorm (LLaMA) or LayerNorm (GPT2) of each row with gain g and bias b.
func (s *Session) norm(x []float64, rows int, g, b []float64) []float64 {
	if s.cfg.Family == GPT2 {
		return s.a.layerNorm(x, rows, g, b, s.cfg.NormEps)
	}
	return s.a.rmsNorm(x, rows, g, s.cfg.NormEps)
}

// qkv returns the query (rows×Dim), key and value (rows×KVDim) projections.
func (s *Session) qkv(ly *Layer, h []float64, rows int) (q, k, v []float64) {
	d, kv := s.cfg.Dim, s.cfg.KVDim()
	return s.a.linear(h, rows, d, ly.Wq, ly.Bq, d),
		s.a.linear(h, rows, d, ly.Wk, ly.Bk, kv),
		s.a.linear(h, rows, d, ly.Wv, ly.Bv, kv)
}

// attention returns the rows×Dim concatenated head outputs for queries q at positions
// pos0.. over layer l's cache: causal over 0..pos in prefill (the policy sees every
// probability row), over the policy's selection in decode.
func (s *Session) attention(l int, q []float64, rows, pos0 int, decode bool) ([]float64, error) {
	hd, group := s.cfg.HeadDim(), s.cfg.GroupSize()
	out := make([]float64, rows*s.cfg.Dim)
	all := prefix(pos0 + rows)
	scale := s.a.round(1 / math.Sqrt(float64(hd)))
	for t := range rows {
		pos := pos0 + t
		for g := range s.cfg.KVHeads {
			heads := make([][]float64, group)
			for j := range heads {
				h := g*group + j
				heads[j] = q[(t*s.cfg.Heads+h)*hd : (t*s.cfg.Heads+h+1)*hd]
			}
			sel := all[:pos+1]
			if decode {
				var err error
				if sel, err = s.selectPositions(l, g, pos, heads); err != nil {
					return nil, err
				}
			}
			probs := make([][]float64, group)
			for j, qh := range heads {
				h := g*group + j
				probs[j] = s.scores(l, g, qh, sel, scale)
				s.a.softmax(probs[j])
				s.mixValues(out[(t*s.cfg.Heads+h)*hd:(t*s.cfg.Heads+h+1)*hd], l, g, probs[j], sel)
				if !decode {
					s.policy.PrefillRow(l, h, pos, probs[j])
				}
			}
			if decode {
				s.policy.Observe(l, g, sel, probs)
			}
		}
	}
	if !decode {
		if err := s.policy.EndPrefill(l); err != nil {
			return nil, fmt.Errorf("model: policy %s, layer %d: %w", s.policy.Name(), l, err)
		}
	}
	return out, nil
}

// selectPositions asks the policy for KV head g's positions at pos, checks them and
// reports them to the trace.
func (s *Session) selectPositions(l, g, pos int, q [][]float64) ([]int, error) {
	sel, err := s.policy.Select(l, g, pos, q, &s.cache[l])
	if err != nil {
		return nil, fmt.Errorf("model: policy %s, layer %d, kv head %d, pos %d: %w", s.policy.Name(), l, g, pos, err)
	}
	for i, p := range sel {
		if p < 0 || p > pos || (i > 0 && p <= sel[i-1]) {
			return nil, fmt.Errorf("model: policy %s, layer %d, kv head %d: selection %v is not increasing in [0, %d]",
				s.policy.Name(), l, g, sel, pos)
		}
	}
	if len(sel) == 0 || sel[len(sel)-1] != pos {
		return nil, fmt.Errorf("model: policy %s, layer %d, kv head %d: selection omits the new token %d",
			s.policy.Name(), l, g, pos)
	}
	if s.trace != nil {
		s.trace(Selection{Step: s.step, Layer: l, KVHead: g, Pos: pos, Indices: append([]int(nil), sel...)})
	}
	return sel, nil
}

// scores returns the scaled dot products q·k_p/√HeadDim for the positions sel of KV head g.
func (s *Session) scores(l, g int, q []float64, sel []int, scale float64) []float64 {
	out := make([]float64, len(sel))
	for j, p := range sel {
		out[j] = s.a.mul(s.a.dot(q, s.cache[l].Key(p, g)), scale)
	}
	return out
}

// mixValues sets out = Σ_j probs[j]·v_{sel[j]} for KV head g, one truncation per output.
func (s *Session) mixValues(out []float64, l, g int, probs []float64, sel []int) {
	clear(out)
	for j, p := range sel {
		for d, v := range s.cache[l].Value(p, g) {
			out[d] += probs[j] * v
		}
	}
	for d, v := range out {
		out[d] = s.a.trunc(v)
	}
}

// outProj is the attention output projection.
func (s *Session) outProj(ly *Layer, att []float64, rows int) []float64 {
	d := s.cfg.Dim
	return s.a.linear(att, rows, d, ly.Wo, ly.Bo, d)
}

// mlp is the feed-forward block: W2·(silu(W1·h) ⊙ W3·h) (LLaMA, SwiGLU) or
// W2·gelu(W1·h + b1) + b2 (GPT2).
func (s *Session) mlp(ly *Layer, h []float64, rows int) []float64 {
	d, hid := s.cfg.Dim, s.cfg.Hidden
	u := s.a.linear(h, rows, d, ly.W1, ly.B1, hid)
	if s.cfg.Family == GPT2 {
		for i, v := range u {
			u[i] = s.a.gelu(v)
		}
	} else {
		up := s.a.linear(h, rows, d, ly.W3, nil, hid)
		for i, v := range u {
			u[i] = s.a.mul(s.a.silu(v), up[i])
		}
	}
	return s.a.linear(u, rows, hid, ly.W2, ly.B2, d)
}

// finalNorm normalises the last position's hidden state.
func (s *Session) finalNorm(x []float64) []float64 {
	return s.norm(x, 1, s.w.FinalNorm, s.w.FinalNormBias)
}

// classify returns the Vocab logits Classifier·x.
func (s *Session) classify(x []float64) []float64 {
	return s.a.linear(x, 1, s.cfg.Dim, s.w.Classifier, nil, s.cfg.Vocab)
}
