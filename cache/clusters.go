package cache

import (
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/protocols"
)

// represent computes the representatives of the clusters of an owner layer that are complete
// but have none yet: a level-2 cluster's element-wise maximum and minimum of its Cluster2 keys,
// a level-1 cluster's from its children's, then each cluster's blend α·r_max + (1−α)·r_min,
// truncated once and fixed, which is all that scoring reads. The blends are fixed together with
// the operands with (the layer's rows), in one round (2pc) for all.
//
// Only complete clusters are scored: the sink and the newest cluster are forced, and every
// other cluster is complete. So a representative is computed once, after the step that
// completes its cluster (after prefill: every complete cluster of the kept rows at once; in
// decode: at the start of the next step, before its selection reads them), and never changes:
// this is the incremental maintenance of the spec, with the growing newest cluster's running
// maximum, which nothing reads, left out. A step that finds no new complete cluster costs
// nothing here; one that finds a level-2 cluster costs protocols.Max over rows of Cluster2 for
// 2·KVHeads·HeadDim rows and one truncation (its fixing shares the round of the step's new
// row); one that also finds a level-1 cluster adds protocols.Max over rows of
// Cluster1/Cluster2.
//
// keys are the layer's rows when they are not stored yet (prefill); nil reads the stored ones.
func (m *MPCache) represent(o *ops, ly *mpLayer, keys *mpc.Share, with ...**mpc.Share) {
	b2, b1 := m.blends(o, ly, keys)
	o.fix(append(with, &b2, &b1)...)
	if b2 != nil {
		ly.blend2 = o.concat(1, ly.blend2, b2)
	}
	if b1 != nil {
		ly.blend1 = o.concat(1, ly.blend1, b1)
	}
}

// blends appends the new complete level-2 clusters' maxima and minima to ly.reps and returns
// the new blends of both levels, [KVHeads, n, HeadDim] each, unfixed (nil for none), reading the
// keys from keys if given, else from the layer's rows.
func (m *MPCache) blends(o *ops, ly *mpLayer, keys *mpc.Share) (b2, b1 *mpc.Share) {
	c1, c2 := m.p.Cluster1, m.p.Cluster2
	kids := c1 / c2
	kv, hd := m.cfg.KVHeads, m.cfg.HeadDim()
	have2, have1 := 0, 0
	if ly.blend2 != nil {
		have2 = ly.blend2.Shape[1]
	}
	if ly.blend1 != nil {
		have1 = ly.blend1.Shape[1]
	}
	n2, n1 := ly.n/c2-have2, ly.n/c1-have1 // new complete clusters
	if n2 == 0 || o.err != nil {
		return nil, nil
	}
	defer o.scope("represent")()
	// [KVHeads, n2, HeadDim, Cluster2] keys of the new level-2 clusters.
	lo, hi := have2*c2, (have2+n2)*c2
	var rows *mpc.Share
	if keys != nil {
		rows = o.slice(keys, 1, lo, hi)
	} else {
		rows = o.rowSlice(ly.k, lo, hi)
	}
	x := o.permute(o.reshape(rows, kv, n2, c2, hd), 0, 1, 3, 2)
	r2 := maxMin(o, x)
	ly.reps = o.concat(1, ly.reps, r2)
	pairs := []*mpc.Share{o.reshape(r2, kv*n2, 2, hd)}
	if n1 > 0 {
		ch := o.reshape(o.slice(ly.reps, 1, have1*kids, (have1+n1)*kids), kv, n1, kids, 2, hd)
		// maxima of the children's maxima and minima of their minima: flip the minima's sign
		// so that one maximum does both, then flip it back (maxMin does the same).
		ch = o.mulPublic(ch, signs())
		r1 := o.mulPublic(maxOver(o, o.permute(ch, 0, 1, 3, 4, 2)), signs()) // [KVHeads, n1, 2, HeadDim]
		pairs = append(pairs, o.reshape(r1, kv*n1, 2, hd))
	}
	// α·max + (1−α)·min, α in fixed point: one truncation for both levels.
	f := o.e.Frac()
	w := mpc.NewTensor(2, 1)
	w.Data[0], w.Data[1] = m.alphaFix, mpc.Encode(1, f)-m.alphaFix
	b := o.trunc(o.sumAxis(o.mulPublic(o.concat(0, pairs...), w), 1))
	b2 = o.reshape(o.slice(b, 0, 0, kv*n2), kv, n2, hd)
	if n1 > 0 {
		b1 = o.reshape(o.slice(b, 0, kv*n2, kv*(n2+n1)), kv, n1, hd)
	}
	return b2, b1
}

// maxMin returns the element-wise maximum and minimum along the last axis of x, [..., 2, d]
// for x of shape [..., d, c]: one protocols.Max over x and −x.
func maxMin(o *ops, x *mpc.Share) *mpc.Share {
	r := len(x.Shape)
	lead := x.Shape[:r-2]
	shape := append(append([]int{}, lead...), 1, x.Shape[r-2], x.Shape[r-1])
	both := o.concat(r-2, o.reshape(x, shape...), o.reshape(o.neg(x), shape...))
	return o.mulPublic(maxOver(o, both), signs())
}

// maxOver is protocols.Max along the last axis, which it drops.
func maxOver(o *ops, x *mpc.Share) *mpc.Share {
	y := o.do("max", func() (*mpc.Share, error) { return protocols.Max(o.e, x) })
	if o.err != nil {
		return nil
	}
	return o.reshape(y, x.Shape[:len(x.Shape)-1]...)
}

// signs is the public [2, 1] tensor (1, −1): it flips the minimum half of a [..., 2, d] pair.
func signs() *mpc.Tensor {
	t := mpc.NewTensor(2, 1)
	t.Data[0], t.Data[1] = 1, ^uint64(0)
	return t
}
