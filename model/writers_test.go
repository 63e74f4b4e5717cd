package model

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// This file writes small checkpoints from Go for the loader tests.

// gridModel returns a random model of a synthetic shape whose weights are multiples of
// 1/256 in (−1, 1), exactly representable in F32, F16 and BF16.
func gridModel(t testing.TB, shape string, seed uint64) *Model {
	t.Helper()
	m, err := RandomModel(shape, seed)
	if err != nil {
		t.Fatal(err)
	}
	m.Weights = m.Weights.mapTensors(m.Config, func(v float64) float64 {
		return max(-255, min(255, math.Round(v*256))) / 256
	})
	return m
}

// writeLlama2C writes a version-0 llama2.c checkpoint of a LLaMA model.
func writeLlama2C(t testing.TB, path string, m *Model) {
	t.Helper()
	c := m.Config
	vocab := int32(c.Vocab)
	if !c.TiedClassifier {
		vocab = -vocab
	}
	var b []byte
	for _, v := range []int32{int32(c.Dim), int32(c.Hidden), int32(c.Layers), int32(c.Heads), int32(c.KVHeads), vocab, int32(c.MaxSeq)} {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	put := func(xs []float64) {
		for _, x := range xs {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(x)))
		}
	}
	w := m.Weights
	put(w.Embed)
	for i := range layerSpecs(c, &Layer{}) {
		for l := range w.Layers {
			put(*layerSpecs(c, &w.Layers[l])[i].ptr)
		}
	}
	put(w.FinalNorm)
	put(make([]float64, c.MaxSeq*c.HeadDim())) // legacy rotary tables
	if !c.TiedClassifier {
		put(w.Classifier)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// stEntry is one tensor to write to a safetensors file.
type stEntry struct {
	name  string
	shape []int
	data  []float64
}

// encodeDtype appends x in a dtype; the test values are exact in each.
func encodeDtype(b []byte, dtype string, x float64) []byte {
	switch dtype {
	case "F64":
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	case "F32":
		return binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(x)))
	case "BF16":
		return binary.LittleEndian.AppendUint16(b, uint16(math.Float32bits(float32(x))>>16))
	case "F16":
		return binary.LittleEndian.AppendUint16(b, f16Bits(x))
	}
	panic("unknown dtype " + dtype)
}

// f16Bits encodes a normal or zero value exactly representable in binary16.
func f16Bits(x float64) uint16 {
	if x == 0 {
		return 0
	}
	var sign uint16
	if x < 0 {
		sign, x = 0x8000, -x
	}
	frac, exp := math.Frexp(x) // x = frac·2^exp, frac in [0.5, 1)
	return sign | uint16(exp+14)<<10 | uint16(math.Round((2*frac-1)*1024))
}

