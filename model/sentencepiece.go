package model

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strings"
)

// SentencePiece is a SentencePiece-style BPE tokenizer with byte fallback, as used by
// LLaMA models: llama2.c's tokenizer.bin or a Hugging Face tokenizer.json of that kind.
// Pieces are stored with spaces, not the metaspace "▁".
type SentencePiece struct {
	pieces  []string
	scores  []float64 // llama2.c merge scores, by id
	ids     map[string]int
	byteIDs [256]int // byte-fallback ids, −1 where missing
	special []bool
	bos     int
	eos     int
	unk     int
	addBOS  bool

	// merges holds Hugging Face merge ranks; nil means merge by piece score (llama2.c).
	merges map[[2]string]int
	// added lists added tokens matched literally in the input before BPE (Hugging Face).
	added []addedToken
	// prefix says which text segments get the dummy-prefix space.
	prefix prefixRule
	// stripLeading strips one leading space from a decoded text (Hugging Face's Strip
	// decoder); otherwise, as llama2.c, only a piece right after BOS loses its space.
	stripLeading bool
}

// prefixRule says which segments of the input (split at added tokens) get a leading space.
type prefixRule int

const (
	prefixNone  prefixRule = iota
	prefixFirst            // only the segment at the start of the text (llama2.c; Metaspace "first")
	prefixEvery            // every segment (Hugging Face's Prepend normalizer; Metaspace "always")
)

type addedToken struct {
	content string
	id      int
}

// LoadLlama2CTokenizer reads llama2.c's tokenizer.bin: an int32 max piece length, then for
// each id a float32 merge score, an int32 byte length and the piece bytes. Ids 0, 1, 2
// are <unk>, BOS and EOS; pieces "<0xXX>" are byte fallbacks. Encode adds BOS.
func LoadLlama2CTokenizer(path string) (*SentencePiece, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model: llama2.c tokenizer: %w", err)
	}
	t, err := parseTokenizerBin(b)
	if err != nil {
		return nil, fmt.Errorf("model: llama2.c tokenizer %s: %w", path, err)
	}
	return t, nil
}

// parseTokenizerBin decodes a tokenizer.bin whose vocabulary is as long as the data holds.
func parseTokenizerBin(b []byte) (*SentencePiece, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("truncated: %d bytes, no header", len(b))
	}
	maxLen := int32(binary.LittleEndian.Uint32(b))
	if maxLen < 1 {
		return nil, fmt.Errorf("max token length %d must be positive", maxLen)
	}
	var pieces []string
	var scores []float64
	for off := 4; off < len(b); {
		if len(b)-off < 8 {
			return nil, fmt.Errorf("truncated at id %d: %d bytes left, need 8", len(pieces), len(b)-off)
		}
		score := float64(math.Float32frombits(binary.LittleEndian.Uint32(b[off:])))
		n := int64(int32(binary.LittleEndian.Uint32(b[off+4:])))
		off += 8
		if n < 0 || n > int64(len(b)-off) {
			return nil, fmt.Errorf("truncated at id %d: piece of %d bytes, %d left", len(pieces), n, len(b)-off)
		}
		pieces = append(pieces, string(b[off:off+int(n)]))
		scores = append(scores, score)
		off += int(n)
	}
	if len(pieces) < 3 {
		return nil, fmt.Errorf("vocabulary of %d pieces lacks <unk>, BOS and EOS", len(pieces))
	}
	t := newSentencePiece(pieces, 0, 1, 2, true)
	t.scores = scores
	t.prefix = prefixFirst
	t.special[0], t.special[1], t.special[2] = true, true, true
	return t, nil
}

func newSentencePiece(pieces []string, unk, bos, eos int, addBOS bool) *SentencePiece {
	t := &SentencePiece{
		pieces: pieces, ids: make(map[string]int, len(pieces)), special: make([]bool, len(pieces)),
		unk: unk, bos: bos, eos: eos, addBOS: addBOS,
	}
	for i := range t.byteIDs {
		t.byteIDs[i] = -1
	}
	for id, p := range pieces {
		if b, ok := parseBytePiece(p); ok {
			t.byteIDs[b] = id
			continue
		}
		if _, dup := t.ids[p]; !dup {
			t.ids[p] = id
		}
	}
	return t
}

