package infer

import (
	"fmt"
	"math"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/protocols"
)

// forward runs rows tokens (one-hot shares) at positions Len().. through every block and
// returns the logits of the last one: at Frac fractional bits, or, with raw, the classifier's
// product untruncated (2·Frac bits), which an argmax ranks the same and more exactly, as a share
// of protocols.View (see classify). decode selects policy attention (one row) instead of causal
// prefill attention.
func (s *Session) forward(tokens *mpc.Share, decode, raw bool) (*mpc.Share, error) {
	p := &prog{e: s.e}
	pos0, rows := s.pos, tokens.Shape[0]
	x := s.embed(p, tokens, pos0)
	for l := range s.layers {
		x = s.block(p, l, x, rows, pos0, decode)
	}
	last := p.slice(x, 0, rows-1, rows)
	logits := s.classify(p, s.finalNorm(p, last), raw)
	if p.err != nil {
		return nil, p.err
	}
	s.pos += rows
	return mpc.Reshape(logits, s.cfg.Vocab)
}

// embed returns the rows×Dim input: the one-hot rows times the token embedding (an oblivious
// lookup), plus learned positions (GPT-2; positions are public).
func (s *Session) embed(p *prog, tokens *mpc.Share, pos0 int) *mpc.Share {
	defer p.scope("embed")()
	x := p.do("embed", func() (*mpc.Share, error) { return s.e.MatMul(tokens, s.embedW) })
	if s.cfg.Family == model.GPT2 {
		x = p.add(x, p.slice(s.w.Pos, 0, pos0, pos0+tokens.Shape[0]))
	}
	return x
}

// block updates x (rows×Dim) by one transformer layer: x += attn(norm(x)), then
// x += mlp(norm(x)).
func (s *Session) block(p *prog, l int, x *mpc.Share, rows, pos0 int, decode bool) *mpc.Share {
	defer p.scope(fmt.Sprintf("layer%d", l))()
	ly := &s.layers[l]
	endAttn := p.scope("attn")
	h := s.norm(p, x, ly.AttnNorm, ly.AttnNormBias)
	q, k, v := s.qkv(p, ly, h, rows)
	if s.cfg.Family == model.LLaMA {
		q = s.rope(p, q, pos0)
		k = s.rope(p, k, pos0)
	}
	att := s.attention(p, l, q, k, v, rows, decode)
	x = p.add(x, s.outProj(p, ly, att))
	endAttn()
	defer p.scope("mlp")()
	h = s.norm(p, x, ly.MLPNorm, ly.MLPNormBias)
	return p.add(x, s.mlp(p, ly, h, rows))
}

// norm is RMSNorm (LLaMA) or LayerNorm (GPT-2) of each row with gain g and bias b.
func (s *Session) norm(p *prog, x, g, b *mpc.Share) *mpc.Share {
	defer p.scope("norm")()
	eps := s.cfg.NormEps
	if s.cfg.Family == model.GPT2 {
		return p.do("layernorm", func() (*mpc.Share, error) { return protocols.LayerNorm(s.e, x, g, b, eps) })
	}
	return p.do("rmsnorm", func() (*mpc.Share, error) { return protocols.RMSNorm(s.e, x, g, eps) })
}

// qkv returns the query ([rows][Heads][HeadDim], pre-scaled by 1/√HeadDim), key and value
// ([rows][KVHeads][HeadDim]) projections, from one matrix product.
func (s *Session) qkv(p *prog, ly *LayerShares, h *mpc.Share, rows int) (q, k, v *mpc.Share) {
	defer p.scope("qkv")()
	d, kv, hd := s.cfg.Dim, s.cfg.KVDim(), s.cfg.HeadDim()
	y := p.linear(h, ly.QKV, ly.QKVBias)
	q = p.reshape(p.slice(y, 1, 0, d), rows, s.cfg.Heads, hd)
	k = p.reshape(p.slice(y, 1, d, d+kv), rows, s.cfg.KVHeads, hd)
	v = p.reshape(p.slice(y, 1, d+kv, d+2*kv), rows, s.cfg.KVHeads, hd)
	return q, k, v
}

