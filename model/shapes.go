package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// shapes are the synthetic model shapes for benchmarks, by name.
var shapes = map[string]Config{
	"gpt2-124m": {Family: GPT2, Dim: 768, Hidden: 3072, Layers: 12, Heads: 12, KVHeads: 12, Vocab: 50257,
		MaxSeq: 1024, NormEps: 1e-5, TiedClassifier: true},
	"gpt2-medium": {Family: GPT2, Dim: 1024, Hidden: 4096, Layers: 24, Heads: 16, KVHeads: 16, Vocab: 50257,
		MaxSeq: 1024, NormEps: 1e-5, TiedClassifier: true},
	"gpt2-test": {Family: GPT2, Dim: 64, Hidden: 256, Layers: 2, Heads: 4, KVHeads: 4, Vocab: 512,
		MaxSeq: 256, NormEps: 1e-5, TiedClassifier: true},
	"llama-7b": {Family: LLaMA, Dim: 4096, Hidden: 11008, Layers: 32, Heads: 32, KVHeads: 32, Vocab: 32000,
		MaxSeq: 4096, NormEps: 1e-5, RopeTheta: 10000},
	"llama-test": {Family: LLaMA, Dim: 64, Hidden: 176, Layers: 4, Heads: 8, KVHeads: 4, Vocab: 512,
		MaxSeq: 512, NormEps: 1e-5, RopeTheta: 10000},
}

// Shapes returns the names of the synthetic shapes: gpt2-124m, gpt2-medium, gpt2-test,
// llama-7b and llama-test.
func Shapes() []string {
	var names []string
	for n := range shapes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Shape returns the config of a synthetic shape without creating any weights. Callers may
// change MaxSeq (longer contexts for benchmarks) or Layers (run a subset of a deep model,
// scaling per-layer figures by the full depth) before generating weights.
func Shape(name string) (Config, error) {
	c, ok := shapes[name]
	if !ok {
		return Config{}, fmt.Errorf("model: unknown shape %q (have %v)", name, Shapes())
	}
	return c, nil
}

// RandomLayer returns seeded random weights for layer l of cfg. It depends only on
// (cfg's sizes, seed, l), so any subset of layers can be generated alone, one at a time.
// Matrices are N(0, 1/in) (unit-variance outputs for unit-variance inputs), norm gains
// 1 + N(0, 0.1²) and biases N(0, 0.02²).
func RandomLayer(cfg Config, seed uint64, l int) Layer {
	var ly Layer
	for i, s := range layerSpecs(cfg, &ly) {
		*s.ptr = randomTensor(s, seed, uint64(l+1)<<8|uint64(i))
	}
	return ly
}

// RandomWeights returns seeded random weights for every layer of cfg (as RandomLayer) and
// for the embedding and classifier (N(0, 1/Dim)), positions (N(0, 0.25/Dim)) and final
// norm. The
// memory is about 8·NumParams bytes.
func RandomWeights(cfg Config, seed uint64) (*Weights, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &Weights{Layers: make([]Layer, cfg.Layers)}
	for i, s := range globalSpecs(cfg, w) {
		*s.ptr = randomTensor(s, seed, uint64(i))
	}
	if cfg.TiedClassifier {
		w.Classifier = w.Embed
	}
	for l := range w.Layers {
		w.Layers[l] = RandomLayer(cfg, seed, l)
	}
	return w, nil
}

// RandomModel returns the model of a synthetic shape name with RandomWeights.
func RandomModel(name string, seed uint64) (*Model, error) {
	cfg, err := Shape(name)
	if err != nil {
		return nil, err
	}
	w, err := RandomWeights(cfg, seed)
	if err != nil {
		return nil, err
	}
	return &Model{Config: cfg, Weights: w}, nil
}

// randomTensor draws one tensor from its own stream (seed, stream).
func randomTensor(s tensorSpec, seed, stream uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, stream))
	mean, std := 0.0, 0.02
	switch {
	case s.name == "pos":
		std = 0.5 / math.Sqrt(float64(s.shape[1]))
	case len(s.shape) == 2:
		std = 1 / math.Sqrt(float64(s.shape[1]))
	case s.name == "attn_norm" || s.name == "mlp_norm" || s.name == "final_norm":
		mean, std = 1, 0.1
	}
	out := make([]float64, numel(s.shape))
	for i := range out {
		out[i] = mean + std*rng.NormFloat64()
	}
	return out
}
