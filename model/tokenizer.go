package model

import "container/heap"

// Tokenizer turns text into token ids and back.
type Tokenizer interface {
	// Encode returns the ids of text, starting with BOS when the tokenizer adds one.
	Encode(text string) []int
	// Decode returns the text of ids, skipping special tokens (BOS, EOS, unknown and
	// special added tokens). Byte tokens are joined into raw bytes, which need not be
	// valid UTF-8.
	Decode(ids []int) string
	// BOS is the beginning-of-sequence id, or −1 if there is none.
	BOS() int
	// EOS is the end-of-sequence id, or −1 if there is none.
	EOS() int
	// VocabSize is the number of ids.
	VocabSize() int
}

// symbol is one piece of a word during BPE merging, in a doubly linked list.
type symbol struct {
	text       string
	id         int
	prev, next int  // neighbour indices, −1 at the ends
	frozen     bool // byte-fallback pieces never merge
}

// pairRank says whether the adjacent pieces a and b merge, with what priority (higher
// merges first) and into which id.
type pairRank func(a, b string) (prio float64, id int, ok bool)

// bpe merges adjacent symbols, always the pair of highest priority and among equal
// priorities the leftmost, until no pair merges, and returns the ids left in order. It is
// the merge loop of llama2.c and of Hugging Face's BPE model, in O(n log n) with a heap.
func bpe(syms []symbol, rank pairRank) []int {
	for i := range syms {
		syms[i].prev, syms[i].next = i-1, i+1
	}
	if len(syms) > 0 {
		syms[len(syms)-1].next = -1
	}
	h := &pairHeap{}
	push := func(l int) {
		if l < 0 {
			return
		}
		r := syms[l].next
		if r < 0 || syms[l].frozen || syms[r].frozen {
			return
		}
		if p, id, ok := rank(syms[l].text, syms[r].text); ok {
			heap.Push(h, pair{prio: p, left: l, right: r, id: id, llen: len(syms[l].text), rlen: len(syms[r].text)})
		}
	}
	for i := range syms {
		push(i)
	}
	for h.Len() > 0 {
		p := heap.Pop(h).(pair)
		l, r := &syms[p.left], &syms[p.right]
		if l.next != p.right || len(l.text) != p.llen || len(r.text) != p.rlen || r.prev != p.left {
			continue // stale: one side merged since
		}
		l.text += r.text
		l.id = p.id
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = p.left
		}
		r.prev, r.next = -2, -2 // removed
		push(l.prev)
		push(p.left)
	}
	var ids []int
	for i := 0; i >= 0 && i < len(syms); i = syms[i].next {
		ids = append(ids, syms[i].id)
	}
	return ids
}

type pair struct {
	prio        float64
	left, right int
	id          int
	llen, rlen  int
}

// pairHeap pops the highest priority first, then the lowest left index.
type pairHeap []pair

func (h pairHeap) Len() int { return len(h) }
func (h pairHeap) Less(i, j int) bool {
	if h[i].prio != h[j].prio {
		return h[i].prio > h[j].prio
	}
	return h[i].left < h[j].left
}
func (h pairHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pairHeap) Push(x any)   { *h = append(*h, x.(pair)) }
func (h *pairHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// utf8Chars splits s into characters the way llama2.c does: a byte that is not a UTF-8
// continuation byte starts a character, which takes up to three following continuation
// bytes. On valid UTF-8 these are the runes.
func utf8Chars(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		j := i + 1
		for j < len(s) && j-i < 4 && s[j]&0xC0 == 0x80 {
			j++
		}
		out = append(out, s[i:j])
		i = j
	}
	return out
}
