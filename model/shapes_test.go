package model

import (
	"slices"
	"testing"
)

func TestShapes(t *testing.T) {
	cases := []struct {
		name   string
		params int64
		layers int
	}{
		{"gpt2-124m", 124439808, 12},
		{"gpt2-medium", 354823168, 24},
		{"llama-7b", 6738415616, 32},
		{"llama-test", 0, 4},
		{"gpt2-test", 0, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Shape(c.name)
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			if cfg.Layers != c.layers || c.params != 0 && cfg.NumParams() != c.params {
				t.Errorf("layers %d params %d, want %d and %d", cfg.Layers, cfg.NumParams(), c.layers, c.params)
			}
		})
	}
	if _, err := Shape("gpt5"); err == nil {
		t.Error("unknown shape accepted")
	}
	if !slices.Equal(Shapes(), []string{"gpt2-124m", "gpt2-medium", "gpt2-test", "llama-7b", "llama-test"}) {
		t.Errorf("Shapes() = %v", Shapes())
	}
}

// TestRandomLayerSubset checks that a layer's weights do not depend on how many layers
// are generated, so a subset of a deep model is the same as its first layers.
func TestRandomLayerSubset(t *testing.T) {
	cfg, _ := Shape("llama-test")
	full, err := RandomWeights(cfg, 11)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Layers = 2
	sub, err := RandomWeights(cfg, 11)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sub.Layers[1].W2, full.Layers[1].W2) || !slices.Equal(sub.Embed, full.Embed) {
		t.Error("subset weights differ from the full model's")
	}
	if l := RandomLayer(cfg, 11, 3); !slices.Equal(l.Wq, full.Layers[3].Wq) {
		t.Error("RandomLayer differs from RandomWeights")
	}
	if l := RandomLayer(cfg, 12, 3); slices.Equal(l.Wq, full.Layers[3].Wq) {
		t.Error("different seeds gave equal weights")
	}
}

func TestConfigValidate(t *testing.T) {
	good, _ := Shape("llama-test")
	cases := []struct {
		name string
		edit func(c *Config)
	}{
		{"family", func(c *Config) { c.Family = 0 }},
		{"zero dim", func(c *Config) { c.Dim = 0 }},
		{"heads", func(c *Config) { c.Heads = 7 }},
		{"kv heads", func(c *Config) { c.KVHeads = 3 }},
		{"theta", func(c *Config) { c.RopeTheta = 1 }},
		{"eps", func(c *Config) { c.NormEps = -1 }},
		{"huge", func(c *Config) { c.Dim, c.Heads, c.KVHeads = 1<<30, 1, 1 }},
		{"gpt2 gqa", func(c *Config) { c.Family, c.TiedClassifier = GPT2, true }},
		{"gpt2 untied", func(c *Config) { c.Family, c.KVHeads = GPT2, c.Heads }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			c.edit(&cfg)
			if cfg.Validate() == nil {
				t.Errorf("%+v accepted", cfg)
			}
		})
	}
}
