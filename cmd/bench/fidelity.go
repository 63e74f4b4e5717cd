package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/privinfer/mpcache/cmd/bench/internal/bench"
	"github.com/privinfer/mpcache/model"
)

// runFidelity runs the plaintext cache policies on held-out text and prints a markdown
// table of next-token agreement with the full cache, perplexity and attended KV fraction
// per policy and budget; -json also writes the results as JSON, and -out writes them into a
// benchmark output folder, whose report then sets them beside the costs.
func runFidelity(args []string) error {
	fs := flag.NewFlagSet("fidelity", flag.ContinueOnError)
	modelPath := fs.String("model", "", "model: "+bench.DefaultModel+" (the embedded model), a Hugging Face directory, a llama2.c checkpoint (or its directory), or a synthetic shape ("+strings.Join(model.Shapes(), ", ")+")")
	textPath := fs.String("text", "", "held-out text file")
	tail := fs.Float64("tail", 1, "use the last fraction (0, 1] of the text, e.g. 0.1 for the last 10%")
	prompt := fs.Int("prompt", 256, "prompt tokens per segment")
	steps := fs.Int("steps", 32, "teacher-forced decode steps per segment")
	segments := fs.Int("segments", 4, "most segments to evaluate (0: all)")
	policies := fs.String("policies", strings.Join(model.PolicyKinds(), ","), "comma-separated policies")
	budgets := fs.String("budgets", "0.1,0.2,0.5", "comma-separated budgets, fractions of the prompt")
	fracBits := fs.Int("fracbits", 0, "fixed-point fraction bits (0: float64)")
	seed := fs.Uint64("seed", 1, "weight seed for synthetic shapes")
	jsonOut := fs.String("json", "", "also write the results as JSON to this file ('-' for stdout)")
	outDir := fs.String("out", "", "also write the results into this benchmark output folder (fidelity.json) and rewrite its report")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *modelPath == "" || *textPath == "" {
		return fmt.Errorf("-model and -text are required")
	}
	if !(*tail > 0 && *tail <= 1) {
		return fmt.Errorf("-tail %v outside (0, 1]", *tail)
	}
	m, tok, err := loadModel(*modelPath, *seed)
	if err != nil {
		return err
	}
	text, err := os.ReadFile(*textPath)
	if err != nil {
		return err
	}
	text = text[len(text)-int(float64(len(text))**tail):]
	ids := encode(tok, string(text), m.Config.Vocab)
	specs, err := policySpecs(*policies, *budgets)
	if err != nil {
		return err
	}
	res, err := model.Fidelity(m, ids, model.FidelityOptions{Prompt: *prompt, Steps: *steps, Segments: *segments, FracBits: *fracBits}, specs)
	if err != nil {
		return err
	}
	fmt.Printf("model %s (%s, %d layers), text %s (last %.3g, %d tokens), prompt %d, steps %d\n\n",
		*modelPath, m.Config.Family, m.Config.Layers, *textPath, *tail, len(ids), *prompt, *steps)
	fmt.Print(model.FidelityMarkdown(res))
	if *outDir != "" {
		rep := &bench.FidelityReport{Model: *modelPath, Text: *textPath, Tail: *tail, Tokens: len(ids),
			Prompt: *prompt, Steps: *steps, FracBits: *fracBits, Results: res}
		if err := bench.WriteFidelity(*outDir, rep); err != nil {
			return err
		}
	}
	if *jsonOut == "" {
		return nil
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if *jsonOut == "-" {
		_, err = os.Stdout.Write(append(b, '\n'))
		return err
	}
	return os.WriteFile(*jsonOut, append(b, '\n'), 0o644)
}

// loadModel opens a model path or builds a synthetic shape with seeded weights.
func loadModel(path string, seed uint64) (*model.Model, model.Tokenizer, error) {
	if _, err := model.Shape(path); err == nil {
		m, err := model.RandomModel(path, seed)
		return m, nil, err
	}
	return bench.OpenModel(path)
}

// encode tokenizes text; without a tokenizer each byte b becomes the id b mod vocab.
func encode(tok model.Tokenizer, text string, vocab int) []int {
	if tok != nil {
		return tok.Encode(text)
	}
	ids := make([]int, len(text))
	for i := range len(text) {
		ids[i] = int(text[i]) % vocab
	}
	return ids
}

// policySpecs builds the policy list from the comma-separated flags.
func policySpecs(policies, budgets string) ([]model.PolicySpec, error) {
	var bs []float64
	for _, f := range strings.Split(budgets, ",") {
		b, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, fmt.Errorf("-budgets: %w", err)
		}
		bs = append(bs, b)
	}
	var kinds []string
	for _, p := range strings.Split(policies, ",") {
		kinds = append(kinds, strings.TrimSpace(p))
	}
	return model.PolicySpecs(kinds, bs)
}
