package model

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// hfConfig holds the config.json fields this package reads, for model_type gpt2 and llama.
type hfConfig struct {
	ModelType         string `json:"model_type"`
	VocabSize         int    `json:"vocab_size"`
	TieWordEmbeddings *bool  `json:"tie_word_embeddings"`

	NEmbd                      int      `json:"n_embd"`
	NLayer                     int      `json:"n_layer"`
	NHead                      int      `json:"n_head"`
	NInner                     *int     `json:"n_inner"`
	NPositions                 int      `json:"n_positions"`
	LayerNormEpsilon           *float64 `json:"layer_norm_epsilon"`
	ActivationFunction         string   `json:"activation_function"`
	ScaleAttnByInverseLayerIdx bool     `json:"scale_attn_by_inverse_layer_idx"`

	HiddenSize            int             `json:"hidden_size"`
	IntermediateSize      int             `json:"intermediate_size"`
	NumHiddenLayers       int             `json:"num_hidden_layers"`
	NumAttentionHeads     int             `json:"num_attention_heads"`
	NumKeyValueHeads      int             `json:"num_key_value_heads"`
	HeadDim               int             `json:"head_dim"`
	MaxPositionEmbeddings int             `json:"max_position_embeddings"`
	RMSNormEps            *float64        `json:"rms_norm_eps"`
	RopeTheta             *float64        `json:"rope_theta"`
	RopeScaling           json.RawMessage `json:"rope_scaling"`
	HiddenAct             string          `json:"hidden_act"`
	AttentionBias         bool            `json:"attention_bias"`
	MLPBias               bool            `json:"mlp_bias"`
}

// readHFConfig reads dir/config.json into a Config.
func readHFConfig(dir string) (Config, error) {
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("model: %w", err)
	}
	var h hfConfig
	if err := json.Unmarshal(b, &h); err != nil {
		return Config{}, fmt.Errorf("model: %s: %w", path, err)
	}
	cfg, err := h.config()
	if err != nil {
		return Config{}, fmt.Errorf("model: %s: %w", path, err)
	}
	return cfg, nil
}

func (h *hfConfig) config() (Config, error) {
	or := func(p *float64, def float64) float64 {
		if p != nil {
			return *p
		}
		return def
	}
	var cfg Config
	switch h.ModelType {
	case "gpt2":
		if h.ActivationFunction != "" && h.ActivationFunction != "gelu_new" && h.ActivationFunction != "gelu_pytorch_tanh" {
			return cfg, fmt.Errorf("unsupported activation_function %q (want gelu_new)", h.ActivationFunction)
		}
		if h.ScaleAttnByInverseLayerIdx {
			return cfg, fmt.Errorf("scale_attn_by_inverse_layer_idx is not supported")
		}
		if h.TieWordEmbeddings != nil && !*h.TieWordEmbeddings {
			return cfg, fmt.Errorf("gpt2 with an untied lm_head is not supported")
		}
		cfg = Config{Family: GPT2, Dim: h.NEmbd, Hidden: 4 * h.NEmbd, Layers: h.NLayer, Heads: h.NHead,
			KVHeads: h.NHead, Vocab: h.VocabSize, MaxSeq: h.NPositions,
			NormEps: or(h.LayerNormEpsilon, 1e-5), TiedClassifier: true}
		if h.NInner != nil {
			cfg.Hidden = *h.NInner
		}
	case "llama":
		switch {
		case h.HiddenAct != "" && h.HiddenAct != "silu":
			return cfg, fmt.Errorf("unsupported hidden_act %q (want silu)", h.HiddenAct)
		case len(h.RopeScaling) > 0 && string(h.RopeScaling) != "null":
			return cfg, fmt.Errorf("rope_scaling %s is not supported", h.RopeScaling)
		case h.AttentionBias || h.MLPBias:
			return cfg, fmt.Errorf("attention_bias and mlp_bias are not supported")
		case h.HeadDim != 0 && h.NumAttentionHeads != 0 && h.HeadDim*h.NumAttentionHeads != h.HiddenSize:
			return cfg, fmt.Errorf("head_dim %d × heads %d ≠ hidden_size %d is not supported",
				h.HeadDim, h.NumAttentionHeads, h.HiddenSize)
		}
		cfg = Config{Family: LLaMA, Dim: h.HiddenSize, Hidden: h.IntermediateSize, Layers: h.NumHiddenLayers,
			Heads: h.NumAttentionHeads, KVHeads: h.NumKeyValueHeads, Vocab: h.VocabSize,
			MaxSeq: h.MaxPositionEmbeddings, NormEps: or(h.RMSNormEps, 1e-6), RopeTheta: or(h.RopeTheta, 10000),
			TiedClassifier: h.TieWordEmbeddings != nil && *h.TieWordEmbeddings}
		if cfg.KVHeads == 0 {
			cfg.KVHeads = cfg.Heads
		}
	default:
		return cfg, fmt.Errorf("unsupported model_type %q (want gpt2 or llama)", h.ModelType)
	}
	return cfg, cfg.Validate()
}

