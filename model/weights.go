package model

import "fmt"

// Layer holds the weights of one transformer block as float64. Every matrix is row-major
// [out][in], so a projection computes y[o] = Σ_i W[o·in+i]·x[i] (+ b[o]). Fields that a
// family does not use are nil.
type Layer struct {
	AttnNorm     []float64 // [Dim] RMSNorm or LayerNorm gain before attention
	AttnNormBias []float64 // [Dim] LayerNorm bias (GPT2)

	// Wq is [Dim][Dim] and Wk, Wv are [KVDim][Dim]. For LLaMA the rows of each head of Wq
	// and Wk are in the interleaved rotary layout (pairs (2i, 2i+1)); see the package doc.
	Wq, Wk, Wv []float64
	Bq, Bk, Bv []float64 // [Dim], [KVDim], [KVDim] biases (GPT2)
	Wo         []float64 // [Dim][Dim] attention output projection
	Bo         []float64 // [Dim] (GPT2)

	MLPNorm     []float64 // [Dim] gain before the feed-forward block
	MLPNormBias []float64 // [Dim] (GPT2)

	// W1 is [Hidden][Dim]: the SwiGLU gate (LLaMA) or the up projection c_fc (GPT2).
	W1 []float64
	B1 []float64 // [Hidden] (GPT2)
	// W2 is [Dim][Hidden], the down projection.
	W2 []float64
	B2 []float64 // [Dim] (GPT2)
	// W3 is [Hidden][Dim], the SwiGLU up projection (LLaMA).
	W3 []float64
}

// Weights holds all parameters of a model as float64.
type Weights struct {
	Embed         []float64 // [Vocab][Dim] token embedding
	Pos           []float64 // [MaxSeq][Dim] learned positions (GPT2)
	Layers        []Layer
	FinalNorm     []float64 // [Dim]
	FinalNormBias []float64 // [Dim] (GPT2)
	// Classifier is [Vocab][Dim]; with a tied classifier it is the same slice as Embed.
	Classifier []float64
}

// Model is a config with its weights.
type Model struct {
	Config  Config
	Weights *Weights
}

// tensorSpec names one tensor of a layer or of the model, its shape and where it lives.
type tensorSpec struct {
	name  string
	shape []int
	ptr   *[]float64
}

// layerSpecs lists the tensors of layer l that cfg's family uses, in llama2.c order for LLaMA.
func layerSpecs(cfg Config, ly *Layer) []tensorSpec {
	d, kv, h := cfg.Dim, cfg.KVDim(), cfg.Hidden
	if cfg.Family == LLaMA {
		return []tensorSpec{
			{"attn_norm", []int{d}, &ly.AttnNorm},
			{"wq", []int{d, d}, &ly.Wq},
			{"wk", []int{kv, d}, &ly.Wk},
			{"wv", []int{kv, d}, &ly.Wv},
			{"wo", []int{d, d}, &ly.Wo},
			{"mlp_norm", []int{d}, &ly.MLPNorm},
			{"w1", []int{h, d}, &ly.W1},
			{"w2", []int{d, h}, &ly.W2},
			{"w3", []int{h, d}, &ly.W3},
		}
	}
	return []tensorSpec{
		{"attn_norm", []int{d}, &ly.AttnNorm},
		{"attn_norm_bias", []int{d}, &ly.AttnNormBias},
		{"wq", []int{d, d}, &ly.Wq},
		{"wk", []int{d, d}, &ly.Wk},
		{"wv", []int{d, d}, &ly.Wv},
		{"bq", []int{d}, &ly.Bq},
		{"bk", []int{d}, &ly.Bk},
		{"bv", []int{d}, &ly.Bv},
		{"wo", []int{d, d}, &ly.Wo},
		{"bo", []int{d}, &ly.Bo},
		{"mlp_norm", []int{d}, &ly.MLPNorm},
		{"mlp_norm_bias", []int{d}, &ly.MLPNormBias},
		{"w1", []int{h, d}, &ly.W1},
		{"b1", []int{h}, &ly.B1},
		{"w2", []int{d, h}, &ly.W2},
		{"b2", []int{d}, &ly.B2},
	}
}

// globalSpecs lists the tensors outside the layers. A tied classifier is not listed.
func globalSpecs(cfg Config, w *Weights) []tensorSpec {
	d := cfg.Dim
	s := []tensorSpec{{"embed", []int{cfg.Vocab, d}, &w.Embed}}
	if cfg.Family == GPT2 {
		s = append(s, tensorSpec{"pos", []int{cfg.MaxSeq, d}, &w.Pos})
	}
	s = append(s, tensorSpec{"final_norm", []int{d}, &w.FinalNorm})
	if cfg.Family == GPT2 {
		s = append(s, tensorSpec{"final_norm_bias", []int{d}, &w.FinalNormBias})
	}
	if !cfg.TiedClassifier {
		s = append(s, tensorSpec{"classifier", []int{cfg.Vocab, d}, &w.Classifier})
	}
	return s
}

func numel(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}

// Check reports whether w has every tensor cfg needs, each of the right length.
func (w *Weights) Check(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if len(w.Layers) != cfg.Layers {
		return fmt.Errorf("model: weights have %d layers, config %d", len(w.Layers), cfg.Layers)
	}
	check := func(where string, specs []tensorSpec) error {
		for _, s := range specs {
			if len(*s.ptr) != numel(s.shape) {
				return fmt.Errorf("model: %s%s has %d values, want %v", where, s.name, len(*s.ptr), s.shape)
			}
		}
		return nil
	}
	if err := check("", globalSpecs(cfg, w)); err != nil {
		return err
	}
	if cfg.TiedClassifier && len(w.Classifier) != len(w.Embed) {
		return fmt.Errorf("model: tied classifier has %d values, embedding %d", len(w.Classifier), len(w.Embed))
	}
	for l := range w.Layers {
		if err := check(fmt.Sprintf("layer %d ", l), layerSpecs(cfg, &w.Layers[l])); err != nil {
			return err
		}
	}
	return nil
}

// mapTensors returns a copy of w whose every tensor is f applied to the original's values;
// a tied classifier stays tied.
func (w *Weights) mapTensors(cfg Config, f func(float64) float64) *Weights {
	conv := func(src []float64) []float64 {
		if src == nil {
			return nil
		}
		dst := make([]float64, len(src))
		for i, v := range src {
			dst[i] = f(v)
		}
		return dst
	}
	out := &Weights{Layers: make([]Layer, len(w.Layers))}
	dst := globalSpecs(cfg, out)
	for i, s := range globalSpecs(cfg, w) {
		*dst[i].ptr = conv(*s.ptr)
	}
	if cfg.TiedClassifier {
		out.Classifier = out.Embed
	}
	for l := range w.Layers {
		dst := layerSpecs(cfg, &out.Layers[l])
		for i, s := range layerSpecs(cfg, &w.Layers[l]) {
			*dst[i].ptr = conv(*s.ptr)
		}
	}
	return out
}
