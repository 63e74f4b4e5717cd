package cache

import (
	"fmt"
	"math/bits"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
)

// MPCache is the MPCache policy (see the package doc): look-once static eviction after each
// owner layer's prefill, a two-level clustered selection per KV head at every decode step, and
// cross-layer index sharing. It follows model.MPCache index for index with the same
// model.MPCacheParams.
type MPCache struct {
	p     model.MPCacheParams
	spec  *model.MPCache
	sched model.Schedule
	cfg   model.Config
	// prompt is T; alphaFix is Alpha in fixed point.
	prompt   int
	alphaFix uint64
	layers   []mpLayer
	trace    func(layer int, pos *mpc.Share)
}

// mpLayer is one layer's cache. Rows are in rank order: the kept prompt positions
// (increasing), then every generated position.
type mpLayer struct {
	k, v    *mpc.Rows // [KVHeads, n, HeadDim], fixed, read in place by the products; nil while n = 0
	n       int       // rows
	started bool

	// Owner layers only.
	kept    *mpc.Share // [K, T] one-hot rows of the kept prompt positions (fixed); nil: all kept
	keptN   int        // K
	keptPos *mpc.Share // [K] the kept positions, plain integers (for tracing)
	reps    *mpc.Share // [KVHeads, C2, 2, HeadDim] max and min of the complete level-2 clusters
	blend1  *mpc.Share // [KVHeads, C1, HeadDim] α·max + (1−α)·min of complete level-1 clusters, fixed
	blend2  *mpc.Share // [KVHeads, C2, HeadDim] the same for level 2
	choice  choice     // this step's selection
}

// choice is one decode step's selection of an owner layer, which sharing layers reuse: the
// attended rows are the sink cluster, the k2 middle level-2 clusters that sel picks, and the
// newest cluster.
type choice struct {
	n, g2, k2 int
	sel       *mpc.Share // [KVHeads, 1, k2, g2−2] one-hot rows over the middle clusters, fixed
}

// NewMPCache checks p and returns the policy.
func NewMPCache(p model.MPCacheParams) (*MPCache, error) {
	spec, err := model.NewMPCache(p)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return &MPCache{p: p, spec: spec}, nil
}

// Name returns "mpcache".
func (*MPCache) Name() string { return "mpcache" }

// Start prepares for a prompt of promptLen tokens.
func (m *MPCache) Start(e mpc.Engine, cfg model.Config, promptLen int) error {
	m.sched = m.p.Schedule
	if m.sched == nil {
		m.sched = model.DefaultSchedule(cfg.Layers)
	}
	if err := m.sched.Validate(cfg.Layers); err != nil {
		return fmt.Errorf("cache: mpcache: %w", err)
	}
	if promptLen < 1 {
		return fmt.Errorf("cache: mpcache: prompt of %d tokens", promptLen)
	}
	m.cfg, m.prompt = cfg, promptLen
	m.alphaFix = mpc.Encode(m.p.Alpha, e.Frac())
	m.layers = make([]mpLayer, cfg.Layers)
	return nil
}

// budget is the kept count of the fixed-budget static eviction, K = max(1, ⌊StaticRatio·T⌋).
func (m *MPCache) budget() int { return max(1, model.FloorFrac(m.p.StaticRatio, m.prompt)) }

// Prefill runs the look-once static eviction on an owner layer (static.go) and gathers the
// kept rows of any layer with its owner's selection, once; the owner also computes the
// representatives of its complete clusters. The kept rows (and the representatives) are fixed
// in one round.
func (m *MPCache) Prefill(e mpc.Engine, layer int, k, v, probs *mpc.Share) error {
	if err := checkLayer("mpcache", layer, len(m.layers)); err != nil {
		return err
	}
	owner := m.sched[layer]
	o := &ops{e: e}
	if owner == layer {
		end := o.scope("evict")
		m.evict(o, &m.layers[layer], probs)
		end()
	} else if !m.layers[owner].started {
		return fmt.Errorf("cache: mpcache: layer %d reuses layer %d, which has not been prefilled", layer, owner)
	}
	own := &m.layers[owner]
	kk, vv := k, v
	if own.kept != nil {
		end := o.scope("gather")
		kk, vv = m.gatherKept(o, own.kept, k, v)
		end()
	}
	ly := m.install(layer, own.keptN)
	if owner == layer {
		m.represent(o, ly, kk, &kk, &vv)
	} else {
		o.fix(&kk, &vv)
	}
	m.store(o, ly, kk, vv)
	return o.err
}

// install starts a layer of n kept rows, which the caller fixes and stores.
func (m *MPCache) install(layer int, n int) *mpLayer {
	ly := &m.layers[layer]
	ly.n, ly.started = n, true
	return ly
}