// parseBytePiece recognises a byte-fallback piece "<0xXX>".
func parseBytePiece(p string) (byte, bool) {
	if len(p) != 6 || p[:3] != "<0x" || p[5] != '>' {
		return 0, false
	}
	var v byte
	for _, c := range []byte(p[3:5]) {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | (c - '0')
		case c >= 'A' && c <= 'F':
			v = v<<4 | (c - 'A' + 10)
		case c >= 'a' && c <= 'f':
			v = v<<4 | (c - 'a' + 10)
		default:
			return 0, false
		}
	}
	return v, true
}

// BOS returns the beginning-of-sequence id.
func (t *SentencePiece) BOS() int { return t.bos }

// EOS returns the end-of-sequence id.
func (t *SentencePiece) EOS() int { return t.eos }

// VocabSize returns the number of pieces.
func (t *SentencePiece) VocabSize() int { return len(t.pieces) }

// Encode returns the ids of text: BOS (if the tokenizer adds it), then, for each segment
// between added tokens, the dummy-prefix space where the prefix rule says, characters
// mapped to pieces or to byte-fallback ids (or <unk>, or dropped, when the byte has no
// piece), merged by BPE (highest score or lowest merge
// rank first, leftmost on ties).
func (t *SentencePiece) Encode(text string) []int {
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
		if s != "" && (t.prefix == prefixEvery || t.prefix == prefixFirst && seg.start == 0) {
			s = " " + s
		}
		ids = append(ids, t.encodeSegment(s)...)
	}
	return ids
}

func (t *SentencePiece) encodeSegment(s string) []int {
	var syms []symbol
	for _, c := range utf8Chars(s) {
		if id, ok := t.ids[c]; ok {
			syms = append(syms, symbol{text: c, id: id})
			continue
		}
		for _, b := range []byte(c) {
			if id := t.byteIDs[b]; id >= 0 {
				syms = append(syms, symbol{id: id, frozen: true})
			} else if t.unk >= 0 {
				syms = append(syms, symbol{id: t.unk, frozen: true})
			}
		}
	}
	return bpe(syms, t.rank)
}

// rank is the merge priority of adjacent pieces: the merged piece's score (llama2.c) or
// minus the merge's rank (Hugging Face).
func (t *SentencePiece) rank(a, b string) (float64, int, bool) {
	id, ok := t.ids[a+b]
	if !ok {
		return 0, 0, false
	}
	if t.merges == nil {
		return t.scores[id], id, true
	}
	r, ok := t.merges[[2]string{a, b}]
	return -float64(r), id, ok
}

// Decode returns the text of ids. Special ids are skipped; byte-fallback ids become raw
// bytes; the leading space of the piece right after BOS (llama2.c) or of the whole text
// (Hugging Face) is removed.
func (t *SentencePiece) Decode(ids []int) string {
	var sb strings.Builder
	afterBOS := false
	for _, id := range ids {
		if id < 0 || id >= len(t.pieces) {
			afterBOS = false
			continue
		}
		p := t.pieces[id]
		switch b, isByte := parseBytePiece(p); {
		case isByte:
			sb.WriteByte(b)
		case t.special[id]:
		case afterBOS && !t.stripLeading:
			sb.WriteString(strings.TrimPrefix(p, " "))
		default:
			sb.WriteString(p)
		}
		afterBOS = id == t.bos
	}
	if t.stripLeading {
		return strings.TrimPrefix(sb.String(), " ")
	}
	return sb.String()
}

// segment is a run of input text, or an added token (id ≥ 0).
type segment struct {
	text  string
	start int
	id    int
}

// splitAdded cuts text at literal occurrences of added tokens, longest match first at each
// position, leftmost first.
func splitAdded(text string, added []addedToken) []segment {
	if len(added) == 0 {
		return []segment{{text: text, id: -1}}
	}
	var out []segment
	last := 0
	for i := 0; i < len(text); {
		best := -1
		for k, a := range added {
			if strings.HasPrefix(text[i:], a.content) && (best < 0 || len(a.content) > len(added[best].content)) {
				best = k
			}
		}
		if best < 0 {
			i++
			continue
		}
		if i > last {
			out = append(out, segment{text: text[last:i], start: last, id: -1})
		}
		out = append(out, segment{text: added[best].content, start: i, id: added[best].id})
		i += len(added[best].content)
		last = i
	}
	if last < len(text) || len(out) == 0 {
		out = append(out, segment{text: text[last:], start: last, id: -1})
	}
	return out
}
