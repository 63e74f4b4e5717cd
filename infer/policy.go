package infer

import (
	"fmt"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
)

// Policy decides which cached keys and values each layer's attention reads while decoding: the
// secure counterpart of model.Policy, whose plaintext simulations it follows index for index.
// It owns the layers' KV caches (held as shares) and may keep state across layers (cross-layer
// index sharing). The number of rows a step attends to must depend only on public lengths.
//
// Call order for one sequence: Start; Prefill for each layer in order; then, for each decode
// step and each layer in order, Step followed by Observe.
//
// Shapes: K and V rows are [KVHeads, rows, HeadDim]; queries of a decode step are
// [KVHeads, Group, HeadDim] (the query heads that read one KV head, in order); prefill
// attention probabilities are [KVHeads, Group·T, T] with rows ordered (query head, position).
type Policy interface {
	// Name is a short identifier such as "full" or "mpcache".
	Name() string
	// Start begins a sequence with a prompt of promptLen tokens on a model of shape cfg.
	Start(e mpc.Engine, cfg model.Config, promptLen int) error
	// Prefill receives a layer's prompt keys and values and the prompt's causal attention
	// probabilities, and keeps what the layer attends to later (static eviction happens here).
	Prefill(e mpc.Engine, layer int, k, v, probs *mpc.Share) error
	// Step appends a decode step's key and value ([KVHeads, 1, HeadDim]) and returns the keys
	// and values the step's queries q attend to, [KVHeads, S, HeadDim] for a public S.
	Step(e mpc.Engine, layer int, q, k, v *mpc.Share) (keys, values *mpc.Share, err error)
	// Observe receives the step's attention probabilities over the returned rows
	// ([KVHeads, Group, S]).
	Observe(e mpc.Engine, layer int, probs *mpc.Share) error
}

// Full attends over the whole cache: the baseline. In 2pc its keys and values are fixed
// operands (see mpc.Engine.Fix): every row is masked once when it enters the cache, so a decode
// step opens only the query and the probabilities, not the cache.
type Full struct {
	k, v []*mpc.Share
}

// NewFull returns the full-cache policy.
func NewFull() *Full { return &Full{} }

// Name is "full".
func (*Full) Name() string { return "full" }

// Start empties the cache.
func (f *Full) Start(_ mpc.Engine, cfg model.Config, _ int) error {
	f.k, f.v = make([]*mpc.Share, cfg.Layers), make([]*mpc.Share, cfg.Layers)
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
	f.k[layer], f.v[layer] = kv[0], kv[1]
	return nil
}

// Step appends the new row and returns the whole cache.
func (f *Full) Step(e mpc.Engine, layer int, _, k, v *mpc.Share) (*mpc.Share, *mpc.Share, error) {
	if layer < 0 || layer >= len(f.k) || f.k[layer] == nil {
		return nil, nil, fmt.Errorf("infer: full cache: step on layer %d before its prefill", layer)
	}
	kv, err := e.Fix(k, v)
	if err != nil {
		return nil, nil, err
	}
	if f.k[layer], err = mpc.Concat(1, f.k[layer], kv[0]); err != nil {
		return nil, nil, err
	}
	if f.v[layer], err = mpc.Concat(1, f.v[layer], kv[1]); err != nil {
		return nil, nil, err
	}
	return f.k[layer], f.v[layer], nil
}

// Observe does nothing.
func (*Full) Observe(mpc.Engine, int, *mpc.Share) error { return nil }
