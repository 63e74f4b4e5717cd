package models

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"testing"
)

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := fs.ReadFile(Default, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
}

type gpt2Config struct {
	ModelType          string  `json:"model_type"`
	VocabSize          int     `json:"vocab_size"`
	NPositions         int     `json:"n_positions"`
	NCtx               int     `json:"n_ctx"`
	NEmbd              int     `json:"n_embd"`
	NLayer             int     `json:"n_layer"`
	NHead              int     `json:"n_head"`
	LayerNormEpsilon   float64 `json:"layer_norm_epsilon"`
	ActivationFunction string  `json:"activation_function"`
	TieWordEmbeddings  bool    `json:"tie_word_embeddings"`
	EOSTokenID         int     `json:"eos_token_id"`
}

func TestDefaultFilesPresent(t *testing.T) {
	for _, name := range []string{
		"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
		"vocab.json", "merges.txt", "expected_logits.json", "train_report.json", "MODEL_CARD.md",
	} {
		st, err := fs.Stat(Default, name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if st.Size() == 0 {
			t.Errorf("%s is empty", name)
		}
	}
	if _, err := fs.Stat(Files, DefaultName+"/config.json"); err != nil {
		t.Errorf("Files lacks %s/config.json: %v", DefaultName, err)
	}
}

func TestDefaultConfig(t *testing.T) {
	var c gpt2Config
	readJSON(t, "config.json", &c)
	if c.ModelType != "gpt2" || c.NPositions != 1024 || c.NCtx != 1024 || c.VocabSize != 1024 ||
		c.NLayer != 4 || c.NEmbd != 160 || c.NHead != 4 || c.ActivationFunction != "gelu_new" ||
		!c.TieWordEmbeddings || c.LayerNormEpsilon != 1e-5 || c.EOSTokenID != 1023 {
		t.Fatalf("unexpected config: %+v", c)
	}
}

// TestDefaultSafetensors checks the safetensors header: every GPT-2 tensor is there, float32, with
// the shape config.json implies, and the data section is exactly as long as the tensors need.
func TestDefaultSafetensors(t *testing.T) {
	var c gpt2Config
	readJSON(t, "config.json", &c)
	b, err := fs.ReadFile(Default, "model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 8 {
		t.Fatal("model.safetensors too short")
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n > uint64(len(b)-8) {
		t.Fatalf("header length %d exceeds file", n)
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		t.Fatalf("parse header: %v", err)
	}
	type info struct {
		DType   string   `json:"dtype"`
		Shape   []int    `json:"shape"`
		Offsets [2]int64 `json:"data_offsets"`
	}
	d, v, P := c.NEmbd, c.VocabSize, c.NPositions
	want := map[string][]int{
		"transformer.wte.weight":  {v, d},
		"transformer.wpe.weight":  {P, d},
		"transformer.ln_f.weight": {d},
		"transformer.ln_f.bias":   {d},
	}
	for l := 0; l < c.NLayer; l++ {
		p := fmt.Sprintf("transformer.h.%d.", l)
		for k, s := range map[string][]int{
			"ln_1.weight": {d}, "ln_1.bias": {d}, "ln_2.weight": {d}, "ln_2.bias": {d},
			"attn.c_attn.weight": {d, 3 * d}, "attn.c_attn.bias": {3 * d},
			"attn.c_proj.weight": {d, d}, "attn.c_proj.bias": {d},
			"mlp.c_fc.weight": {d, 4 * d}, "mlp.c_fc.bias": {4 * d},
			"mlp.c_proj.weight": {4 * d, d}, "mlp.c_proj.bias": {d},
		} {
			want[p+k] = s
		}
	}
	var total int64
	params := 0
	for name, raw := range hdr {
		if name == "__metadata__" {
			continue
		}
		s, ok := want[name]
		if !ok {
			t.Errorf("unexpected tensor %s", name)
			continue
		}
		var ti info
		if err := json.Unmarshal(raw, &ti); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ti.DType != "F32" || fmt.Sprint(ti.Shape) != fmt.Sprint(s) {
			t.Errorf("%s: %s %v, want F32 %v", name, ti.DType, ti.Shape, s)
		}
		cnt := 1
		for _, x := range ti.Shape {
			cnt *= x
		}
		params += cnt
		if ti.Offsets[1]-ti.Offsets[0] != int64(4*cnt) {
			t.Errorf("%s: data_offsets %v do not fit %d floats", name, ti.Offsets, cnt)
		}
		total += ti.Offsets[1] - ti.Offsets[0]
		delete(want, name)
	}
	for name := range want {
		t.Errorf("missing tensor %s", name)
	}
	if total != int64(len(b))-8-int64(n) {
		t.Errorf("tensor bytes %d, data section %d", total, int64(len(b))-8-int64(n))
	}
	if params != 1565120 {
		t.Errorf("parameters: %d, want 1565120", params)
	}
}

func TestDefaultTokenizerAndExpectedLogits(t *testing.T) {
	var tok struct {
		AddedTokens []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
		} `json:"added_tokens"`
		Model struct {
			Type   string         `json:"type"`
			Vocab  map[string]int `json:"vocab"`
			Merges []string       `json:"merges"`
		} `json:"model"`
	}
	readJSON(t, "tokenizer.json", &tok)
	if tok.Model.Type != "BPE" || len(tok.Model.Vocab) != 1024 || len(tok.Model.Merges) != 1024-256-1 {
		t.Fatalf("tokenizer: type %q, %d vocab, %d merges", tok.Model.Type, len(tok.Model.Vocab), len(tok.Model.Merges))
	}
	if len(tok.AddedTokens) != 1 || tok.AddedTokens[0].Content != "<|endoftext|>" || tok.AddedTokens[0].ID != 1023 ||
		tok.Model.Vocab["<|endoftext|>"] != 1023 {
		t.Fatalf("<|endoftext|> is not id 1023: %+v", tok.AddedTokens)
	}

	var exp struct {
		NGreedy int `json:"n_greedy"`
		Cases   []struct {
			Prompt     string    `json:"prompt"`
			InputIDs   []int     `json:"input_ids"`
			LastLogits []float64 `json:"last_logits"`
			GreedyIDs  []int     `json:"greedy_ids"`
		} `json:"cases"`
	}
	readJSON(t, "expected_logits.json", &exp)
	if len(exp.Cases) < 3 {
		t.Fatalf("expected_logits.json has %d cases", len(exp.Cases))
	}
	for i, c := range exp.Cases {
		if len(c.InputIDs) == 0 || len(c.InputIDs)+exp.NGreedy > 1024 || len(c.LastLogits) != 1024 || len(c.GreedyIDs) != exp.NGreedy {
			t.Errorf("case %d: %d ids, %d logits, %d greedy", i, len(c.InputIDs), len(c.LastLogits), len(c.GreedyIDs))
		}
		for _, id := range append(append([]int{}, c.InputIDs...), c.GreedyIDs...) {
			if id < 0 || id >= 1024 {
				t.Errorf("case %d: token id %d out of range", i, id)
			}
		}
	}
}
