package cache

import (
	"fmt"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/protocols"
)

// evict runs MPCache's look-once static eviction of an owner layer from its causal prefill
// probabilities probs ([KVHeads, Group·T, T]) and records the kept prompt positions as one-hot
// rows in increasing position order (ly.kept, fixed), their count and the positions.
//
// Importance comes from the window of the last W = max(1, ⌊WindowRatio·T⌋) prompt queries
// (model.MPCache.Window). The head average of model.MPCache is left out: dividing by the
// public head count changes no ranking and no threshold test once the threshold is scaled.
//
//   - Fixed budget (default): s_j is the sum over every head and window row of the
//     probabilities of key j (local); the mask of the top K = max(1, ⌊StaticRatio·T⌋) comes
//     from protocols.TopKMask over T (T(T−1)/2 comparisons: the dominant cost, see doc.go).
//   - Threshold (Threshold τ > 0): for each window row r and key j, the bit
//     [Σ_h P_h[r][j] ≥ τ·Heads] (one LTZ batch of W·T), their count per key (local), and
//     [count ≥ 1] (one LTZ batch of T). The kept count K = Σ_j is then opened: this variant
//     reveals how many prompt tokens each owner layer keeps (nothing else). The test runs on
//     fixed-point probabilities, so τ·Heads is rounded to a multiple of 2^−f.
//
// The mask then becomes one-hot rows by compact, and the rows are fixed (2pc: one round, K·T
// elements) so that every layer of the owner's group gathers with them opening only its rows.
func (m *MPCache) evict(o *ops, ly *mpLayer, probs *mpc.Share) {
	T, W := m.prompt, m.spec.Window(m.prompt)
	kv, g := m.cfg.KVHeads, m.cfg.GroupSize()
	rows := make([]int, 0, g*W)
	for h := range g {
		rows = append(rows, span(h*T+T-W, h*T+T)...)
	}
	win := o.reshape(o.take(probs, 1, rows), kv*g, W, T)
	var mask *mpc.Share
	var K int
	if m.p.Threshold > 0 {
		mask, K = m.threshold(o, o.sumAxis(win, 0))
	} else {
		K = m.budget()
		if K < T {
			s := o.sumAxis(o.reshape(win, kv*g*W, T), 0)
			mask = o.do("top-k", func() (*mpc.Share, error) {
				return protocols.TopKMask(o.e, o.reshape(s, 1, T), K, protocols.TopKOptions{})
			})
			mask = o.reshape(mask, T)
		}
	}
	ly.keptN = K
	switch {
	case K == T:
		ly.keptPos = o.public(ints(span(0, T), T))
	case K > 0:
		ly.kept = compact(o, mask, K)
		o.fix(&ly.kept)
		ly.keptPos = o.reshape(o.matmulPublic(ly.kept, ints(span(0, T), T, 1)), K)
	}
}

// threshold returns the mask of the keys that some window row of a ([W, T], summed over the
// heads) gives at least Threshold·Heads, and the opened count of them.
func (m *MPCache) threshold(o *ops, a *mpc.Share) (*mpc.Share, int) {
	W, T := a.Shape[0], a.Shape[1]
	tau := mpc.Encode(m.p.Threshold*float64(m.cfg.Heads), o.e.Frac())
	below := o.do("ltz", func() (*mpc.Share, error) {
		return o.e.LTZ(o.addPublic(a, mpc.Scalar(-tau)))
	})
	// count − 1 = W − 1 − Σ_r below; the key is kept when it is not negative.
	none := o.do("ltz", func() (*mpc.Share, error) {
		return o.e.LTZ(o.addPublic(o.neg(o.sumAxis(below, 0)), mpc.Scalar(uint64(W-1))))
	})
	mask := o.oneMinus(none)
	if o.err != nil {
		return nil, 0
	}
	n, err := o.e.Open(o.sumAxis(o.reshape(mask, 1, T), 1))
	if err != nil {
		o.err = fmt.Errorf("cache: opening the kept count at %q: %w", o.e.Meter().Path(), err)
		return nil, 0
	}
	K := int(int64(n.Data[0]))
	if K < 0 || K > T {
		o.err = fmt.Errorf("cache: threshold eviction kept %d of %d tokens", K, T)
		return nil, 0
	}
	return mask, K
}

// compact turns a secret 0/1 mask over T positions with a public number K of ones (0 < K < T)
// into K one-hot rows [K, T] selecting those positions in increasing order. With C_j the count
// of ones at positions ≤ j (local prefix sums), row s selects j exactly when C_{j−1} ≤ s < C_j,
// so sel[s][j] = [C_j > s] − [C_{j−1} > s]: a difference of thermometer codes, which are local
// prefix sums of the one-hot of C_j (engine OneHot of T−1 indices into K+1 columns; C_{T−1} = K
// and C_{−1} = 0 are public). Cost: one OneHot round; 2pc 8 bytes per position online and
// 8·2^⌈log2(K+1)⌉ offline; 3pc 8 + 8·(K+1) bytes per position online.
func compact(o *ops, mask *mpc.Share, K int) *mpc.Share {
	T := mask.Shape[0]
	tri := mpc.NewTensor(T, T-1) // C_j = Σ_{i ≤ j} mask_i, for j < T−1
	for i := range T {
		for j := i; j < T-1; j++ {
			tri.Data[i*(T-1)+j] = 1
		}
	}
	C := o.reshape(o.matmulPublic(o.reshape(mask, 1, T), tri), T-1)
	oh := o.do("one-hot", func() (*mpc.Share, error) { return protocols.OneHot(o.e, C, K+1) })
	cum := mpc.NewTensor(K+1, K) // Σ_{t ≤ s} oh[t] = [C ≤ s]
	for t := range K + 1 {
		for s := t; s < K; s++ {
			cum.Data[t*K+s] = 1
		}
	}
	gt := o.oneMinus(o.matmulPublic(oh, cum)) // [C_j > s], [T−1, K]
	therm := o.concat(0, o.public(mpc.NewTensor(1, K)), gt, o.public(filled(1, 1, K)))
	return o.transpose(o.sub(o.slice(therm, 0, 1, T+1), o.slice(therm, 0, 0, T)))
}

// gatherKept returns the rows of k and v ([KVHeads, T, HeadDim]) that the fixed one-hot rows
// kept ([K, T]) select, in their order: one product of kept with the T rows of all heads'
// keys and values side by side (2pc: opens those rows, 8·2·KVHeads·HeadDim bytes per position;
// 3pc: 8 bytes per output element), exact.
func (m *MPCache) gatherKept(o *ops, kept, k, v *mpc.Share) (kk, vv *mpc.Share) {
	kv, hd := m.cfg.KVHeads, m.cfg.HeadDim()
	T, K := kept.Shape[1], kept.Shape[0]
	flat := func(x *mpc.Share) *mpc.Share { return o.reshape(o.permute(x, 1, 0, 2), T, kv*hd) }
	g := o.do("gather", func() (*mpc.Share, error) {
		return protocols.Gather(o.e, kept, o.concat(1, flat(k), flat(v)))
	})
	back := func(x *mpc.Share) *mpc.Share { return o.permute(o.reshape(x, K, kv, hd), 1, 0, 2) }
	return back(o.slice(g, 1, 0, kv*hd)), back(o.slice(g, 1, kv*hd, 2*kv*hd))
}
