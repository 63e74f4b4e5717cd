package cache

import (
	"fmt"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
)

// StreamingLLM attends over attention sinks and a recent window, as model.StreamingLLM:
// decoding position pos reads positions 0..min(Sinks, pos+1)−1 and
// max(Sinks, pos+1−Window)..pos. The indices depend on pos alone, so they are public: the
// policy keeps exactly those rows (a public Take), evicts the rest for good, and needs no
// secure selection.
//
// Cost per decode step and layer, beyond the attention products of the full cache over
// S = min(pos+1, Sinks+Window) rows: none. As with the full cache, rows are fixed product
// operands in 2pc (one round per step fixes the new row), so a step opens only the queries and
// the probabilities.
type StreamingLLM struct {
	spec model.StreamingLLM

	cfg    model.Config
	prompt int
	layers []streamLayer
	trace  func(layer int, pos *mpc.Share)
}

type streamLayer struct {
	k, v *mpc.Share // [KVHeads, rows, HeadDim], fixed; nil for no rows
	pos  []int      // positions of the rows
	next int        // position of the next decoded token; 0 before the layer's prefill
}

// NewStreamingLLM returns the policy with the given sinks (≥ 0) and window (≥ 1, counting the
// new token).
func NewStreamingLLM(sinks, window int) *StreamingLLM {
	return &StreamingLLM{spec: model.StreamingLLM{Sinks: sinks, Window: window}}
}

// Name returns "streaming".
func (*StreamingLLM) Name() string { return "streaming" }

// Start checks the parameters and empties the cache.
func (s *StreamingLLM) Start(_ mpc.Engine, cfg model.Config, promptLen int) error {
	if err := s.spec.Start(cfg, promptLen); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	s.cfg, s.prompt, s.layers = cfg, promptLen, make([]streamLayer, cfg.Layers)
	return nil
}

// Prefill keeps the prompt rows the first decode step reads (a public Take; one round fixes
// them).
func (s *StreamingLLM) Prefill(e mpc.Engine, layer int, k, v, _ *mpc.Share) error {
	if err := checkLayer("streaming", layer, len(s.layers)); err != nil {
		return err
	}
	o := &ops{e: e}
	keep := s.kept()
	s.install(o, layer, o.take(k, 1, keep), o.take(v, 1, keep))
	return o.err
}

// kept returns the prompt positions the first decode step reads.
func (s *StreamingLLM) kept() []int {
	sel := s.selection(s.prompt)
	return sel[:len(sel)-1] // the new token comes with the step
}

// install stores the rows of the kept prompt positions, fixed.
func (s *StreamingLLM) install(o *ops, layer int, k, v *mpc.Share) {
	keep := s.kept()
	ly := streamLayer{pos: keep, next: s.prompt}
	if len(keep) > 0 {
		ly.k, ly.v = k, v
		o.fix(&ly.k, &ly.v)
	}
	s.layers[layer] = ly
}

// selection is the public list of positions that decoding pos reads.
func (s *StreamingLLM) selection(pos int) []int {
	sel, _ := s.spec.Select(0, 0, pos, nil, nil) // never fails
	return sel
}

// Scores appends the step's row (fixed, one round), drops the rows that left the window, and
// returns q·Kᵀ over the rest: one product that opens only q in 2pc, and one truncation.
func (s *StreamingLLM) Scores(e mpc.Engine, layer int, q, k, v *mpc.Share) (*mpc.Share, error) {
	if err := checkLayer("streaming", layer, len(s.layers)); err != nil {
		return nil, err
	}
	ly := &s.layers[layer]
	if ly.next == 0 {
		return nil, fmt.Errorf("cache: streaming: step on layer %d before its prefill", layer)
	}
	o := &ops{e: e}
	o.fix(&k, &v)
	sel := s.selection(ly.next)
	cached := append(ly.pos, ly.next)
	idx := make([]int, 0, len(sel))
	at := 0
	for _, p := range sel {
		for cached[at] != p {
			at++
		}
		idx = append(idx, at)
	}
	ly.k = o.take(o.concat(1, ly.k, k), 1, idx)
	ly.v = o.take(o.concat(1, ly.v, v), 1, idx)
	ly.pos = sel
	ly.next++
	if s.trace != nil && o.err == nil {
		s.trace(layer, o.public(broadcastPositions(sel, q.Shape[0])))
	}
	return o.matmulTrunc(q, o.transpose(ly.k)), o.err
}

// Mix returns probs·V over the attended rows (opens only the probabilities in 2pc).
func (s *StreamingLLM) Mix(e mpc.Engine, layer int, probs *mpc.Share) (*mpc.Share, error) {
	if err := checkLayer("streaming", layer, len(s.layers)); err != nil {
		return nil, err
	}
	o := &ops{e: e}
	return o.matmulTrunc(probs, s.layers[layer].v), o.err
}

// broadcastPositions returns the public [kvHeads, len(pos)] tensor of pos for every KV head.
func broadcastPositions(pos []int, kvHeads int) *mpc.Tensor {
	t := mpc.NewTensor(kvHeads, len(pos))
	for g := range kvHeads {
		for i, p := range pos {
			t.Data[g*len(pos)+i] = uint64(p)
		}
	}
	return t
}

// checkLayer reports a layer index outside [0, layers), or a policy used before Start.
func checkLayer(policy string, layer, layers int) error {
	if layer < 0 || layer >= layers {
		return fmt.Errorf("cache: %s: layer %d outside [0, %d) (was Start called?)", policy, layer, layers)
	}
	return nil
}
