package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// tensorSource reads named tensors from a Hugging Face model directory: model.safetensors,
// or the shards listed by model.safetensors.index.json.
type tensorSource struct {
	dir   string
	shard map[string]string // tensor name → shard file name
	open  map[string]*safetensorsFile
}

func openTensorSource(dir string) (*tensorSource, error) {
	ts := &tensorSource{dir: dir, shard: map[string]string{}, open: map[string]*safetensorsFile{}}
	single := filepath.Join(dir, "model.safetensors")
	f, err := openSafetensors(single)
	if err == nil {
		for name := range f.tensors {
			ts.shard[name] = "model.safetensors"
		}
		ts.open["model.safetensors"] = f
		return ts, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	index := filepath.Join(dir, "model.safetensors.index.json")
	b, err := os.ReadFile(index)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no model.safetensors or model.safetensors.index.json (PyTorch .bin checkpoints are not supported)", dir)
	}
	if err != nil {
		return nil, err
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%s: %w", index, err)
	}
	for name, file := range idx.WeightMap {
		if file != filepath.Base(file) {
			return nil, fmt.Errorf("%s: shard %q of tensor %s is not a plain file name", index, file, name)
		}
	}
	ts.shard = idx.WeightMap
	return ts, nil
}

func (ts *tensorSource) has(name string) bool {
	_, ok := ts.shard[name]
	return ok
}

// read returns the tensor after checking its shape; errors name the file and tensor.
func (ts *tensorSource) read(name string, shape ...int) ([]float64, error) {
	file, ok := ts.shard[name]
	if !ok {
		return nil, fmt.Errorf("%s: missing tensor %s", ts.dir, name)
	}
	f, ok := ts.open[file]
	if !ok {
		var err error
		if f, err = openSafetensors(filepath.Join(ts.dir, file)); err != nil {
			return nil, fmt.Errorf("shard of tensor %s: %w", name, err)
		}
		ts.open[file] = f
	}
	return f.read(name, shape)
}

// Close closes every opened shard.
func (ts *tensorSource) Close() error {
	var errs []error
	for _, f := range ts.open {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