// rope rotates each head of each row of x ([rows][heads][HeadDim]) by its public position
// pos0+t: the interleaved pair (2i, 2i+1) turns by pos·theta^(−2i/HeadDim). Local products
// with public cosines and sines, then one truncation.
func (s *Session) rope(p *prog, x *mpc.Share, pos0 int) *mpc.Share {
	defer p.scope("rope")()
	if p.err != nil {
		return nil
	}
	rows, hd := x.Shape[0], x.Shape[2]
	frac := s.e.Frac()
	cos, sin := mpc.NewTensor(rows, 1, hd), mpc.NewTensor(rows, 1, hd)
	swap := make([]int, hd)
	for t := 0; t < rows; t++ {
		pos := float64(pos0 + t)
		for i := 0; i < hd; i += 2 {
			ang := pos * math.Pow(s.cfg.RopeTheta, -float64(i)/float64(hd))
			c, sn := mpc.Encode(math.Cos(ang), frac), mpc.Encode(math.Sin(ang), frac)
			cos.Data[t*hd+i], cos.Data[t*hd+i+1] = c, c
			sin.Data[t*hd+i], sin.Data[t*hd+i+1] = -sn, sn
			swap[i], swap[i+1] = i+1, i
		}
	}
	// y_{2i} = x_{2i}·cos − x_{2i+1}·sin, y_{2i+1} = x_{2i+1}·cos + x_{2i}·sin.
	a := p.do("rope", func() (*mpc.Share, error) { return s.e.MulPublic(x, cos) })
	b := p.do("rope", func() (*mpc.Share, error) {
		xs, err := mpc.Take(x, 2, swap)
		if err != nil {
			return nil, err
		}
		return s.e.MulPublic(xs, sin)
	})
	return p.do("rope", func() (*mpc.Share, error) {
		y, err := s.e.Add(a, b)
		if err != nil {
			return nil, err
		}
		return s.e.Trunc(y, frac)
	})
}

// attention returns the rows×Dim concatenated head outputs for queries q at positions
// pos0..: causal over the prompt in prefill (the policy sees the probabilities and keeps its
// cache), over the rows the policy attends to in decode (the policy scores and mixes them).
func (s *Session) attention(p *prog, l int, q, k, v *mpc.Share, rows int, decode bool) *mpc.Share {
	c := s.cfg
	g, hd := c.GroupSize(), c.HeadDim()
	// [rows][Heads][hd] → [KVHeads][Group·rows][hd], rows ordered (query head, position).
	qh := p.reshape(p.permute(p.reshape(q, rows, c.KVHeads, g, hd), 1, 2, 0, 3), c.KVHeads, g*rows, hd)
	kh := p.permute(k, 1, 0, 2) // [KVHeads][rows][hd]
	vh := p.permute(v, 1, 0, 2)
	policy := func(op string, f func() (*mpc.Share, error)) *mpc.Share {
		return p.do(op, func() (*mpc.Share, error) {
			z, err := f()
			if err != nil {
				return nil, fmt.Errorf("policy %s, layer %d: %w", s.policy.Name(), l, err)
			}
			return z, nil
		})
	}
	endScores := p.scope("scores")
	var scores *mpc.Share
	if decode {
		scores = policy("scores", func() (*mpc.Share, error) { return s.policy.Scores(s.e, l, qh, kh, vh) })
	} else {
		scores = p.matmul(qh, p.transpose(kh))
	}
	endScores()
	probs := s.softmax(p, scores, rows, decode)
	endMix := p.scope("mix")
	var mixed *mpc.Share // [KVHeads][Group·rows][hd]
	if decode {
		mixed = policy("mix", func() (*mpc.Share, error) { return s.policy.Mix(s.e, l, probs) })
	} else {
		mixed = p.matmul(probs, vh)
	}
	endMix()
	if !decode {
		endCache := p.scope("cache")
		policy("prefill", func() (*mpc.Share, error) { return nil, s.policy.Prefill(s.e, l, kh, vh, probs) })
		endCache()
	}
	out := p.permute(p.reshape(mixed, c.KVHeads, g, rows, hd), 2, 0, 1, 3)
	return p.reshape(out, rows, c.Dim)
}

