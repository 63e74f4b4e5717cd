package model

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Open loads a model and its tokenizer from path:
//   - a directory with config.json: a Hugging Face model (LoadHF) and its tokenizer.json;
//   - a llama2.c checkpoint file, or a directory holding one: LoadLlama2C, with the
//     tokenizer tokenizer.bin or tok*.bin from the same directory.
//
// The tokenizer is nil, without error, when none is found.
func Open(path string) (*Model, Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("model: %w", err)
	}
	dir, file := path, ""
	if !st.IsDir() {
		dir, file = filepath.Dir(path), path
	}
	if file == "" {
		if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
			m, err := LoadHF(dir)
			if err != nil {
				return nil, nil, err
			}
			tok, err := LoadHFTokenizer(dir)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				return m, nil, nil
			case err != nil:
				return nil, nil, err
			}
			return m, tok, nil
		}
	}
	bins, err := filepath.Glob(filepath.Join(dir, "*.bin"))
	if err != nil {
		return nil, nil, fmt.Errorf("model: %w", err)
	}
	var tokPath string
	var models []string
	for _, b := range bins {
		base := filepath.Base(b)
		if base == "tokenizer.bin" || strings.HasPrefix(base, "tok") {
			tokPath = b
		} else {
			models = append(models, b)
		}
	}
	if file == "" {
		if len(models) != 1 {
			return nil, nil, fmt.Errorf("model: %s has no config.json and %d llama2.c checkpoints %v (want one)", dir, len(models), models)
		}
		file = models[0]
	}
	m, err := LoadLlama2C(file)
	if err != nil || tokPath == "" {
		return m, nil, err
	}
	tok, err := LoadLlama2CTokenizer(tokPath)
	if err != nil {
		return nil, nil, err
	}
	return m, tok, nil
}