// store keeps a layer's fixed kept rows k and v ([KVHeads, n, HeadDim]) as its rows.
func (m *MPCache) store(o *ops, ly *mpLayer, k, v *mpc.Share) {
	if ly.n > 0 {
		o.appendRows(&ly.k, k)
		o.appendRows(&ly.v, v)
	}
}

// Scores appends the step's row (fixed, one round). On an owner layer it first computes the
// representatives of the clusters that the previous step completed (represent: fixed in the
// same round), then selects the step's clusters (select below); a sharing layer takes its
// owner's selection of this step. It then returns the scores of the selected rows: the
// product q·Kᵀ over all n rows (which opens
// only q in 2pc), the sink and newest clusters' scores by a public slice, the middle clusters'
// by a product with the fixed one-hot selection (which opens the n scores' middle part in 2pc;
// in 3pc it costs the k2·Cluster2 outputs), and one truncation of the S selected scores.
func (m *MPCache) Scores(e mpc.Engine, layer int, q, k, v *mpc.Share) (*mpc.Share, error) {
	if err := checkLayer("mpcache", layer, len(m.layers)); err != nil {
		return nil, err
	}
	ly := &m.layers[layer]
	if !ly.started {
		return nil, fmt.Errorf("cache: mpcache: step on layer %d before its prefill", layer)
	}
	o := &ops{e: e}
	owner := m.sched[layer]
	if owner == layer {
		m.represent(o, ly, nil, &k, &v)
	} else {
		o.fix(&k, &v)
	}
	o.appendRows(&ly.k, k)
	o.appendRows(&ly.v, v)
	ly.n++
	var tok *mpc.Share // [KVHeads, Group, n] scores at twice the fractional bits
	if owner == layer {
		end := o.scope("select")
		tok, ly.choice = m.selectClusters(o, ly, q)
		end()
	} else {
		own := &m.layers[owner]
		if own.n != ly.n { // both hold the owner's kept rows and every step's row
			return nil, fmt.Errorf("cache: mpcache: layer %d reuses layer %d, which has not selected for this step", layer, owner)
		}
		ly.choice = own.choice
		tok = o.matmulRows(q, ly.k, true, 0)
	}
	end := o.scope("gather")
	scores := o.trunc(m.pick(o, ly.choice, tok))
	end()
	if m.trace != nil && o.err == nil {
		m.trace(layer, m.positions(o, ly.choice, &m.layers[owner]))
	}
	return scores, o.err
}

// Mix returns the probabilities' weighted sum of the selected rows' values: the middle
// clusters' probabilities go back to their rows by a product with the transposed fixed
// selection (which opens the k2·Cluster2 probabilities in 2pc), and one fixed-point product
// over the n rows with the fixed values (which opens the n-vector of probabilities in 2pc;
// with no middle cluster selected only the sink and newest rows).
func (m *MPCache) Mix(e mpc.Engine, layer int, probs *mpc.Share) (*mpc.Share, error) {
	if err := checkLayer("mpcache", layer, len(m.layers)); err != nil {
		return nil, err
	}
	ly := &m.layers[layer]
	c, c2 := ly.choice, m.p.Cluster2
	o := &ops{e: e}
	kv, g := m.cfg.KVHeads, m.cfg.GroupSize()
	s0 := min(c2, c.n)
	p := []*mpc.Share{o.slice(probs, 2, 0, s0)}
	at := s0
	if c.k2 > 0 {
		end := o.scope("scatter")
		pm := o.reshape(o.slice(probs, 2, at, at+c.k2*c2), kv, g, c.k2, c2)
		back := o.matmul(o.transpose(c.sel), pm) // [KVHeads, Group, g2−2, Cluster2]
		p = append(p, o.reshape(back, kv, g, (c.g2-2)*c2))
		at += c.k2 * c2
		end()
	}
	if c.g2 >= 2 {
		p = append(p, o.slice(probs, 2, at, probs.Shape[2]))
	}
	if c.k2 == 0 && c.g2 >= 3 {
		// No middle cluster selected (few clusters): the product reads the sink and newest
		// clusters' rows alone.
		rows := o.concat(1, o.rowSlice(ly.v, 0, s0), o.rowSlice(ly.v, c2*(c.g2-1), c.n))
		return o.matmulTrunc(o.concat(2, p...), rows), o.err
	}
	// The probabilities now cover every row, in order: the product reads the rows in place.
	return o.matmulRows(o.concat(2, p...), ly.v, false, e.Frac()), o.err
}

