package client

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/models"
)

// DefaultModelName names the embedded default model in messages.
const DefaultModelName = "embedded:" + models.DefaultName

// OpenModel loads a model and its tokenizer from dir (a llama2.c or Hugging Face directory, as
// model.Open reads), or the embedded default model (package models) when dir is "".
func OpenModel(dir string) (*model.Model, model.Tokenizer, error) {
	if dir != "" {
		m, tok, err := model.Open(dir)
		if err != nil {
			return nil, nil, err
		}
		if tok == nil {
			return nil, nil, fmt.Errorf("client: %s has no tokenizer (the client tokenizes the prompt locally)", dir)
		}
		return m, tok, nil
	}
	tmp, err := os.MkdirTemp("", "mpcache-model-")
	if err != nil {
		return nil, nil, fmt.Errorf("client: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := copyFS(tmp, models.Default); err != nil {
		return nil, nil, fmt.Errorf("client: extracting the embedded model: %w", err)
	}
	return OpenModel(tmp)
}

// copyFS writes every regular file of fsys under dir.
func copyFS(dir string, fsys fs.FS) error {
	return fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(path))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}
