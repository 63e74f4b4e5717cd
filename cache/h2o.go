package cache

import (
	"fmt"
	"math/bits"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/protocols"
)

// H2O keeps heavy hitters by accumulated attention plus a recent window, per layer and KV head,
// as model.H2O, whose selections it reproduces index for index. Which positions are heavy
// hitters is secret; how many, and the recent window's positions, are public.
//
// Each layer holds, per KV head, up to Heavy "heavy" slots (key, value, accumulated attention
// and position, all secret) and the last Recent positions (public positions; keys and values
// fixed in 2pc, accumulated attention secret). A decode step attends over the slots, the window
// and the new token (at most Heavy+Recent+1 rows) and adds the step's probabilities, summed
// over the KV head's query heads, to the accumulated scores. When the window overflows, its
// oldest row competes with the slots: model.H2O keeps the TopK(Heavy) of those Heavy+1, which
// is all of them but the one with the least accumulated attention (of equal ones, the latest
// position). The policy finds it by Argmax over acc·2^P − position (P bits hold any position,
// so ties break exactly as in the model) and writes the window's row into that slot, or keeps
// the slots when the window's row loses: one product of the one-hot with the differences.
//
// Prefill keeps the last Recent prompt positions and the top Heavy of the others by
// accumulated prefill attention (protocols.TopK over T−Recent candidates, then one gather
// of keys, values and scores); prompts of at most Heavy+Recent tokens are kept whole.
//
// Cost per decode step and layer, beyond the attention products: when evicting, Argmax over
// KVHeads rows of Heavy+1 (protocols.Argmax) and one Mul of Heavy·(2·HeadDim+2) elements per KV
// head; in 2pc the changed slots are fixed (8 bytes per slot element) with the next step's new
// row, in the one round that the full cache spends on the new row.
type H2O struct {
	Heavy, Recent int

	cfg    model.Config
	prompt int
	shift  uint // P: 2^P exceeds every position
	layers []h2oLayer
	trace  func(layer int, pos *mpc.Share)
}

// h2oLayer is one layer's cache; "old" rows are the heavy slots, "recent" the window.
type h2oLayer struct {
	// slots: [KVHeads, o, HeadDim] (fixed; an eviction leaves them unfixed until the next
	// Scores), [KVHeads, o], [KVHeads, o]
	k, v, acc, pos *mpc.Share
	o              int
	rk, rv, racc   *mpc.Share // window: [KVHeads, r, HeadDim] (fixed), [KVHeads, r]
	first, r       int        // position of the window's first row, and its length
	started        bool
}

// NewH2O returns the policy with the given budgets (both ≥ 0).
func NewH2O(heavy, recent int) *H2O { return &H2O{Heavy: heavy, Recent: recent} }

// Name returns "h2o".
func (*H2O) Name() string { return "h2o" }

// Start checks the budgets and empties the cache.
func (h *H2O) Start(_ mpc.Engine, cfg model.Config, promptLen int) error {
	if h.Heavy < 0 || h.Recent < 0 {
		return fmt.Errorf("cache: h2o needs heavy ≥ 0 and recent ≥ 0, have %d and %d", h.Heavy, h.Recent)
	}
	h.cfg, h.prompt = cfg, promptLen
	h.shift = uint(bits.Len(uint(cfg.MaxSeq)))
	h.layers = make([]h2oLayer, cfg.Layers)
	return nil
}

// Prefill sums each position's prefill attention over the KV head's query heads and query
// positions (local) and keeps the window and the heavy hitters.
func (h *H2O) Prefill(e mpc.Engine, layer int, k, v, probs *mpc.Share) error {
	if err := checkLayer("h2o", layer, len(h.layers)); err != nil {
		return err
	}
	o := &ops{e: e}
	h.keep(o, layer, k, v, o.sumAxis(probs, 1))
	return o.err
}

// keep evicts the prompt's rows down to the budget: k and v [KVHeads, T, HeadDim], acc
// [KVHeads, T].
func (h *H2O) keep(o *ops, layer int, k, v, acc *mpc.Share) {
	T := h.prompt
	r := min(h.Recent, T)
	split := T - r // candidates for the heavy slots: 0..split−1
	ly := h2oLayer{first: split, r: r}
	if r > 0 {
		ly.rk, ly.rv, ly.racc = o.slice(k, 1, split, T), o.slice(v, 1, split, T), o.slice(acc, 1, split, T)
	}
	switch {
	case split == 0:
	case split <= h.Heavy:
		ly.o = split
		ly.k, ly.v, ly.acc = o.slice(k, 1, 0, split), o.slice(v, 1, 0, split), o.slice(acc, 1, 0, split)
		ly.pos = o.public(broadcastPositions(span(0, split), h.cfg.KVHeads))
	case h.Heavy > 0:
		end := o.scope("evict")
		ly.o = h.Heavy
		kc, vc, ac := o.slice(k, 1, 0, split), o.slice(v, 1, 0, split), o.slice(acc, 1, 0, split)
		sel, idx := topk(o, "h2o", ac, h.Heavy)
		hd := h.cfg.HeadDim()
		g := o.do("gather", func() (*mpc.Share, error) {
			return protocols.Gather(o.e, sel, o.concat(2, kc, vc, o.reshape(ac, h.cfg.KVHeads, split, 1)))
		})
		ly.k, ly.v = o.slice(g, 2, 0, hd), o.slice(g, 2, hd, 2*hd)
		ly.acc = o.reshape(o.slice(g, 2, 2*hd, 2*hd+1), h.cfg.KVHeads, h.Heavy)
		ly.pos = idx
		end()
	}
	h.install(o, layer, ly)
}