// pick returns the attended entries [KVHeads, g, S] of entries tok [KVHeads, g, n] of all rows
// (the scores, or the positions): the sink cluster, the selected middle clusters (in selection
// order), the newest cluster.
func (m *MPCache) pick(o *ops, c choice, tok *mpc.Share) *mpc.Share {
	c2 := m.p.Cluster2
	kv, g := tok.Shape[0], tok.Shape[1]
	parts := []*mpc.Share{o.slice(tok, 2, 0, min(c2, c.n))}
	if c.k2 > 0 {
		mid := o.reshape(o.slice(tok, 2, c2, c2*(c.g2-1)), kv, g, c.g2-2, c2)
		parts = append(parts, o.reshape(o.matmul(c.sel, mid), kv, g, c.k2*c2))
	}
	if c.g2 >= 2 {
		parts = append(parts, o.slice(tok, 2, c2*(c.g2-1), c.n))
	}
	return o.concat(2, parts...)
}

// Attended returns the number of rows a decode step attends to when the layer's sequence (kept
// prompt rows and generated rows, the new one included) has n rows: the sink cluster, k2 middle
// level-2 clusters and the newest cluster. It depends on n only, so it is public.
func (m *MPCache) Attended(n int) int {
	c2 := m.p.Cluster2
	g2 := (n + c2 - 1) / c2
	s := min(c2, n)
	if g2 >= 2 {
		s += n - c2*(g2-1) + c2*m.level2(n)
	}
	return s
}

// level1 is the number k1 of middle level-1 clusters selected for a sequence of n rows.
func (m *MPCache) level1(n int) int {
	g1 := (n + m.p.Cluster1 - 1) / m.p.Cluster1
	return min(model.FloorFrac(m.p.Ratio1, g1), max(0, g1-2))
}

// level2 is the number k2 of middle level-2 clusters selected for a sequence of n rows.
func (m *MPCache) level2(n int) int {
	c1, c2 := m.p.Cluster1, m.p.Cluster2
	g2 := (n + c2 - 1) / c2
	return min(model.FloorFrac(m.p.Ratio2, g2), m.level1(n)*(c1/c2)+len(m.publicCandidates(n)))
}

// publicCandidates returns the middle level-2 clusters (as indices 0.. among clusters
// 1..G2−2) that are candidates whatever the selection: the children of the forced level-1
// clusters (the sink and the newest), except the forced level-2 clusters themselves.
func (m *MPCache) publicCandidates(n int) []int {
	c1, c2 := m.p.Cluster1, m.p.Cluster2
	kids := c1 / c2
	g1, g2 := (n+c1-1)/c1, (n+c2-1)/c2
	forced := []int{0}
	if g1 > 1 {
		forced = append(forced, g1-1)
	}
	var pub []int
	for _, p := range forced {
		for c := p * kids; c < min(p*kids+kids, g2); c++ {
			if c != 0 && c != g2-1 {
				pub = append(pub, c-1)
			}
		}
	}
	return pub
}