// LoadHF loads a Hugging Face model directory: config.json and model.safetensors (or the
// shards named by model.safetensors.index.json), for model_type gpt2 and llama, with
// F32, F16, BF16 (or F64) tensors converted to float64. GPT-2's Conv1D weights ([in][out])
// are transposed and its fused c_attn split into q, k, v; LLaMA's q_proj and k_proj rows
// are permuted from the rotate-half rotary layout to the interleaved one (package doc).
func LoadHF(dir string) (*Model, error) {
	cfg, err := readHFConfig(dir)
	if err != nil {
		return nil, err
	}
	ts, err := openTensorSource(dir)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	defer ts.Close()
	var w *Weights
	if cfg.Family == GPT2 {
		w, err = loadGPT2Tensors(cfg, ts)
	} else {
		w, err = loadLlamaTensors(cfg, ts)
	}
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	return &Model{Config: cfg, Weights: w}, nil
}

// tensorList reads tensors into their destinations, keeping the first error.
type tensorList struct {
	ts  *tensorSource
	err error
}

func (tl *tensorList) get(dst *[]float64, name string, shape ...int) {
	if tl.err == nil {
		*dst, tl.err = tl.ts.read(name, shape...)
	}
}

func loadGPT2Tensors(cfg Config, ts *tensorSource) (*Weights, error) {
	p := ""
	if !ts.has("wte.weight") && ts.has("transformer.wte.weight") {
		p = "transformer."
	}
	d, hid := cfg.Dim, cfg.Hidden
	tl := &tensorList{ts: ts}
	w := &Weights{Layers: make([]Layer, cfg.Layers)}
	tl.get(&w.Embed, p+"wte.weight", cfg.Vocab, d)
	tl.get(&w.Pos, p+"wpe.weight", cfg.MaxSeq, d)
	for l := range w.Layers {
		ly := &w.Layers[l]
		n := fmt.Sprintf("%sh.%d.", p, l)
		var qkv, qkvBias, o, fc, proj []float64
		tl.get(&ly.AttnNorm, n+"ln_1.weight", d)
		tl.get(&ly.AttnNormBias, n+"ln_1.bias", d)
		tl.get(&qkv, n+"attn.c_attn.weight", d, 3*d)
		tl.get(&qkvBias, n+"attn.c_attn.bias", 3*d)
		tl.get(&o, n+"attn.c_proj.weight", d, d)
		tl.get(&ly.Bo, n+"attn.c_proj.bias", d)
		tl.get(&ly.MLPNorm, n+"ln_2.weight", d)
		tl.get(&ly.MLPNormBias, n+"ln_2.bias", d)
		tl.get(&fc, n+"mlp.c_fc.weight", d, hid)
		tl.get(&ly.B1, n+"mlp.c_fc.bias", hid)
		tl.get(&proj, n+"mlp.c_proj.weight", hid, d)
		tl.get(&ly.B2, n+"mlp.c_proj.bias", d)
		if tl.err != nil {
			return nil, tl.err
		}
		qkvT := transpose(qkv, d, 3*d)
		ly.Wq, ly.Wk, ly.Wv = qkvT[:d*d], qkvT[d*d:2*d*d], qkvT[2*d*d:]
		ly.Bq, ly.Bk, ly.Bv = qkvBias[:d], qkvBias[d:2*d], qkvBias[2*d:]
		ly.Wo = transpose(o, d, d)
		ly.W1 = transpose(fc, d, hid)
		ly.W2 = transpose(proj, hid, d)
	}
	tl.get(&w.FinalNorm, p+"ln_f.weight", d)
	tl.get(&w.FinalNormBias, p+"ln_f.bias", d)
	w.Classifier = w.Embed
	return w, tl.err
}

