package model

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"
)

// shakespeare returns a slice of the tinyshakespeare corpus, or skips.
func shakespeare(t testing.TB, n int) string {
	t.Helper()
	b, err := os.ReadFile("../../shared/corpora/tinyshakespeare/input.txt")
	if err != nil {
		t.Skipf("tinyshakespeare not available: %v", err)
	}
	return string(b[len(b)-n:])
}

// spTokenizerJSON converts a llama2.c tokenizer into a Hugging Face tokenizer.json of the
// LLaMA kind: metaspace pieces, merges ranked by the merged piece's score.
func spTokenizerJSON(tok *SentencePiece) map[string]any {
	vocab := map[string]int{}
	special := map[int]string{0: "<unk>", 1: "<s>", 2: "</s>"}
	for id, p := range tok.pieces {
		if s, ok := special[id]; ok {
			p = s
		}
		vocab[strings.ReplaceAll(p, " ", metaspace)] = id
	}
	type merge struct {
		a, b  string
		score float64
		id    int
	}
	var ms []merge
	for id, p := range tok.pieces {
		if _, ok := special[id]; ok || utf8.RuneCountInString(p) < 2 {
			continue
		}
		if _, isByte := parseBytePiece(p); isByte {
			continue
		}
		for i := range p {
			if i == 0 {
				continue
			}
			_, okA := tok.ids[p[:i]]
			_, okB := tok.ids[p[i:]]
			if okA && okB {
				ms = append(ms, merge{p[:i], p[i:], tok.scores[id], id})
			}
		}
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].score > ms[j].score })
	var merges [][2]string
	for _, m := range ms {
		merges = append(merges, [2]string{strings.ReplaceAll(m.a, " ", metaspace), strings.ReplaceAll(m.b, " ", metaspace)})
	}
	var added []map[string]any
	for id := range 3 {
		added = append(added, map[string]any{"id": id, "content": special[id], "special": true})
	}
	return map[string]any{
		"version": "1.0", "added_tokens": added,
		"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "Prepend", "prepend": metaspace},
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": metaspace}}},
		"pre_tokenizer": nil,
		"post_processor": map[string]any{"type": "TemplateProcessing",
			"single": []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}},
				map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}}},
		"decoder": map[string]any{"type": "Sequence", "decoders": []any{
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": metaspace}, "content": " "},
			map[string]any{"type": "ByteFallback"}, map[string]any{"type": "Fuse"},
			map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0}}},
		"model": map[string]any{"type": "BPE", "unk_token": "<unk>", "byte_fallback": true, "fuse_unk": true,
			"vocab": vocab, "merges": merges},
	}
}

// TestHFLlamaTokenizerMatchesLlama2C converts tok512.bin to tokenizer.json and checks that
// both encode text identically (score-ordered merges are the same BPE).
func TestHFLlamaTokenizerMatchesLlama2C(t *testing.T) {
	_, tok, cases := loadStories(t)
	dir := t.TempDir()
	writeJSON(t, filepath.Join(dir, "tokenizer.json"), spTokenizerJSON(tok))
	hf, err := LoadHFTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	if hf.BOS() != 1 || hf.EOS() != 2 || hf.VocabSize() != 512 {
		t.Fatalf("bos %d eos %d vocab %d", hf.BOS(), hf.EOS(), hf.VocabSize())
	}
	texts := []string{"", "a", " leading", "Ünïcödé ☃ and 字", "tabs\tand\nnewlines\n\n"}
	for _, c := range cases {
		texts = append(texts, c.Prompt+c.GreedyText)
	}
	text := shakespeare(t, 20000)
	for i := 0; i+2000 <= len(text); i += 2000 {
		texts = append(texts, text[i:i+2000])
	}
	for i, s := range texts {
		want, got := tok.Encode(s), hf.Encode(s)
		if !slices.Equal(got, want) {
			t.Errorf("text %d %.40q: hf %v, llama2.c %v", i, s, got, want)
		}
		if dec := hf.Decode(got); dec != s && !(strings.HasPrefix(s, " ") && dec == s[1:]) {
			t.Errorf("text %d: decode %.40q, want %.40q", i, dec, s)
		}
	}
}

// miniSP is a hand-made LLaMA-style tokenizer.json.
func miniSP(extra map[string]any) map[string]any {
	vocab := map[string]int{"<unk>": 0, "<s>": 1, "</s>": 2}
	for b := range 256 {
		vocab["<0x"+strings.ToUpper(string("0123456789abcdef"[b>>4]))+strings.ToUpper(string("0123456789abcdef"[b&15]))+">"] = 3 + b
	}
	for i, p := range []string{"▁", "a", "b", "▁a", "ab", "▁ab", "c"} {
		vocab[p] = 259 + i
	}
	j := map[string]any{
		"added_tokens": []any{
			map[string]any{"id": 0, "content": "<unk>", "special": true},
			map[string]any{"id": 1, "content": "<s>", "special": true},
			map[string]any{"id": 2, "content": "</s>", "special": true}},
		"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "Prepend", "prepend": "▁"},
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"}}},
		"decoder": map[string]any{"type": "Sequence", "decoders": []any{
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": "▁"}, "content": " "},
			map[string]any{"type": "ByteFallback"}, map[string]any{"type": "Fuse"},
			map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0}}},
		"model": map[string]any{"type": "BPE", "byte_fallback": true, "unk_token": "<unk>", "vocab": vocab,
			"merges": []string{"a b", "▁ a", "▁a b"}},
	}
	for k, v := range extra {
		j[k] = v
	}
	return j
}

