package model

// Policy decides which cached tokens each KV head attends over during decoding. The
// reference forward (Session) calls it; the secure cache policies follow the same
// specifications (see the package doc) and are compared with these index for index.
//
// Call order for one sequence: Start; then, for each layer in order, PrefillRow for every
// prompt position i and every query head h (heads in increasing order within a row, rows
// in increasing order), followed by EndPrefill(layer); then, for each decode step and each
// layer in order and each KV head in order, Select followed by Observe.
//
// Positions are absolute token positions in the sequence, 0-based; the prompt fills
// 0..promptLen−1 and the token decoded at step s sits at promptLen+s.
type Policy interface {
	// Name is a short identifier such as "full" or "mpcache".
	Name() string
	// Start begins a sequence with a prompt of promptLen ≥ 1 tokens for a model of shape cfg.
	Start(cfg Config, promptLen int) error
	// PrefillRow gives the causal attention probabilities of query head h at prompt
	// position i of a layer over keys 0..i (len(probs) = i+1). probs is only valid during
	// the call.
	PrefillRow(layer, head, i int, probs []float64)
	// EndPrefill ends the prefill of a layer; static eviction happens here.
	EndPrefill(layer int) error
	// Select returns the strictly increasing positions that the query heads of KV head
	// kvHead in layer attend over when decoding position pos. q holds the rotated queries
	// of those query heads (GroupSize of them, HeadDim each); cache holds the layer's
	// keys and values for positions 0..pos. Neither may be modified. The result must
	// contain pos (the new token).
	Select(layer, kvHead, pos int, q [][]float64, cache *LayerCache) ([]int, error)
	// Observe gives the attention probabilities over the positions Select returned, one
	// row per query head of the group. The slices are only valid during the call.
	Observe(layer, kvHead int, sel []int, probs [][]float64)
}

// Selection records the positions one KV head attended over at one decode step.
type Selection struct {
	Step    int   // decode step, 0 for the first token after the prompt
	Layer   int   // layer index
	KVHead  int   // KV head index; its GroupSize query heads share the selection
	Pos     int   // position of the token being decoded
	Indices []int // attended positions, strictly increasing, ending with Pos
}

// Full is the full cache: every decode step attends over every position so far.
type Full struct{}

// Name returns "full".
func (Full) Name() string { return "full" }

// Start does nothing.
func (Full) Start(Config, int) error { return nil }

// PrefillRow does nothing.
func (Full) PrefillRow(int, int, int, []float64) {}

// EndPrefill does nothing.
func (Full) EndPrefill(int) error { return nil }

// Select returns 0..pos.
func (Full) Select(_, _, pos int, _ [][]float64, _ *LayerCache) ([]int, error) {
	return prefix(pos + 1), nil
}

// Observe does nothing.
func (Full) Observe(int, int, []int, [][]float64) {}

// prefix returns 0..n−1.
func prefix(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
