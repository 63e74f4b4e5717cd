package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// metaspace is SentencePiece's visible space; pieces are stored with plain spaces instead.
const metaspace = "▁"

type hfTokenizerFile struct {
	AddedTokens []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         struct {
		Type                    string          `json:"type"`
		Vocab                   map[string]int  `json:"vocab"`
		Merges                  json.RawMessage `json:"merges"`
		ByteFallback            bool            `json:"byte_fallback"`
		UnkToken                *string         `json:"unk_token"`
		ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	} `json:"model"`
}

// hfNode is one normalizer, pre-tokenizer, post-processor or decoder; Sequence nodes list
// their children under one of the slice fields.
type hfNode struct {
	Type           string            `json:"type"`
	Normalizers    []json.RawMessage `json:"normalizers"`
	Pretokenizers  []json.RawMessage `json:"pretokenizers"`
	Decoders       []json.RawMessage `json:"decoders"`
	Processors     []json.RawMessage `json:"processors"`
	Prepend        string            `json:"prepend"`
	Content        string            `json:"content"`
	Pattern        struct{ String string }
	PrependScheme  string            `json:"prepend_scheme"`
	AddPrefixSpace *bool             `json:"add_prefix_space"`
	Split          *bool             `json:"split"`
	UseRegex       *bool             `json:"use_regex"`
	Start          int               `json:"start"`
	Single         []json.RawMessage `json:"single"`
}

// flattenNodes returns the nodes of a component, Sequence children in order.
func flattenNodes(raw json.RawMessage) ([]hfNode, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var n hfNode
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, err
	}
	if n.Type != "Sequence" {
		return []hfNode{n}, nil
	}
	var out []hfNode
	for _, kids := range [][]json.RawMessage{n.Normalizers, n.Pretokenizers, n.Decoders, n.Processors} {
		for _, k := range kids {
			sub, err := flattenNodes(k)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		}
	}
	return out, nil
}

// LoadHFTokenizer reads dir/tokenizer.json (and dir/tokenizer_config.json when present) and
// returns a ByteBPE for a ByteLevel pre-tokenizer (GPT-2) or a SentencePiece for a
// metaspace BPE with byte fallback (LLaMA). tokenizer_config.json's add_bos_token, when
// present, decides whether Encode adds BOS; otherwise a TemplateProcessing post-processor
// that starts with a special token does.
func LoadHFTokenizer(dir string) (Tokenizer, error) {
	path := filepath.Join(dir, "tokenizer.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	tc, err := readTokenizerConfig(dir)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	t, err := parseHFTokenizer(b, tc)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", path, err)
	}
	return t, nil
}

// tokenizerConfig holds the tokenizer_config.json fields this package reads.
type tokenizerConfig struct {
	AddBOS *bool           `json:"add_bos_token"`
	BOS    json.RawMessage `json:"bos_token"`
	EOS    json.RawMessage `json:"eos_token"`
}

func readTokenizerConfig(dir string) (tokenizerConfig, error) {
	var tc tokenizerConfig
	path := filepath.Join(dir, "tokenizer_config.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return tc, nil
	}
	if err != nil {
		return tc, err
	}
	if err := json.Unmarshal(b, &tc); err != nil {
		return tc, fmt.Errorf("%s: %w", path, err)
	}
	return tc, nil
}

// tokenName reads a special-token entry: a string or an object with "content".
func tokenName(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct{ Content string }
	if json.Unmarshal(raw, &o) == nil {
		return o.Content
	}
	return ""
}

func parseHFTokenizer(b []byte, tc tokenizerConfig) (Tokenizer, error) {
	var f hfTokenizerFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	if f.Model.Type != "BPE" {
		return nil, fmt.Errorf("unsupported tokenizer model %q (want BPE)", f.Model.Type)
	}
	if p := f.Model.ContinuingSubwordPrefix; p != nil && *p != "" {
		return nil, fmt.Errorf("unsupported continuing_subword_prefix %q", *p)
	}
	if p := f.Model.EndOfWordSuffix; p != nil && *p != "" {
		return nil, fmt.Errorf("unsupported end_of_word_suffix %q", *p)
	}
	var comps [4][]hfNode
	for i, raw := range []json.RawMessage{f.Normalizer, f.PreTokenizer, f.PostProcessor, f.Decoder} {
		var err error
		if comps[i], err = flattenNodes(raw); err != nil {
			return nil, fmt.Errorf("bad %s: %w", [...]string{"normalizer", "pre_tokenizer", "post_processor", "decoder"}[i], err)
		}
	}
	norm, pre, post, dec := comps[0], comps[1], comps[2], comps[3]

	// Vocabulary: model vocab plus added tokens, indexed by id.
	size := 0
	for _, id := range f.Model.Vocab {
		size = max(size, id+1)
	}
	for _, a := range f.AddedTokens {
		size = max(size, a.ID+1)
	}
	if size == 0 || size > len(f.Model.Vocab)+len(f.AddedTokens) {
		return nil, fmt.Errorf("vocabulary of %d pieces and %d added tokens has ids up to %d (ids must be dense)",
			len(f.Model.Vocab), len(f.AddedTokens), size-1)
	}
	pieces := make([]string, size)
	for p, id := range f.Model.Vocab {
		if id < 0 {
			return nil, fmt.Errorf("negative id %d for %q", id, p)
		}
		pieces[id] = p
	}
	var added []addedToken
	special := make([]bool, size)
	for _, a := range f.AddedTokens {
		if a.ID < 0 || a.Content == "" {
			return nil, fmt.Errorf("bad added token %q with id %d", a.Content, a.ID)
		}
		pieces[a.ID] = a.Content
		special[a.ID] = a.Special
		added = append(added, addedToken{a.Content, a.ID})
	}
	merges, err := parseMerges(f.Model.Merges)
	if err != nil {
		return nil, err
	}
	lookup := func(name string) int {
		for id, p := range pieces {
			if p == name && name != "" {
				return id
			}
		}
		return -1
	}
	bos, eos := lookup(tokenName(tc.BOS)), lookup(tokenName(tc.EOS))
	addBOS := false
	for _, n := range post {
		if n.Type == "TemplateProcessing" && len(n.Single) > 0 {
			var item struct{ SpecialToken *struct{ ID string } }
			if json.Unmarshal(n.Single[0], &item) == nil && item.SpecialToken != nil {
				addBOS = true
				if bos < 0 {
					bos = lookup(item.SpecialToken.ID)
				}
			}
		}
	}
	if tc.AddBOS != nil {
		addBOS = *tc.AddBOS
	}

	for _, n := range pre {
		if n.Type == "ByteLevel" {
			return newByteBPE(pieces, special, added, merges, bos, eos, addBOS, n, lookup)
		}
	}
	return newHFSentencePiece(f.Model.ByteFallback, f.Model.UnkToken, pieces, special, added, merges,
		bos, eos, addBOS, norm, pre, dec, lookup)
}

