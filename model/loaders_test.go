package model

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// diffWeights returns the name of the first tensor where a and b differ, or "".
func diffWeights(cfg Config, a, b *Weights) string {
	if len(a.Layers) != len(b.Layers) {
		return "layer count"
	}
	if !slices.Equal(a.Classifier, b.Classifier) {
		return "classifier"
	}
	bs := globalSpecs(cfg, b)
	for i, s := range globalSpecs(cfg, a) {
		if !slices.Equal(*s.ptr, *bs[i].ptr) {
			return s.name
		}
	}
	for l := range a.Layers {
		bs := layerSpecs(cfg, &b.Layers[l])
		for i, s := range layerSpecs(cfg, &a.Layers[l]) {
			if !slices.Equal(*s.ptr, *bs[i].ptr) {
				return s.name
			}
		}
	}
	return ""
}

// runLogits prefills prompt and decodes extra tokens, returning every logits row.
func runLogits(t testing.TB, m *Model, opts Options, prompt, extra []int) [][]float64 {
	t.Helper()
	s, err := NewSession(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Prefill(prompt)
	if err != nil {
		t.Fatal(err)
	}
	out := [][]float64{l}
	for _, tok := range extra {
		if l, err = s.Decode(tok); err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

func equalRows(a, b [][]float64) bool {
	return slices.EqualFunc(a, b, func(x, y []float64) bool { return slices.Equal(x, y) })
}

// TestLoadersAgree writes the same weights as a llama2.c file and as Hugging Face
// checkpoints in each dtype and checks that all loads give identical weights and logits.
func TestLoadersAgree(t *testing.T) {
	prompt, extra := []int{1, 17, 300, 42, 5, 99}, []int{7, 250, 3}
	for _, tied := range []bool{true, false} {
		m := gridModel(t, "llama-test", 7)
		if !tied {
			m.Config.TiedClassifier = false
			m.Weights.Classifier = slices.Clone(m.Weights.Embed)
			slices.Reverse(m.Weights.Classifier)
		}
		want := runLogits(t, m, Options{}, prompt, extra)
		dir := t.TempDir()
		bin := filepath.Join(dir, "model.bin")
		writeLlama2C(t, bin, m)
		cases := []struct {
			name string
			load func() (*Model, error)
		}{
			{"llama2c", func() (*Model, error) { return LoadLlama2C(bin) }},
		}
		for _, dt := range []string{"F32", "F16", "BF16", "F64"} {
			for _, shards := range []int{1, 3} {
				hf := filepath.Join(dir, fmt.Sprintf("%s-shards%d", dt, shards))
				if err := os.Mkdir(hf, 0o755); err != nil {
					t.Fatal(err)
				}
				writeHF(t, hf, m, dt, shards)
				cases = append(cases, struct {
					name string
					load func() (*Model, error)
				}{"hf-" + filepath.Base(hf), func() (*Model, error) { return LoadHF(hf) }})
			}
		}
		for _, c := range cases {
			t.Run(c.name+map[bool]string{true: "-tied", false: "-untied"}[tied], func(t *testing.T) {
				got, err := c.load()
				if err != nil {
					t.Fatal(err)
				}
				if got.Config != m.Config {
					t.Fatalf("config %+v, want %+v", got.Config, m.Config)
				}
				if d := diffWeights(m.Config, got.Weights, m.Weights); d != "" {
					t.Fatalf("tensor %s differs", d)
				}
				if !equalRows(runLogits(t, got, Options{}, prompt, extra), want) {
					t.Error("logits differ")
				}
			})
		}
	}
}

// TestLoadGPT2 round-trips GPT-2 weights through the Hugging Face layout (Conv1D
// transposes, fused c_attn) and checks identical logits.
func TestLoadGPT2(t *testing.T) {
	m := gridModel(t, "gpt2-test", 3)
	for _, prefix := range []bool{false, true} {
		dir := t.TempDir()
		writeHF(t, dir, m, "F32", 1)
		if prefix {
			es, cfg := hfEntries(m)
			for i := range es {
				es[i].name = "transformer." + es[i].name
			}
			writeJSON(t, filepath.Join(dir, "config.json"), cfg)
			writeSafetensors(t, filepath.Join(dir, "model.safetensors"), "F32", es)
		}
		got, err := LoadHF(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got.Config != m.Config {
			t.Fatalf("config %+v, want %+v", got.Config, m.Config)
		}
		if d := diffWeights(m.Config, got.Weights, m.Weights); d != "" {
			t.Fatalf("prefix %v: tensor %s differs", prefix, d)
		}
		prompt := []int{5, 6, 7, 300}
		if !equalRows(runLogits(t, got, Options{}, prompt, []int{8}), runLogits(t, m, Options{}, prompt, []int{8})) {
			t.Error("logits differ")
		}
	}
}

// TestLoadErrors checks that broken inputs give errors naming the file and the problem.
func TestLoadErrors(t *testing.T) {
	m := gridModel(t, "llama-test", 1)
	good := t.TempDir()
	writeLlama2C(t, filepath.Join(good, "model.bin"), m)
	bin, err := os.ReadFile(filepath.Join(good, "model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	writeHF(t, good, m, "F32", 1)
	st, err := os.ReadFile(filepath.Join(good, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	cfgJSON, err := os.ReadFile(filepath.Join(good, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	es, _ := hfEntries(m)

	cases := []struct {
		name  string
		files map[string][]byte              // written into a fresh directory
		edit  func(t *testing.T, dir string) // optional further changes
		hf    bool
		want  []string // substrings of the error
	}{
		{name: "llama2c missing", want: []string{"model.bin", "no such file"}},
		{name: "llama2c truncated", files: map[string][]byte{"model.bin": bin[:len(bin)-5]}, want: []string{"model.bin", "truncated"}},
		{name: "llama2c trailing", files: map[string][]byte{"model.bin": append(slices.Clone(bin), 0)}, want: []string{"trailing"}},
		{name: "llama2c short header", files: map[string][]byte{"model.bin": bin[:10]}, want: []string{"truncated header"}},
		{name: "llama2c bad heads", files: map[string][]byte{"model.bin": withInt32(bin, 3, 7)}, want: []string{"model.bin", "multiple of heads"}},
		{name: "llama2c magic", files: map[string][]byte{"model.bin": withInt32(bin, 0, 0x616b3432)}, want: []string{"version 1/2"}},
		{name: "hf missing config", hf: true, want: []string{"config.json"}},
		{name: "hf missing weights", hf: true, files: map[string][]byte{"config.json": cfgJSON}, want: []string{"model.safetensors"}},
		{name: "hf truncated", hf: true, files: map[string][]byte{"config.json": cfgJSON, "model.safetensors": st[:len(st)-100]},
			want: []string{"model.safetensors", "truncated"}},
		{name: "hf truncated header", hf: true, files: map[string][]byte{"config.json": cfgJSON, "model.safetensors": st[:20]},
			want: []string{"model.safetensors"}},
		{name: "hf architecture", hf: true, files: map[string][]byte{"config.json": []byte(`{"model_type":"bert"}`)},
			want: []string{"config.json", "unsupported model_type \"bert\""}},
		{name: "hf rope scaling", hf: true,
			files: map[string][]byte{"config.json": []byte(strings.Replace(string(cfgJSON), `"rope_scaling":null`, `"rope_scaling":{"type":"linear","factor":2}`, 1))},
			want:  []string{"rope_scaling"}},
		{name: "hf wrong shape", hf: true, files: map[string][]byte{"config.json": cfgJSON},
			edit: func(t *testing.T, dir string) {
				bad := slices.Clone(es)
				for i := range bad {
					if bad[i].name == "model.layers.2.mlp.up_proj.weight" {
						bad[i].shape = []int{bad[i].shape[1], bad[i].shape[0]}
					}
				}
				writeSafetensors(t, filepath.Join(dir, "model.safetensors"), "F32", bad)
			},
			want: []string{"model.safetensors", "model.layers.2.mlp.up_proj.weight", "shape"}},
		{name: "hf missing tensor", hf: true, files: map[string][]byte{"config.json": cfgJSON},
			edit: func(t *testing.T, dir string) {
				writeSafetensors(t, filepath.Join(dir, "model.safetensors"), "F32", slices.DeleteFunc(slices.Clone(es),
					func(e stEntry) bool { return e.name == "model.norm.weight" }))
			},
			want: []string{"missing tensor model.norm.weight"}},
		{name: "hf dtype", hf: true, files: map[string][]byte{"config.json": cfgJSON},
			edit: func(t *testing.T, dir string) {
				b := slices.Clone(st)
				i := strings.Index(string(b), `"F32"`)
				copy(b[i:], `"I32"`)
				if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), b, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"model.safetensors", "unsupported dtype I32"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, b := range c.files {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if c.edit != nil {
				c.edit(t, dir)
			}
			var err error
			if c.hf {
				_, err = LoadHF(dir)
			} else {
				_, err = LoadLlama2C(filepath.Join(dir, "model.bin"))
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// withInt32 returns a copy of b with the int32 header field i set to v.
func withInt32(b []byte, i int, v uint32) []byte {
	c := slices.Clone(b)
	binary.LittleEndian.PutUint32(c[4*i:], v)
	return c
}

func TestHalfToFloat(t *testing.T) {
	cases := []struct {
		bits uint16
		want float64
	}{
		{0x0000, 0}, {0x3C00, 1}, {0xC000, -2}, {0x7BFF, 65504}, {0x0001, 1.0 / (1 << 24)},
		{0x0400, 1.0 / (1 << 14)}, {0x3555, 0.333251953125},
	}
	for _, c := range cases {
		if got := halfToFloat(c.bits); got != c.want {
			t.Errorf("halfToFloat(%#04x) = %v, want %v", c.bits, got, c.want)
		}
	}
	if got := halfToFloat(0x7C00); !math.IsInf(got, 1) {
		t.Errorf("halfToFloat(0x7C00) = %v, want +Inf", got)
	}
	if got := halfToFloat(0x7E00); !math.IsNaN(got) {
		t.Errorf("halfToFloat(0x7E00) = %v, want NaN", got)
	}
}

func TestOpen(t *testing.T) {
	m := gridModel(t, "llama-test", 2)
	dir := t.TempDir()
	writeLlama2C(t, filepath.Join(dir, "m.bin"), m)
	for _, p := range []string{dir, filepath.Join(dir, "m.bin")} {
		got, tok, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if got.Config != m.Config || tok != nil {
			t.Errorf("Open(%s) = %+v, tokenizer %v", p, got.Config, tok)
		}
	}
	hf := t.TempDir()
	writeHF(t, hf, m, "BF16", 1)
	if got, _, err := Open(hf); err != nil || got.Config != m.Config {
		t.Errorf("Open(hf) = %v, %v", got, err)
	}
}