// writeSafetensors writes entries in dtype to path, in name order.
func writeSafetensors(t testing.TB, path, dtype string, entries []stEntry) {
	t.Helper()
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	hdr := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var data []byte
	for _, e := range entries {
		start := len(data)
		for _, x := range e.data {
			data = encodeDtype(data, dtype, x)
		}
		hdr[e.name] = map[string]any{"dtype": dtype, "shape": e.shape, "data_offsets": []int{start, len(data)}}
	}
	h, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	out = append(append(out, h...), data...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeJSON writes v as JSON to path.
func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// rotateHalf is the inverse of interleaveRotary: Hugging Face's layout of q/k rows.
func rotateHalf(m []float64, heads, hd, in int) []float64 {
	out := make([]float64, len(m))
	for h := range heads {
		for i := range hd / 2 {
			base := h * hd
			copy(out[(base+i)*in:(base+i+1)*in], m[(base+2*i)*in:(base+2*i+1)*in])
			copy(out[(base+hd/2+i)*in:(base+hd/2+i+1)*in], m[(base+2*i+1)*in:(base+2*i+2)*in])
		}
	}
	return out
}

// hfEntries returns the Hugging Face tensors of m with their config.json.
func hfEntries(m *Model) ([]stEntry, map[string]any) {
	c, w := m.Config, m.Weights
	d, hid := c.Dim, c.Hidden
	var es []stEntry
	add := func(name string, data []float64, shape ...int) {
		es = append(es, stEntry{name, shape, data})
	}
	if c.Family == LLaMA {
		add("model.embed_tokens.weight", w.Embed, c.Vocab, d)
		for l, ly := range w.Layers {
			n := fmt.Sprintf("model.layers.%d.", l)
			add(n+"input_layernorm.weight", ly.AttnNorm, d)
			add(n+"self_attn.q_proj.weight", rotateHalf(ly.Wq, c.Heads, c.HeadDim(), d), d, d)
			add(n+"self_attn.k_proj.weight", rotateHalf(ly.Wk, c.KVHeads, c.HeadDim(), d), c.KVDim(), d)
			add(n+"self_attn.v_proj.weight", ly.Wv, c.KVDim(), d)
			add(n+"self_attn.o_proj.weight", ly.Wo, d, d)
			add(n+"post_attention_layernorm.weight", ly.MLPNorm, d)
			add(n+"mlp.gate_proj.weight", ly.W1, hid, d)
			add(n+"mlp.down_proj.weight", ly.W2, d, hid)
			add(n+"mlp.up_proj.weight", ly.W3, hid, d)
		}
		add("model.norm.weight", w.FinalNorm, d)
		if !c.TiedClassifier {
			add("lm_head.weight", w.Classifier, c.Vocab, d)
		}
		return es, map[string]any{"model_type": "llama", "architectures": []string{"LlamaForCausalLM"},
			"hidden_size": d, "intermediate_size": hid, "num_hidden_layers": c.Layers,
			"num_attention_heads": c.Heads, "num_key_value_heads": c.KVHeads, "vocab_size": c.Vocab,
			"max_position_embeddings": c.MaxSeq, "rms_norm_eps": c.NormEps, "rope_theta": c.RopeTheta,
			"tie_word_embeddings": c.TiedClassifier, "hidden_act": "silu", "rope_scaling": nil}
	}
	add("wte.weight", w.Embed, c.Vocab, d)
	add("wpe.weight", w.Pos, c.MaxSeq, d)
	for l, ly := range w.Layers {
		n := fmt.Sprintf("h.%d.", l)
		qkv := append(append(append([]float64(nil), ly.Wq...), ly.Wk...), ly.Wv...)
		add(n+"ln_1.weight", ly.AttnNorm, d)
		add(n+"ln_1.bias", ly.AttnNormBias, d)
		add(n+"attn.c_attn.weight", transpose(qkv, 3*d, d), d, 3*d)
		add(n+"attn.c_attn.bias", append(append(append([]float64(nil), ly.Bq...), ly.Bk...), ly.Bv...), 3*d)
		add(n+"attn.c_proj.weight", transpose(ly.Wo, d, d), d, d)
		add(n+"attn.c_proj.bias", ly.Bo, d)
		add(n+"ln_2.weight", ly.MLPNorm, d)
		add(n+"ln_2.bias", ly.MLPNormBias, d)
		add(n+"mlp.c_fc.weight", transpose(ly.W1, hid, d), d, hid)
		add(n+"mlp.c_fc.bias", ly.B1, hid)
		add(n+"mlp.c_proj.weight", transpose(ly.W2, d, hid), hid, d)
		add(n+"mlp.c_proj.bias", ly.B2, d)
		add(n+"attn.bias", make([]float64, c.MaxSeq*c.MaxSeq), 1, 1, c.MaxSeq, c.MaxSeq) // causal mask buffer, ignored
	}
	add("ln_f.weight", w.FinalNorm, d)
	add("ln_f.bias", w.FinalNormBias, d)
	return es, map[string]any{"model_type": "gpt2", "architectures": []string{"GPT2LMHeadModel"},
		"n_embd": d, "n_layer": c.Layers, "n_head": c.Heads, "n_positions": c.MaxSeq, "n_ctx": c.MaxSeq,
		"vocab_size": c.Vocab, "layer_norm_epsilon": c.NormEps, "activation_function": "gelu_new", "n_inner": nil}
}

// writeHF writes m as a Hugging Face directory in dtype, in one file or in shards.
func writeHF(t testing.TB, dir string, m *Model, dtype string, shards int) {
	t.Helper()
	es, cfg := hfEntries(m)
	writeJSON(t, filepath.Join(dir, "config.json"), cfg)
	if shards <= 1 {
		writeSafetensors(t, filepath.Join(dir, "model.safetensors"), dtype, es)
		return
	}
	weightMap := map[string]string{}
	for s := range shards {
		file := fmt.Sprintf("model-%05d-of-%05d.safetensors", s+1, shards)
		var part []stEntry
		for i := s; i < len(es); i += shards {
			part = append(part, es[i])
			weightMap[es[i].name] = file
		}
		writeSafetensors(t, filepath.Join(dir, file), dtype, part)
	}
	writeJSON(t, filepath.Join(dir, "model.safetensors.index.json"), map[string]any{"metadata": map[string]any{}, "weight_map": weightMap})
}