func parseMerges(raw json.RawMessage) (map[[2]string]int, error) {
	m := map[[2]string]int{}
	if len(raw) == 0 || string(raw) == "null" {
		return m, nil
	}
	var asStrings []string
	if err := json.Unmarshal(raw, &asStrings); err == nil {
		for r, s := range asStrings {
			a, b, ok := strings.Cut(s, " ")
			if !ok {
				return nil, fmt.Errorf("merge %d %q is not two pieces", r, s)
			}
			if _, dup := m[[2]string{a, b}]; !dup {
				m[[2]string{a, b}] = r
			}
		}
		return m, nil
	}
	var asPairs [][2]string
	if err := json.Unmarshal(raw, &asPairs); err != nil {
		return nil, fmt.Errorf("merges are neither strings nor pairs: %w", err)
	}
	for r, p := range asPairs {
		if _, dup := m[p]; !dup {
			m[p] = r
		}
	}
	return m, nil
}

func newByteBPE(pieces []string, special []bool, added []addedToken, merges map[[2]string]int,
	bos, eos int, addBOS bool, pre hfNode, lookup func(string) int) (*ByteBPE, error) {
	if pre.UseRegex != nil && !*pre.UseRegex {
		return nil, errors.New("ByteLevel pre-tokenizer without use_regex is not supported")
	}
	if eos < 0 {
		eos = lookup("<|endoftext|>")
	}
	t := &ByteBPE{vocab: make(map[string]int, len(pieces)), pieces: pieces, merges: merges, added: added,
		special: special, bos: bos, eos: eos, addBOS: addBOS, cache: map[string][]int{},
		addPrefix: pre.AddPrefixSpace != nil && *pre.AddPrefixSpace}
	for id, p := range pieces {
		if _, dup := t.vocab[p]; !dup && p != "" {
			t.vocab[p] = id
		}
	}
	for _, id := range []int{bos, eos} {
		if id >= 0 {
			special[id] = true
		}
	}
	return t, nil
}

func newHFSentencePiece(byteFallback bool, unkToken *string, pieces []string, special []bool,
	added []addedToken, merges map[[2]string]int, bos, eos int, addBOS bool,
	norm, pre, dec []hfNode, lookup func(string) int) (*SentencePiece, error) {
	if !byteFallback {
		return nil, errors.New("a metaspace BPE tokenizer needs byte_fallback")
	}
	if bos < 0 {
		bos = lookup("<s>")
	}
	if eos < 0 {
		eos = lookup("</s>")
	}
	unk := -1
	if unkToken != nil {
		unk = lookup(*unkToken)
	}
	// Pieces and merges with plain spaces.
	sp := make([]string, len(pieces))
	for i, p := range pieces {
		sp[i] = strings.ReplaceAll(p, metaspace, " ")
	}
	t := newSentencePiece(sp, unk, bos, eos, addBOS)
	t.merges = make(map[[2]string]int, len(merges))
	for k, r := range merges {
		t.merges[[2]string{strings.ReplaceAll(k[0], metaspace, " "), strings.ReplaceAll(k[1], metaspace, " ")}] = r
	}
	t.added = added
	copy(t.special, special)
	for _, id := range []int{bos, eos, unk} {
		if id >= 0 {
			t.special[id] = true
		}
	}
	for _, n := range norm {
		switch {
		case n.Type == "Prepend" && n.Prepend == metaspace:
			t.prefix = prefixEvery
		case n.Type == "Replace" && n.Pattern.String == " " && n.Content == metaspace:
		default:
			return nil, fmt.Errorf("unsupported normalizer %s", n.Type)
		}
	}
	for _, n := range pre {
		if n.Type != "Metaspace" {
			return nil, fmt.Errorf("unsupported pre_tokenizer %s", n.Type)
		}
		if n.Split == nil || *n.Split {
			return nil, errors.New("Metaspace pre_tokenizer with split is not supported")
		}
		switch {
		case n.PrependScheme == "always" || n.PrependScheme == "" && n.AddPrefixSpace != nil && *n.AddPrefixSpace:
			t.prefix = prefixEvery
		case n.PrependScheme == "first":
			t.prefix = prefixFirst
		}
	}
	for _, n := range dec {
		if n.Type == "Strip" && n.Start > 0 || n.Type == "Metaspace" {
			t.stripLeading = true
		}
	}
	return t, nil
}