func loadLlamaTensors(cfg Config, ts *tensorSource) (*Weights, error) {
	d, kv, hid, hd := cfg.Dim, cfg.KVDim(), cfg.Hidden, cfg.HeadDim()
	tl := &tensorList{ts: ts}
	w := &Weights{Layers: make([]Layer, cfg.Layers)}
	tl.get(&w.Embed, "model.embed_tokens.weight", cfg.Vocab, d)
	for l := range w.Layers {
		ly := &w.Layers[l]
		n := fmt.Sprintf("model.layers.%d.", l)
		tl.get(&ly.AttnNorm, n+"input_layernorm.weight", d)
		tl.get(&ly.Wq, n+"self_attn.q_proj.weight", d, d)
		tl.get(&ly.Wk, n+"self_attn.k_proj.weight", kv, d)
		tl.get(&ly.Wv, n+"self_attn.v_proj.weight", kv, d)
		tl.get(&ly.Wo, n+"self_attn.o_proj.weight", d, d)
		tl.get(&ly.MLPNorm, n+"post_attention_layernorm.weight", d)
		tl.get(&ly.W1, n+"mlp.gate_proj.weight", hid, d)
		tl.get(&ly.W2, n+"mlp.down_proj.weight", d, hid)
		tl.get(&ly.W3, n+"mlp.up_proj.weight", hid, d)
		if tl.err != nil {
			return nil, tl.err
		}
		ly.Wq = interleaveRotary(ly.Wq, cfg.Heads, hd, d)
		ly.Wk = interleaveRotary(ly.Wk, cfg.KVHeads, hd, d)
	}
	tl.get(&w.FinalNorm, "model.norm.weight", d)
	w.Classifier = w.Embed
	if !cfg.TiedClassifier {
		tl.get(&w.Classifier, "lm_head.weight", cfg.Vocab, d)
	}
	return w, tl.err
}

// transpose returns the cols×rows transpose of a rows×cols matrix.
func transpose(m []float64, rows, cols int) []float64 {
	t := make([]float64, len(m))
	for r := range rows {
		for c := range cols {
			t[c*rows+r] = m[r*cols+c]
		}
	}
	return t
}

// interleaveRotary reorders the rows of a projection (heads·hd rows of width in) from the
// rotate-half layout, where head row i pairs with i+hd/2, to the interleaved layout, where
// row 2i pairs with 2i+1: new row 2i is old row i and new row 2i+1 is old row i+hd/2.
// It inverts the permutation of Hugging Face's convert_llama_weights_to_hf.py.
func interleaveRotary(m []float64, heads, hd, in int) []float64 {
	out := make([]float64, len(m))
	for h := range heads {
		for i := range hd / 2 {
			base := h * hd
			copy(out[(base+2*i)*in:(base+2*i+1)*in], m[(base+i)*in:(base+i+1)*in])
			copy(out[(base+2*i+1)*in:(base+2*i+2)*in], m[(base+hd/2+i)*in:(base+hd/2+i+1)*in])
		}
	}
	return out
}
