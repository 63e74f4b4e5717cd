package model

import (
	"fmt"
	"math"
)

// Family names a transformer block design.
type Family int

const (
	// LLaMA blocks: RMSNorm, rotary positions, grouped-query attention, SwiGLU feed-forward,
	// no biases, classifier optionally tied to the token embedding.
	LLaMA Family = iota + 1
	// GPT2 blocks: LayerNorm with bias, learned absolute positions, GeLU (tanh form)
	// feed-forward, biases on every projection, classifier tied to the token embedding.
	GPT2
)

// String returns "llama" or "gpt2".
func (f Family) String() string {
	switch f {
	case LLaMA:
		return "llama"
	case GPT2:
		return "gpt2"
	}
	return fmt.Sprintf("Family(%d)", int(f))
}

// Config is the architecture of a decoder-only transformer. All sizes are element counts.
type Config struct {
	Family  Family
	Dim     int // model width d, ≥ 1
	Hidden  int // feed-forward width, ≥ 1
	Layers  int // number of blocks, ≥ 1
	Heads   int // query heads; divides Dim
	KVHeads int // key/value heads; divides Heads (LLaMA; equals Heads for GPT2)
	Vocab   int // vocabulary size, ≥ 1
	MaxSeq  int // longest sequence (prompt plus generated tokens), ≥ 1

	// NormEps is the epsilon added to the variance (LayerNorm) or the mean square (RMSNorm).
	NormEps float64
	// RopeTheta is the rotary base (LLaMA only), > 1; typically 10000.
	RopeTheta float64
	// TiedClassifier reports whether the classifier reuses the token embedding matrix.
	TiedClassifier bool
}

// HeadDim is the width of one attention head, Dim/Heads.
func (c Config) HeadDim() int { return c.Dim / c.Heads }

// KVDim is the width of the keys (and values) of all KV heads together, KVHeads·HeadDim.
func (c Config) KVDim() int { return c.KVHeads * c.HeadDim() }

// GroupSize is the number of query heads that read one KV head, Heads/KVHeads.
func (c Config) GroupSize() int { return c.Heads / c.KVHeads }

// Bounds on config sizes, far above any real model, so that element and byte counts never
// overflow and a corrupt header cannot ask for absurd allocations.
const (
	maxWidth    = 1 << 20 // Dim and Hidden
	maxLayers   = 1 << 12
	maxRows     = 1 << 24 // Vocab and MaxSeq
	maxElements = 1 << 40 // parameters in all
)

// Validate reports the first inconsistency in c, or nil.
func (c Config) Validate() error {
	switch {
	case c.Family != LLaMA && c.Family != GPT2:
		return fmt.Errorf("model: unsupported family %v", c.Family)
	case c.Dim < 1, c.Hidden < 1, c.Layers < 1, c.Heads < 1, c.KVHeads < 1, c.Vocab < 1, c.MaxSeq < 1:
		return fmt.Errorf("model: config sizes must be positive: %+v", c)
	case c.Dim > maxWidth, c.Hidden > maxWidth, c.Layers > maxLayers, c.Vocab > maxRows, c.MaxSeq > maxRows:
		return fmt.Errorf("model: config sizes beyond the supported range (width ≤ %d, layers ≤ %d, vocab and context ≤ %d): %+v",
			maxWidth, maxLayers, maxRows, c)
	case c.Dim%c.Heads != 0:
		return fmt.Errorf("model: dim %d is not a multiple of heads %d", c.Dim, c.Heads)
	case c.Heads%c.KVHeads != 0:
		return fmt.Errorf("model: heads %d is not a multiple of kv heads %d", c.Heads, c.KVHeads)
	case c.Family == GPT2 && c.KVHeads != c.Heads:
		return fmt.Errorf("model: gpt2 needs kv heads %d = heads %d", c.KVHeads, c.Heads)
	case c.Family == GPT2 && !c.TiedClassifier:
		return fmt.Errorf("model: gpt2 needs a tied classifier")
	case c.Family == LLaMA && c.HeadDim()%2 != 0:
		return fmt.Errorf("model: rotary embeddings need an even head dim, have %d", c.HeadDim())
	case c.Family == LLaMA && (!(c.RopeTheta > 1) || math.IsInf(c.RopeTheta, 0)):
		return fmt.Errorf("model: rope theta %v must be a finite number > 1", c.RopeTheta)
	case !(c.NormEps >= 0) || math.IsInf(c.NormEps, 0):
		return fmt.Errorf("model: norm eps %v must be finite and ≥ 0", c.NormEps)
	}
	if n := c.paramCount(); n > maxElements {
		return fmt.Errorf("model: %d parameters is more than supported", n)
	}
	return nil
}

// NumParams is the number of distinct weights (a tied classifier counted once).
func (c Config) NumParams() int64 { return c.paramCount() }

func (c Config) paramCount() int64 {
	d, h, v := int64(c.Dim), int64(c.Hidden), int64(c.Vocab)
	kv := int64(c.KVHeads) * (d / int64(max(c.Heads, 1)))
	var perLayer, rest int64
	switch c.Family {
	case LLaMA:
		perLayer = 2*d + 2*d*d + 2*kv*d + 3*h*d
		rest = v*d + d
	case GPT2:
		perLayer = 4*d + (3*d*d + 3*d) + (d*d + d) + (h*d + h) + (h*d + d)
		rest = v*d + int64(c.MaxSeq)*d + 2*d
	}
	if !c.TiedClassifier {
		rest += v * d
	}
	return int64(c.Layers)*perLayer + rest
}