// selectClusters scores the complete clusters and runs the two-level selection of an owner
// layer; it returns the token scores of all rows (from the same product) and the choice.
//
// Cost, for G1 and G2 clusters (M1 = G1−2 and M2 = G2−2 in the middle) and k1, k2 selected:
//   - one product q·[K; B1; B2]ᵀ with fixed right operands (2pc: opens q only), giving the
//     token scores and, summed over the group's query heads, the cluster scores;
//   - level 1: protocols.TopK over M1 per KV head, k1 = ⌊Ratio1·G1⌋;
//   - the level-2 candidates' scores: a product of the level-1 selection with the scores of
//     the children of the middle level-1 clusters (k1·M1 + M1·Cluster1/Cluster2 opened in 2pc),
//     then candidates from the forced level-1 clusters by a public Take;
//   - level 2: protocols.TopK over the C ≈ k1·Cluster1/Cluster2 candidates, k2 = ⌊Ratio2·G2⌋,
//     on scores with the cluster index as tie-break (so equal scores order as model.TopK);
//   - the composition of both selections into one-hot rows over the M2 middle clusters: one
//     product with the level-1 selection (opens the level-2 selection's secret columns, k2·k1
//     per child, in 2pc), placed by public matrices;
//   - one round that fixes those rows (8·k2·M2 bytes per KV head in 2pc), so that both
//     products that read them, and the sharing layer's, open nothing of them again.
//
// So the comparisons number about M1²/2 + C²/2 per KV head, C ≈ G1, instead of the M2²/2
// that a level-2 top-k over every middle cluster with an eligibility mask would need; see
// doc.go for why this beats the mask.
func (m *MPCache) selectClusters(o *ops, ly *mpLayer, q *mpc.Share) (*mpc.Share, choice) {
	n := ly.n
	c1, c2 := m.p.Cluster1, m.p.Cluster2
	kids := c1 / c2
	kv := m.cfg.KVHeads
	g1, g2 := (n+c1-1)/c1, (n+c2-1)/c2
	m1, m2 := max(0, g1-2), max(0, g2-2)
	c := choice{n: n, g2: g2}
	k2 := m.level2(n)
	if k2 == 0 {
		return o.matmulRows(q, ly.k, true, 0), c
	}
	// q is fixed first (2pc: opened once, masked), so that the products with the rows and with
	// the blends open nothing more.
	o.fix(&q)
	tok := o.matmulRows(q, ly.k, true, 0)
	var reps []*mpc.Share
	if m1 > 0 {
		reps = append(reps, o.slice(ly.blend1, 1, 1, 1+m1))
	}
	if m2 > 0 {
		reps = append(reps, o.slice(ly.blend2, 1, 1, 1+m2))
	}
	s := o.sumAxis(o.matmul(q, o.transpose(o.concat(1, reps...))), 1) // [KVHeads, M1+M2]
	s2 := o.slice(s, 1, m1, m1+m2)
	// idx2 makes a level-2 score a ranking key: score·2^P − cluster, P bits above any index.
	P := uint(bits.Len(uint(g2)))
	key := func(score, idx *mpc.Share) *mpc.Share {
		return o.sub(o.mulPublic(score, mpc.Scalar(1<<P)), idx)
	}
	pub := m.publicCandidates(n)
	k1 := m.level1(n)
	var cands []*mpc.Share
	var sel1 *mpc.Share
	if k1 > 0 {
		var idx1 *mpc.Share
		sel1, idx1 = topk(o, "level 1", o.slice(s, 1, 0, m1), k1)
		// children of middle level-1 cluster c (1..G1−2): middle level-2 clusters kids·c+t−1.
		cols := make([]int, 0, m1*kids)
		for c := 1; c <= m1; c++ {
			for t := range kids {
				cols = append(cols, kids*c+t-1)
			}
		}
		pairs := o.reshape(o.take(s2, 1, cols), kv, m1, kids)
		cs := o.reshape(o.matmul(sel1, pairs), kv, k1*kids)
		// a child's cluster index is kids·(idx1+1) + t.
		off := mpc.NewTensor(1, k1, kids)
		for r := range k1 {
			for t := range kids {
				off.Data[r*kids+t] = uint64(kids + t)
			}
		}
		ci := o.do("broadcast", func() (*mpc.Share, error) {
			return mpc.Broadcast(o.reshape(idx1, kv, k1, 1), kv, k1, kids)
		})
		ci = o.addPublic(o.mulPublic(ci, mpc.Scalar(uint64(kids))), off)
		cands = append(cands, key(cs, o.reshape(ci, kv, k1*kids)))
	}
	if len(pub) > 0 {
		idx := make([]int, len(pub))
		for i, p := range pub {
			idx[i] = p + 1
		}
		cands = append(cands, key(o.take(s2, 1, pub), o.public(broadcastPositions(idx, kv))))
	}
	selc, _ := topk(o, "level 2", o.concat(1, cands...), k2)
	// Compose: row j of the result is the one-hot over middle level-2 clusters of the
	// candidate that row j of selc picks.
	var parts []*mpc.Share
	if k1 > 0 {
		sc := o.permute(o.reshape(o.slice(selc, 2, 0, k1*kids), kv, k2, k1, kids), 0, 3, 1, 2)
		z := o.matmul(o.reshape(sc, kv, kids*k2, k1), sel1) // [KVHeads, kids·k2, M1]
		z = o.reshape(o.permute(o.reshape(z, kv, kids, k2, m1), 0, 2, 3, 1), kv, k2, m1*kids)
		place := mpc.NewTensor(m1*kids, m2)
		for c := range m1 {
			for t := range kids {
				place.Data[(c*kids+t)*m2+kids*(c+1)+t-1] = 1
			}
		}
		parts = append(parts, o.matmulPublic(z, place))
	}
	if len(pub) > 0 {
		place := mpc.NewTensor(len(pub), m2)
		for i, p := range pub {
			place.Data[i*m2+p] = 1
		}
		parts = append(parts, o.matmulPublic(o.slice(selc, 2, k1*kids, k1*kids+len(pub)), place))
	}
	sel := parts[0]
	if len(parts) == 2 {
		sel = o.add(parts[0], parts[1])
	}
	o.fix(&sel)
	c.k2, c.sel = k2, o.reshape(sel, kv, 1, k2, m2)
	return tok, c
}

// positions returns the positions of the rows a step attends to, [KVHeads, S] in the order of
// the scores, for tracing (tests): the kept positions (owner) and the generated ones, picked
// as the scores are (one product for the middle part).
func (m *MPCache) positions(o *ops, c choice, own *mpLayer) *mpc.Share {
	kv := m.cfg.KVHeads
	gen := o.public(ints(span(m.prompt, m.prompt+c.n-own.keptN), c.n-own.keptN))
	ranks := o.concat(0, own.keptPos, gen) // [n]
	b := o.do("broadcast", func() (*mpc.Share, error) { return mpc.Broadcast(ranks, kv, 1, c.n) })
	return o.reshape(m.pick(o, c, b), kv, m.Attended(c.n))
}
