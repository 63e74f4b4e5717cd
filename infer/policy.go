package infer

import (
	"fmt"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
)

// Policy decides which cached keys and values each layer's attention reads while decoding: the
// secure counterpart of model.Policy, whose plaintext simulations it follows index for index.
// It owns the layers' KV caches (held as shares), reads them for the step's attention (so a
// policy that selects rows may score and mix through its selection without gathering keys and
// values), and may keep state across layers (cross-layer index sharing). The number of rows a
// step attends to must depend only on public lengths.
//
// Call order for one sequence: Start; Prefill for each layer in order; then, for each decode
// step and each layer in order, Scores followed by Mix.
//
// Shapes: K and V rows are [KVHeads, rows, HeadDim]; queries of a decode step are
// [KVHeads, Group, HeadDim] (the query heads that read one KV head, in order, pre-scaled by
// 1/√HeadDim); prefill attention probabilities are [KVHeads, Group·T, T] with rows ordered
// (query head, position).
type Policy interface {
	// Name is a short identifier such as "full" or "mpcache".
	Name() string
	// Start begins a sequence with a prompt of promptLen tokens on a model of shape cfg.
	Start(e mpc.Engine, cfg model.Config, promptLen int) error
	// Prefill receives a layer's prompt keys and values and the prompt's causal attention
	// probabilities, and keeps what the layer attends to later (static eviction happens here).
	Prefill(e mpc.Engine, layer int, k, v, probs *mpc.Share) error
	// Scores appends a decode step's key and value ([KVHeads, 1, HeadDim]) and returns the
	// attention scores q·kᵀ of the step's queries over the S rows the step attends to,
	// [KVHeads, Group, S] in fixed point, for a public S.
	Scores(e mpc.Engine, layer int, q, k, v *mpc.Share) (*mpc.Share, error)
	// Mix receives the step's attention probabilities over the rows of Scores
	// ([KVHeads, Group, S]) and returns their weighted sum of those rows' values,
	// [KVHeads, Group, HeadDim]. Policies that learn from attention (H2O) observe it here.
	Mix(e mpc.Engine, layer int, probs *mpc.Share) (*mpc.Share, error)
}

// Full attends over the whole cache: the baseline. Its keys and values are fixed operands
// (see mpc.Engine.Fix), kept as mpc.Rows: in 2pc every row is masked once when it enters the
// cache, so a decode step opens only the query and the probabilities, not the cache, and
// products read the cache in place, so a step copies only its new row.
type Full struct {
	k, v []*mpc.Rows
}

// NewFull returns the full-cache policy.
func NewFull() *Full { return &Full{} }

// Name is "full".
func (*Full) Name() string { return "full" }

// Start empties the cache.
func (f *Full) Start(_ mpc.Engine, cfg model.Config, _ int) error {
	f.k, f.v = make([]*mpc.Rows, cfg.Layers), make([]*mpc.Rows, cfg.Layers)
	return nil
}

// Prefill keeps the prompt's keys and values (fixed in 2pc, one round for both).
func (f *Full) Prefill(e mpc.Engine, layer int, k, v, _ *mpc.Share) error {
	if layer < 0 || layer >= len(f.k) {
		return fmt.Errorf("infer: full cache: layer %d out of range", layer)
	}
	kv, err := e.Fix(k, v)
	if err != nil {
		return err
	}
	if f.k[layer], err = mpc.NewRows(kv[0]); err != nil {
		return err
	}
	f.v[layer], err = mpc.NewRows(kv[1])
	return err
}

// Scores appends the new row (fixed in 2pc, one round) and returns q·Kᵀ over the whole
// cache: a product that opens only q in 2pc, and one truncation.
func (f *Full) Scores(e mpc.Engine, layer int, q, k, v *mpc.Share) (*mpc.Share, error) {
	if layer < 0 || layer >= len(f.k) || f.k[layer] == nil {
		return nil, fmt.Errorf("infer: full cache: step on layer %d before its prefill", layer)
	}
	kv, err := e.Fix(k, v)
	if err != nil {
		return nil, err
	}
	if err := f.k[layer].Append(kv[0]); err != nil {
		return nil, err
	}
	if err := f.v[layer].Append(kv[1]); err != nil {
		return nil, err
	}
	return e.MatMulRows(q, f.k[layer], true, e.Frac())
}

// Mix returns probs·V over the whole cache (opens only the probabilities in 2pc).
func (f *Full) Mix(e mpc.Engine, layer int, probs *mpc.Share) (*mpc.Share, error) {
	if layer < 0 || layer >= len(f.v) || f.v[layer] == nil {
		return nil, fmt.Errorf("infer: full cache: mix on layer %d before its prefill", layer)
	}
	return e.MatMulRows(probs, f.v[layer], false, e.Frac())
}