// install fixes a layer's kept keys and values (one round) and stores the layer.
func (h *H2O) install(o *ops, layer int, ly h2oLayer) {
	o.fix(&ly.k, &ly.v, &ly.rk, &ly.rv)
	ly.started = true
	h.layers[layer] = ly
}

// Scores appends the step's row and returns q·Kᵀ over the heavy slots, the window and the new
// row: one product that opens only q in 2pc, and one truncation. The row is fixed in one round
// together with the slots that the previous step's eviction rewrote (leave).
func (h *H2O) Scores(e mpc.Engine, layer int, q, k, v *mpc.Share) (*mpc.Share, error) {
	if err := checkLayer("h2o", layer, len(h.layers)); err != nil {
		return nil, err
	}
	ly := &h.layers[layer]
	if !ly.started {
		return nil, fmt.Errorf("cache: h2o: step on layer %d before its prefill", layer)
	}
	o := &ops{e: e}
	o.fix(&k, &v, &ly.k, &ly.v)
	ly.rk, ly.rv = o.concat(1, ly.rk, k), o.concat(1, ly.rv, v)
	ly.r++
	if h.trace != nil && o.err == nil {
		recent := o.public(broadcastPositions(span(ly.first, ly.first+ly.r), h.cfg.KVHeads))
		h.trace(layer, o.concat(1, ly.pos, recent))
	}
	return o.matmulTrunc(q, o.transpose(o.concat(1, ly.k, ly.rk))), o.err
}

// Mix returns probs·V over the rows of Scores, accumulates the probabilities and evicts.
func (h *H2O) Mix(e mpc.Engine, layer int, probs *mpc.Share) (*mpc.Share, error) {
	if err := checkLayer("h2o", layer, len(h.layers)); err != nil {
		return nil, err
	}
	ly := &h.layers[layer]
	o := &ops{e: e}
	out := o.matmulTrunc(probs, o.concat(1, ly.v, ly.rv))
	end := o.scope("evict")
	defer end()
	a := o.sumAxis(probs, 1) // [KVHeads, o + r]; the window's last row is the new one
	if ly.o > 0 {
		ly.acc = o.add(ly.acc, o.slice(a, 1, 0, ly.o))
	}
	w := o.slice(a, 1, ly.o, ly.o+ly.r)
	if ly.r > 1 {
		w = o.concat(1, o.add(o.slice(w, 1, 0, ly.r-1), ly.racc), o.slice(w, 1, ly.r-1, ly.r))
	}
	ly.racc = w
	if ly.r > h.Recent {
		h.leave(o, ly)
	}
	return out, o.err
}

// leave moves the window's oldest row out: into a free heavy slot, into the slot of the
// least-attended slot when it beats that one, or out of the cache.
func (h *H2O) leave(o *ops, ly *h2oLayer) {
	c := h.cfg
	lk, lv, la := o.slice(ly.rk, 1, 0, 1), o.slice(ly.rv, 1, 0, 1), o.slice(ly.racc, 1, 0, 1)
	lp := o.public(broadcastPositions([]int{ly.first}, c.KVHeads))
	ly.rk, ly.rv, ly.racc = o.slice(ly.rk, 1, 1, ly.r), o.slice(ly.rv, 1, 1, ly.r), o.slice(ly.racc, 1, 1, ly.r)
	if ly.r == 1 {
		ly.rk, ly.rv, ly.racc = nil, nil, nil
	}
	ly.first++
	ly.r--
	switch {
	case h.Heavy == 0:
		return
	case ly.o < h.Heavy:
		ly.k, ly.v = o.concat(1, ly.k, lk), o.concat(1, ly.v, lv)
		ly.acc, ly.pos = o.concat(1, ly.acc, la), o.concat(1, ly.pos, lp)
		ly.o++
		return
	}
	// acc·2^P − position ranks as model.TopK does; its smallest is evicted: Argmax of the
	// negation.
	acc := o.concat(1, ly.acc, la)
	pos := o.concat(1, ly.pos, lp)
	key := o.sub(pos, o.mulPublic(acc, mpc.Scalar(1<<h.shift)))
	m := o.do("argmin", func() (*mpc.Share, error) {
		oh, _, err := protocols.Argmax(o.e, key)
		return oh, err
	})
	hd := c.HeadDim()
	slot := o.reshape(o.slice(m, 1, 0, h.Heavy), c.KVHeads, h.Heavy, 1)
	old := o.concat(2, ly.k, ly.v, o.reshape(ly.acc, c.KVHeads, h.Heavy, 1), o.reshape(ly.pos, c.KVHeads, h.Heavy, 1))
	in := o.concat(2, lk, lv, o.reshape(la, c.KVHeads, 1, 1), o.reshape(lp, c.KVHeads, 1, 1))
	upd := o.add(old, o.mul(slot, o.sub(in, old)))
	ly.k, ly.v = o.slice(upd, 2, 0, hd), o.slice(upd, 2, hd, 2*hd) // fixed by the next Scores
	ly.acc = o.reshape(o.slice(upd, 2, 2*hd, 2*hd+1), c.KVHeads, h.Heavy)
	ly.pos = o.reshape(o.slice(upd, 2, 2*hd+1, 2*hd+2), c.KVHeads, h.Heavy)
}
