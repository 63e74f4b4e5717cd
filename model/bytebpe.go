package model

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// ByteBPE is GPT-2's byte-level BPE tokenizer: text is split by GPT-2's pre-tokenizer
// pattern, each piece's UTF-8 bytes are mapped to printable characters, and BPE merges
// them by merge rank. It adds no BOS. Encode caches words, so a ByteBPE is not safe for
// concurrent use.
type ByteBPE struct {
	vocab     map[string]int
	pieces    []string // id → piece in the byte-to-character alphabet
	merges    map[[2]string]int
	added     []addedToken
	special   []bool
	bos, eos  int
	addBOS    bool
	addPrefix bool // ByteLevel add_prefix_space
	cache     map[string][]int
}

// byteChars maps each byte to GPT-2's printable stand-in character; charBytes inverts it.
var byteChars, charBytes = byteAlphabet()

func byteAlphabet() ([256]rune, map[rune]byte) {
	var enc [256]rune
	dec := make(map[rune]byte, 256)
	next := rune(256)
	for b := range 256 {
		r := rune(b)
		if !(b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF) {
			r = next
			next++
		}
		enc[b], dec[r] = r, byte(b)
	}
	return enc, dec
}

// BOS returns the beginning-of-sequence id, or −1.
func (t *ByteBPE) BOS() int { return t.bos }

// EOS returns the end-of-sequence id (<|endoftext|> for GPT-2), or −1.
func (t *ByteBPE) EOS() int { return t.eos }

// VocabSize returns the number of ids.
func (t *ByteBPE) VocabSize() int { return len(t.pieces) }

// Encode returns the ids of text: added tokens matched literally, the rest pre-tokenized
// and merged word by word.
func (t *ByteBPE) Encode(text string) []int {
	var ids []int
	if t.addBOS && t.bos >= 0 {
		ids = append(ids, t.bos)
	}
	for _, seg := range splitAdded(text, t.added) {
		if seg.id >= 0 {
			ids = append(ids, seg.id)
			continue
		}
		s := seg.text
		if t.addPrefix && s != "" && !strings.HasPrefix(s, " ") {
			s = " " + s
		}
		for _, word := range gpt2Split(s) {
			ids = append(ids, t.encodeWord(word)...)
		}
	}
	return ids
}

func (t *ByteBPE) encodeWord(word string) []int {
	if ids, ok := t.cache[word]; ok {
		return ids
	}
	syms := make([]symbol, 0, len(word))
	for _, b := range []byte(word) {
		c := string(byteChars[b])
		id, ok := t.vocab[c]
		if !ok {
			id = -1
		}
		syms = append(syms, symbol{text: c, id: id})
	}
	ids := bpe(syms, t.rank)
	var out []int
	for _, id := range ids {
		if id >= 0 { // a byte missing from the vocabulary is dropped
			out = append(out, id)
		}
	}
	t.cache[word] = out
	return out
}

func (t *ByteBPE) rank(a, b string) (float64, int, bool) {
	r, ok := t.merges[[2]string{a, b}]
	if !ok {
		return 0, 0, false
	}
	id, ok := t.vocab[a+b]
	return -float64(r), id, ok
}

// Decode maps the pieces back to bytes, skipping special tokens.
func (t *ByteBPE) Decode(ids []int) string {
	var sb strings.Builder
	for _, id := range ids {
		if id < 0 || id >= len(t.pieces) || t.special[id] {
			continue
		}
		for _, r := range t.pieces[id] {
			if b, ok := charBytes[r]; ok {
				sb.WriteByte(b)
			} else {
				sb.WriteRune(r) // added tokens are stored as plain text
			}
		}
	}
	return sb.String()
}

// gpt2Split splits text as GPT-2's pattern
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// does, written out by hand because Go's regexp has no look-ahead.
func gpt2Split(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		n := gpt2Match(s[i:])
		out = append(out, s[i:i+n])
		i += n
	}
	return out
}

// gpt2Match returns the length of the pattern's match at the start of s (≥ 1 for non-empty s).
func gpt2Match(s string) int {
	if s[0] == '\'' {
		for _, c := range []string{"s", "t", "re", "ve", "m", "ll", "d"} {
			if strings.HasPrefix(s[1:], c) {
				return 1 + len(c)
			}
		}
	}
	start := 0
	if s[0] == ' ' {
		start = 1
	}
	if start < len(s) {
		r, _ := utf8.DecodeRuneInString(s[start:])
		var class func(rune) bool
		switch {
		case unicode.IsLetter(r):
			class = unicode.IsLetter
		case unicode.IsNumber(r):
			class = unicode.IsNumber
		case !unicode.IsSpace(r):
			class = func(r rune) bool { return !unicode.IsSpace(r) && !unicode.IsLetter(r) && !unicode.IsNumber(r) }
		}
		if class != nil {
			return start + runLen(s[start:], class)
		}
	}
	// Whitespace: the run, minus its last character when a non-space follows.
	n := runLen(s, unicode.IsSpace)
	if n == 0 { // invalid UTF-8 or similar: take one byte
		return 1
	}
	if n < len(s) {
		_, last := utf8.DecodeLastRuneInString(s[:n])
		if n-last > 0 {
			return n - last
		}
	}
	return n
}

// runLen is the byte length of the longest prefix of s whose runes all satisfy class.
func runLen(s string, class func(rune) bool) int {
	for i, r := range s {
		if !class(r) {
			return i
		}
	}
	return len(s)
}
