package model

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
)

// llama2cHeaderSize is the byte size of the version-0 header: seven little-endian int32.
const llama2cHeaderSize = 28

// llama2cMagic starts the newer llama2.c export formats (version 1 and 2), which this
// package does not read.
const llama2cMagic = 0x616b3432

// parseLlama2CHeader reads the seven header fields dim, hidden_dim, n_layers, n_heads,
// n_kv_heads, vocab_size and seq_len. A negative vocab_size means an untied classifier.
func parseLlama2CHeader(b []byte) (Config, error) {
	if len(b) < llama2cHeaderSize {
		return Config{}, fmt.Errorf("header is %d bytes, want %d", len(b), llama2cHeaderSize)
	}
	var f [7]int64
	for i := range f {
		f[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
	}
	if uint32(f[0]) == llama2cMagic {
		return Config{}, fmt.Errorf("llama2.c export version 1/2 (magic \"ak42\") is not supported; export with version 0")
	}
	cfg := Config{
		Family: LLaMA, Dim: int(f[0]), Hidden: int(f[1]), Layers: int(f[2]), Heads: int(f[3]),
		KVHeads: int(f[4]), Vocab: int(f[5]), MaxSeq: int(f[6]),
		NormEps: 1e-5, RopeTheta: 10000, TiedClassifier: f[5] > 0,
	}
	if f[5] < 0 {
		cfg.Vocab = int(-f[5])
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// llama2cSize is the exact byte size of a version-0 file for cfg: header, parameters, the
// two legacy rotary tables of MaxSeq·HeadDim/2 floats each, and an untied classifier.
func llama2cSize(cfg Config) int64 {
	floats := cfg.NumParams() + int64(cfg.MaxSeq)*int64(cfg.HeadDim())
	return llama2cHeaderSize + 4*floats
}

// LoadLlama2C reads a llama2.c checkpoint in the version-0 ("legacy") layout: the header
// above, then float32 arrays in the order token embedding, then per kind across all layers
// attention norms, wq, wk, wv, wo, feed-forward norms, w1, w2, w3, then the final norm, the
// two legacy rotary tables (skipped), and the classifier when vocab_size is negative.
// The config gets NormEps 1e-5 and RopeTheta 10000, as llama2.c uses.
func LoadLlama2C(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("model: llama2.c checkpoint: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("model: llama2.c checkpoint %s: %w", path, err)
	}
	var hdr [llama2cHeaderSize]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return nil, fmt.Errorf("model: llama2.c checkpoint %s: truncated header: %w", path, err)
	}
	cfg, err := parseLlama2CHeader(hdr[:])
	if err != nil {
		return nil, fmt.Errorf("model: llama2.c checkpoint %s: %w", path, err)
	}
	if want := llama2cSize(cfg); st.Size() != want {
		what := "truncated"
		if st.Size() > want {
			what = "has trailing bytes"
		}
		return nil, fmt.Errorf("model: llama2.c checkpoint %s %s: %d bytes, the header (%+v) implies %d",
			path, what, st.Size(), cfg, want)
	}
	r := &floatReader{r: f, path: path}
	w := &Weights{Layers: make([]Layer, cfg.Layers)}
	w.Embed = r.read("token_embedding", cfg.Vocab*cfg.Dim)
	for i := range layerSpecs(cfg, &Layer{}) {
		for l := range w.Layers {
			s := layerSpecs(cfg, &w.Layers[l])[i]
			*s.ptr = r.read(fmt.Sprintf("layer %d %s", l, s.name), numel(s.shape))
		}
	}
	w.FinalNorm = r.read("rms_final", cfg.Dim)
	r.skip("legacy rope tables", cfg.MaxSeq*cfg.HeadDim())
	w.Classifier = w.Embed
	if !cfg.TiedClassifier {
		w.Classifier = r.read("classifier", cfg.Vocab*cfg.Dim)
	}
	if r.err != nil {
		return nil, r.err
	}
	return &Model{Config: cfg, Weights: w}, nil
}

// floatReader reads consecutive little-endian float32 arrays, keeping the first error.
type floatReader struct {
	r    io.Reader
	path string
	buf  []byte
	err  error
}

// skip discards n floats.
func (fr *floatReader) skip(name string, n int) {
	if fr.err != nil {
		return
	}
	if _, err := io.CopyN(io.Discard, fr.r, 4*int64(n)); err != nil {
		fr.err = fmt.Errorf("model: llama2.c checkpoint %s: skipping %s: %w", fr.path, name, err)
	}
}

// read returns the next n floats.
func (fr *floatReader) read(name string, n int) []float64 {
	if fr.err != nil {
		return nil
	}
	if cap(fr.buf) < 4*n {
		fr.buf = make([]byte, 4*n)
	}
	b := fr.buf[:4*n]
	if _, err := io.ReadFull(fr.r, b); err != nil {
		fr.err = fmt.Errorf("model: llama2.c checkpoint %s: reading %s: %w", fr.path, name, err)
		return nil
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
	}
	return out
}