// softmax normalises attention scores ([KVHeads][Group·rows][S]); in prefill a public causal
// mask lets query position t see keys 0..t.
func (s *Session) softmax(p *prog, scores *mpc.Share, rows int, decode bool) *mpc.Share {
	defer p.scope("softmax")()
	var opt protocols.SoftmaxOptions
	if !decode && p.err == nil {
		n := scores.Shape[2]
		mask := mpc.NewTensor(scores.Shape[1], n)
		for r := 0; r < scores.Shape[1]; r++ {
			t := r % rows
			for j := 0; j <= t; j++ {
				mask.Data[r*n+j] = 1
			}
		}
		opt.Mask = mask
	}
	return p.do("softmax", func() (*mpc.Share, error) { return protocols.Softmax(s.e, scores, opt) })
}

// outProj is the attention output projection.
func (s *Session) outProj(p *prog, ly *LayerShares, att *mpc.Share) *mpc.Share {
	defer p.scope("out")()
	return p.linear(att, ly.Out, ly.OutBias)
}

// mlp is the feed-forward block: Down·(silu(Gate·h) ⊙ Up·h) (LLaMA, SwiGLU) or
// Down·gelu(Up·h + b) + b (GPT-2).
func (s *Session) mlp(p *prog, ly *LayerShares, h *mpc.Share, rows int) *mpc.Share {
	hid := s.cfg.Hidden
	// In 3pc with FSS, GPT-2's up projection goes straight to the two-party view, where GeLU
	// runs (upInView), instead of being truncated and reshared on replicated shares.
	inView := s.cfg.Family == model.GPT2 && protocols.View(s.e) != s.e
	end := p.scope("up")
	var u *mpc.Share
	if inView {
		u = p.do("up", func() (*mpc.Share, error) { return s.upInView(h, ly) })
	} else {
		u = p.linear(h, ly.Up, ly.UpBias)
	}
	end()
	if s.cfg.Family == model.GPT2 {
		end = p.scope("gelu")
		gelu := protocols.GeLU
		if inView {
			gelu = protocols.GeLUInView
		}
		u = p.call("gelu", gelu, u)
	} else {
		end = p.scope("silu")
		gate := p.call("silu", protocols.SiLU, p.slice(u, 1, 0, hid))
		u = p.mul(gate, p.slice(u, 1, hid, 2*hid))
	}
	end()
	defer p.scope("down")()
	return p.linear(u, ly.Down, ly.DownBias)
}

// upInView returns h·Up + UpBias as a share of protocols.View: the product delivered there
// (mpc.Engine.MatMulPair: 8 bytes per output from P2), truncated there (2pc's truncation: 8
// bytes per output from P0 and from P1) and the bias added (moved in locally). The replicated
// truncated product costs 16 bytes per output at each of the three parties.
func (s *Session) upInView(h *mpc.Share, ly *LayerShares) (*mpc.Share, error) {
	pe := protocols.View(s.e)
	z, err := s.e.MatMulPair(h, ly.Up)
	if err != nil {
		return nil, err
	}
	if z, err = pe.Trunc(z, s.e.Frac()); err != nil {
		return nil, err
	}
	if ly.UpBias == nil {
		return z, nil
	}
	b, err := s.e.ToPair(ly.UpBias)
	if err != nil {
		return nil, err
	}
	return pe.Add(z, b)
}

// finalNorm normalises the last position's hidden state.
func (s *Session) finalNorm(p *prog, x *mpc.Share) *mpc.Share {
	defer p.scope("lm_head")()
	return s.norm(p, x, s.w.FinalNorm, s.w.FinalNormBias)
}

// classify returns the [1][Vocab] logits x·Classifier, truncated to Frac bits; or, with raw,
// untruncated and as a share of protocols.View (3pc with FSS: delivered to the
// two-party view, where the argmax runs).
func (s *Session) classify(p *prog, x *mpc.Share, raw bool) *mpc.Share {
	defer p.scope("lm_head/classify")()
	if !raw {
		return p.matmul(x, s.cls)
	}
	if protocols.View(s.e) != s.e {
		return p.do("matmul", func() (*mpc.Share, error) { return s.e.MatMulPair(x, s.cls) })
	}
	return p.do("matmul", func() (*mpc.Share, error) { return s.e.MatMul(x, s.cls) })
}