func TestHFSentencePiece(t *testing.T) {
	cases := []struct {
		name   string
		json   map[string]any
		config map[string]any // tokenizer_config.json, if any
		text   string
		want   []int
		dec    string // Decode(want)
	}{
		// ▁ a b: "a b" has rank 0, so a+b merge first; "▁ ab" is no merge.
		{"merge order", miniSP(nil), nil, "ab", []int{259, 263}, "ab"},
		{"prefix space", miniSP(nil), nil, "a ab", []int{262, 259, 263}, "a ab"},
		{"byte fallback", miniSP(nil), nil, "a\n", []int{262, 3 + '\n'}, "a\n"},
		{"utf8 bytes", miniSP(nil), nil, "é", []int{259, 3 + 0xC3, 3 + 0xA9}, "é"},
		// Every segment between added tokens gets ▁ (Prepend normalizer); </s> is skipped.
		{"added token", miniSP(nil), nil, "a</s>a", []int{262, 2, 262}, "a a"},
		{"no bos", miniSP(nil), map[string]any{"add_bos_token": false}, "c", []int{259, 265}, "c"},
		{"bos", miniSP(nil), map[string]any{"add_bos_token": true}, "c", []int{1, 259, 265}, "c"},
		{"metaspace first", miniSP(map[string]any{"normalizer": nil,
			"pre_tokenizer": map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}}),
			nil, "a</s>a", []int{262, 2, 260}, "aa"},
		{"merges as pairs", miniSP(map[string]any{"model": map[string]any{"type": "BPE", "byte_fallback": true,
			"vocab":  map[string]int{"<unk>": 0, "<s>": 1, "</s>": 2, "▁": 3, "x": 4, "▁x": 5},
			"merges": [][2]string{{"▁", "x"}}}}), nil, "xx", []int{5, 4}, "xx"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeJSON(t, filepath.Join(dir, "tokenizer.json"), c.json)
			if c.config != nil {
				writeJSON(t, filepath.Join(dir, "tokenizer_config.json"), c.config)
			}
			tok, err := LoadHFTokenizer(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.Encode(c.text); !slices.Equal(got, c.want) {
				t.Errorf("Encode(%q) = %v, want %v", c.text, got, c.want)
			}
			if got := tok.Decode(c.want); got != c.dec {
				t.Errorf("Decode(%v) = %q, want %q", c.want, got, c.dec)
			}
		})
	}
}

func TestGPT2Split(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"Hello world", []string{"Hello", " world"}},
		{"I'm  fine\n\nok", []string{"I", "'m", " ", " fine", "\n", "\n", "ok"}},
		{"it's 2024!!  ", []string{"it", "'s", " 2024", "!!", "  "}},
		{"don'tX 'quoted'", []string{"don", "'t", "X", " '", "quoted", "'"}},
		{"über 字字 ½", []string{"über", " 字字", " ½"}},
		{" \t x", []string{" \t", " x"}},
		{"a\xffb", []string{"a", "\xff", "b"}},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			if got := gpt2Split(c.in); !slices.Equal(got, c.want) {
				t.Errorf("gpt2Split(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

// miniGPT2 is a hand-made GPT-2-style tokenizer.json: the 256 byte characters, then merges.
func miniGPT2() map[string]any {
	vocab := map[string]int{}
	for b := range 256 {
		vocab[string(byteChars[b])] = b
	}
	merges := []string{"Ġ t", "h e", "Ġt he", "i n", "Ġ in"}
	for i, m := range merges {
		vocab[strings.ReplaceAll(m, " ", "")] = 256 + i
	}
	vocab["<|endoftext|>"] = 261
	return map[string]any{
		"added_tokens":   []any{map[string]any{"id": 261, "content": "<|endoftext|>", "special": true}},
		"normalizer":     nil,
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"post_processor": map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false},
		"decoder":        map[string]any{"type": "ByteLevel"},
		"model": map[string]any{"type": "BPE", "vocab": vocab, "merges": merges, "continuing_subword_prefix": "",
			"end_of_word_suffix": "", "unk_token": nil},
	}
}

func TestByteBPE(t *testing.T) {
	dir := t.TempDir()
	writeJSON(t, filepath.Join(dir, "tokenizer.json"), miniGPT2())
	writeJSON(t, filepath.Join(dir, "tokenizer_config.json"), map[string]any{"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"})
	tok, err := LoadHFTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tok.(*ByteBPE); !ok || tok.EOS() != 261 || tok.VocabSize() != 262 {
		t.Fatalf("tokenizer %T eos %d vocab %d", tok, tok.EOS(), tok.VocabSize())
	}
	cases := []struct {
		text string
		want []int
	}{
		{"the in", []int{'t', 257, 260}}, // no BOS; t he (no merge "t he"), Ġin
		{" the", []int{258}},             // Ġt he
		{"in<|endoftext|>é", []int{259, 261, 0xC3, 0xA9}},
		{"\n", []int{'\n'}},
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			got := tok.Encode(c.text)
			if !slices.Equal(got, c.want) {
				t.Errorf("Encode(%q) = %v, want %v", c.text, got, c.want)
			}
			want := strings.ReplaceAll(c.text, "<|endoftext|>", "")
			if dec := tok.Decode(got); dec != want {
				t.Errorf("Decode = %q, want %q", dec, want)
			}
		})
	}
}
