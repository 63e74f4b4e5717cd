package model

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The fuzz targets feed arbitrary bytes to the decoders of untrusted files; they must
// return errors, never panic.

func FuzzLlama2CHeader(f *testing.F) {
	var hdr []byte
	for _, v := range []int32{64, 172, 5, 8, 4, 512, 512} {
		hdr = binary.LittleEndian.AppendUint32(hdr, uint32(v))
	}
	f.Add(hdr)
	f.Add(withInt32(hdr, 5, uint32(0xFFFFFE00))) // vocab −512: untied
	f.Add(withInt32(hdr, 0, 0x616b3432))
	f.Add(hdr[:12])
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := parseLlama2CHeader(b)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted invalid config: %v", err)
		}
		if llama2cSize(cfg) <= llama2cHeaderSize {
			t.Fatalf("size %d for %+v", llama2cSize(cfg), cfg)
		}
	})
}

func FuzzSafetensorsHeader(f *testing.F) {
	f.Add([]byte(`{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}`), int64(24))
	f.Add([]byte(`{"a":{"dtype":"BF16","shape":[],"data_offsets":[0,2]},"b":{"dtype":"I8","shape":[4],"data_offsets":[2,6]}}`), int64(6))
	f.Add([]byte(`{"a":{"dtype":"F16","shape":[9223372036854775807,2],"data_offsets":[0,4]}}`), int64(4))
	f.Add([]byte(`[1,2]`), int64(0))
	f.Fuzz(func(t *testing.T, hdr []byte, dataLen int64) {
		tensors, err := parseSafetensorsHeader(hdr, dataLen)
		if err != nil {
			return
		}
		for name, ts := range tensors {
			if ts.Offsets[0] < 0 || ts.Offsets[1] > dataLen || ts.Offsets[0] > ts.Offsets[1] {
				t.Fatalf("tensor %s: accepted offsets %v for %d bytes", name, ts.Offsets, dataLen)
			}
		}
	})
}

// FuzzSafetensorsFile opens whole files and reads every tensor.
func FuzzSafetensorsFile(f *testing.F) {
	dir := f.TempDir()
	writeSafetensors(f, filepath.Join(dir, "seed"), "F16", []stEntry{{"w", []int{2, 2}, []float64{1, -2, 0.5, 0}}})
	seed, err := os.ReadFile(filepath.Join(dir, "seed"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "x.safetensors")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		st, err := openSafetensors(path)
		if err != nil {
			return
		}
		defer st.Close()
		for name, ts := range st.tensors {
			shape := make([]int, len(ts.Shape))
			for i, d := range ts.Shape {
				shape[i] = int(d)
			}
			st.read(name, shape) // errors are fine; panics are not
		}
	})
}

func FuzzTokenizerBin(f *testing.F) {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, 7)
	for _, p := range []string{"<unk>", "\n<s>\n", "\n</s>\n", "<0x41>", " ", "a", " a", "ab"} {
		b = binary.LittleEndian.AppendUint32(b, 0x3f800000)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	f.Add(b, "ab a\xffAé")
	f.Add(b[:30], "")
	if tok, err := os.ReadFile(filepath.Join(storiesDir, "tok512.bin")); err == nil {
		f.Add(tok, "Once upon a time")
	}
	f.Fuzz(func(t *testing.T, data []byte, text string) {
		tok, err := parseTokenizerBin(data)
		if err != nil {
			return
		}
		ids := tok.Encode(text)
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("id %d outside the vocabulary of %d", id, tok.VocabSize())
			}
		}
		tok.Decode(append(ids, -5, 1<<30))
	})
}

func FuzzHFTokenizer(f *testing.F) {
	for _, j := range []map[string]any{miniSP(nil), miniGPT2()} {
		b, err := json.Marshal(j)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "a ab<|endoftext|></s>\n é")
	}
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":5000000}}}`), "a")
	f.Fuzz(func(t *testing.T, data []byte, text string) {
		tok, err := parseHFTokenizer(data, tokenizerConfig{})
		if err != nil {
			return
		}
		ids := tok.Encode(text)
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("id %d outside the vocabulary of %d", id, tok.VocabSize())
			}
		}
		tok.Decode(ids)
	})
}

// FuzzGPT2Split checks that the pre-tokenizer partitions any input into non-empty pieces.
func FuzzGPT2Split(f *testing.F) {
	for _, s := range []string{"Hello world", "I'm  fine\n\nok", " \t x", "a\xffb", "'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var joined string
		for _, p := range gpt2Split(s) {
			if p == "" {
				t.Fatal("empty piece")
			}
			joined += p
		}
		if joined != s {
			t.Fatalf("pieces join to %q, want %q", joined, s)
		}
	})
}
