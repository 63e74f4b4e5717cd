// Package models embeds the project's own trained models, so that a fresh clone runs with no
// downloads and no ../shared.
//
// The default model is shakespeare-gpt2: a 4-layer GPT-2-architecture model (d=160, 4 heads,
// context 1024, 1,565,120 parameters, float32) with its own 1024-token byte-level BPE tokenizer,
// trained by tools/train on the first 90% of tinyshakespeare. Its files are in Hugging Face layout:
//
//	config.json            model_type gpt2, n_positions/n_ctx 1024, n_embd, n_layer, n_head, ...
//	model.safetensors      GPT2LMHeadModel tensor names (transformer.wte/wpe/h.N.*/ln_f), Conv1D
//	                       weights stored [in, out], fused c_attn = [q | k | v]; lm_head is tied to
//	                       transformer.wte.weight and is not stored
//	tokenizer.json         GPT-2 byte-level BPE (also as vocab.json + merges.txt); <|endoftext|> = 1023
//	tokenizer_config.json
//	expected_logits.json   float64 reference: prompt ids, last-position logits, 32-token greedy
//	                       continuation, for checking a loader or a forward pass
//	train_report.json      training run: hyperparameters, loss curve, train and held-out loss
//	MODEL_CARD.md          data, tokenizer, architecture, training, losses, licence
//
// Default is that directory as an fs.FS (paths like "config.json"); Files holds every embedded
// model under its directory name.
package models

import (
	"embed"
	"io/fs"
)

// DefaultName is the directory name of the default model inside Files.
const DefaultName = "shakespeare-gpt2"

// Files holds every embedded model, each under its own directory (e.g. "shakespeare-gpt2/config.json").
//
//go:embed shakespeare-gpt2/*.json shakespeare-gpt2/*.safetensors shakespeare-gpt2/merges.txt shakespeare-gpt2/MODEL_CARD.md
var Files embed.FS

// Default is the default model's directory: its files are at the root ("config.json",
// "model.safetensors", "tokenizer.json", ...).
var Default fs.FS = mustSub(Files, DefaultName)

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic("models: " + err.Error())
	}
	return sub
}
