package model

import "fmt"

// H2O keeps heavy hitters by accumulated attention plus a recent window, per layer and KV
// head, evicting permanently:
//
//   - Each cached position j of KV head g has a score acc[j], the sum of the attention
//     probabilities it has received from every query so far (all prompt queries during
//     prefill, then each decode query), summed over the query heads of g.
//   - evict(C) of an increasing position list C is C itself when |C| ≤ Heavy+Recent, else
//     the last Recent positions of C plus the TopK(acc, rest, Heavy) of the others.
//   - After prefill, kept = evict(0..T−1). Decoding pos attends over kept ∪ {pos}
//     (at most Heavy+Recent+1 positions), adds the probabilities to acc, and sets
//     kept = evict(kept ∪ {pos}).
type H2O struct {
	Heavy  int // ≥ 0 heavy hitters
	Recent int // ≥ 0 most recent positions

	group int
	acc   [][][]float64 // [layer][kv head][position]
	kept  [][][]int     // [layer][kv head]
}

// NewH2O returns an H2O policy with the given budgets.
func NewH2O(heavy, recent int) *H2O { return &H2O{Heavy: heavy, Recent: recent} }

// Name returns "h2o".
func (*H2O) Name() string { return "h2o" }

// Start resets the scores for a new sequence.
func (p *H2O) Start(cfg Config, promptLen int) error {
	if p.Heavy < 0 || p.Recent < 0 {
		return fmt.Errorf("h2o needs heavy ≥ 0 and recent ≥ 0, have %d and %d", p.Heavy, p.Recent)
	}
	p.group = cfg.GroupSize()
	p.acc = make([][][]float64, cfg.Layers)
	p.kept = make([][][]int, cfg.Layers)
	for l := range p.acc {
		p.acc[l] = make([][]float64, cfg.KVHeads)
		p.kept[l] = make([][]int, cfg.KVHeads)
		for g := range p.acc[l] {
			p.acc[l][g] = make([]float64, promptLen)
		}
	}
	return nil
}

// PrefillRow accumulates the row into its KV head's scores.
func (p *H2O) PrefillRow(layer, head, _ int, probs []float64) {
	acc := p.acc[layer][head/p.group]
	for j, v := range probs {
		acc[j] += v
	}
}

// EndPrefill evicts down to the budget.
func (p *H2O) EndPrefill(layer int) error {
	for g, acc := range p.acc[layer] {
		p.kept[layer][g] = p.evict(acc, prefix(len(acc)))
	}
	return nil
}

// Select returns the kept positions and pos.
func (p *H2O) Select(layer, kvHead, pos int, _ [][]float64, _ *LayerCache) ([]int, error) {
	kept := p.kept[layer][kvHead]
	if len(kept) > 0 && kept[len(kept)-1] >= pos {
		return nil, fmt.Errorf("h2o: position %d decoded twice", pos)
	}
	acc := p.acc[layer][kvHead]
	for len(acc) <= pos {
		acc = append(acc, 0)
	}
	p.acc[layer][kvHead] = acc
	return append(kept[:len(kept):len(kept)], pos), nil
}

// Observe accumulates the probabilities and evicts.
func (p *H2O) Observe(layer, kvHead int, sel []int, probs [][]float64) {
	acc := p.acc[layer][kvHead]
	for _, row := range probs {
		for j, v := range row {
			acc[sel[j]] += v
		}
	}
	p.kept[layer][kvHead] = p.evict(acc, sel)
}

func (p *H2O) evict(acc []float64, c []int) []int {
	if len(c) <= p.Heavy+p.Recent {
		return append([]int(nil), c...)
	}
	split := len(c) - p.Recent
	heavy := TopK(acc, c[:split], p.Heavy)
	return append(heavy, c[split:]...)
}
