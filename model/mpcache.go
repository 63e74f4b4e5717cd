package model

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// MPCacheParams are the parameters of MPCache; DefaultMPCacheParams gives the paper's.
type MPCacheParams struct {
	// StaticRatio is the fraction of the prompt the look-once eviction keeps (fixed-budget
	// variant): K = max(1, FloorFrac(StaticRatio, T)) positions. In (0, 1].
	StaticRatio float64
	// Threshold, when > 0, selects the threshold variant instead: keep position j when some
	// window row of the head-averaged probabilities gives it at least Threshold. The kept
	// count then depends on the data.
	Threshold float64
	// WindowRatio sets the observation window W = max(1, FloorFrac(WindowRatio, T)) of last
	// prompt queries; LongWindowRatio replaces it when T > LongPrompt. Both in (0, 1].
	WindowRatio, LongWindowRatio float64
	LongPrompt                   int
	// Cluster1 and Cluster2 are the level-1 and level-2 cluster sizes in tokens; Cluster2
	// divides Cluster1, so each level-1 cluster has Cluster1/Cluster2 children.
	Cluster1, Cluster2 int
	// Alpha blends the representatives: score = q·(Alpha·r_max + (1−Alpha)·r_min). In [0, 1].
	Alpha float64
	// Ratio1 and Ratio2 set the dynamic top-k counts: FloorFrac(Ratio1, G1) level-1 and
	// FloorFrac(Ratio2, G2) level-2 clusters besides the forced ones. In [0, 1].
	Ratio1, Ratio2 float64
	// Schedule is the cross-layer sharing schedule; nil means DefaultSchedule(layers).
	Schedule Schedule
}

// DefaultMPCacheParams returns StaticRatio 0.5 (top-k variant), windows 0.2 (0.1 above
// 24000 prompt tokens), clusters 32 and 16, alpha 0.6, ratios 0.5 and 0.2, and the default
// schedule.
func DefaultMPCacheParams() MPCacheParams {
	return MPCacheParams{StaticRatio: 0.5, WindowRatio: 0.2, LongWindowRatio: 0.1, LongPrompt: 24000,
		Cluster1: 32, Cluster2: 16, Alpha: 0.6, Ratio1: 0.5, Ratio2: 0.2}
}

func (p *MPCacheParams) validate() error {
	in := func(x, lo, hi float64) bool { return x >= lo && x <= hi }
	switch {
	case p.Threshold == 0 && !(p.StaticRatio > 0 && p.StaticRatio <= 1):
		return fmt.Errorf("static ratio %v outside (0, 1]", p.StaticRatio)
	case !(p.Threshold >= 0) || math.IsInf(p.Threshold, 0):
		return fmt.Errorf("threshold %v must be finite and ≥ 0", p.Threshold)
	case !(p.WindowRatio > 0 && p.WindowRatio <= 1) || !(p.LongWindowRatio > 0 && p.LongWindowRatio <= 1):
		return fmt.Errorf("window ratios %v and %v outside (0, 1]", p.WindowRatio, p.LongWindowRatio)
	case p.Cluster2 < 1 || p.Cluster1 < p.Cluster2 || p.Cluster1%p.Cluster2 != 0:
		return fmt.Errorf("cluster sizes %d and %d: need 1 ≤ level 2 dividing level 1", p.Cluster1, p.Cluster2)
	case !in(p.Alpha, 0, 1) || !in(p.Ratio1, 0, 1) || !in(p.Ratio2, 0, 1):
		return fmt.Errorf("alpha %v, ratio1 %v and ratio2 %v must lie in [0, 1]", p.Alpha, p.Ratio1, p.Ratio2)
	}
	return nil
}

// MPCache is the MPCache policy (package doc, "MPCache"): look-once static eviction after
// prefill, then per decode step a two-level clustered selection per KV head, with
// cross-layer index sharing.
type MPCache struct {
	p MPCacheParams

	cfg    Config
	sched  Schedule
	prompt int
	window int         // W
	win    [][]float64 // [layer] W×T window probabilities summed over heads (owners)
	kept   [][]int     // [layer] static kept positions
	last   [][]lastSel // [layer][kv head] latest selection (owners)
}

type lastSel struct {
	pos int
	sel []int
}

// NewMPCache checks p and returns the policy.
func NewMPCache(p MPCacheParams) (*MPCache, error) {
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("model: mpcache: %w", err)
	}
	return &MPCache{p: p}, nil
}

// Name returns "mpcache".
func (*MPCache) Name() string { return "mpcache" }

// Params returns the policy's parameters.
func (m *MPCache) Params() MPCacheParams { return m.p }

// Window returns the observation window W for a prompt of T tokens.
func (m *MPCache) Window(T int) int {
	r := m.p.WindowRatio
	if T > m.p.LongPrompt {
		r = m.p.LongWindowRatio
	}
	return max(1, FloorFrac(r, T))
}

// Start prepares for a prompt of promptLen tokens.
func (m *MPCache) Start(cfg Config, promptLen int) error {
	m.sched = m.p.Schedule
	if m.sched == nil {
		m.sched = DefaultSchedule(cfg.Layers)
	}
	if err := m.sched.Validate(cfg.Layers); err != nil {
		return err
	}
	m.cfg, m.prompt, m.window = cfg, promptLen, m.Window(promptLen)
	m.win = make([][]float64, cfg.Layers)
	m.kept = make([][]int, cfg.Layers)
	m.last = make([][]lastSel, cfg.Layers)
	for _, l := range m.sched.Owners() {
		m.win[l] = make([]float64, m.window*promptLen)
		m.last[l] = make([]lastSel, cfg.KVHeads)
		for g := range m.last[l] {
			m.last[l][g].pos = -1
		}
	}
	return nil
}

// PrefillRow adds a window row of an owner layer to the head sum.
func (m *MPCache) PrefillRow(layer, _, i int, probs []float64) {
	r := i - (m.prompt - m.window)
	if m.sched[layer] != layer || r < 0 {
		return
	}
	row := m.win[layer][r*m.prompt:]
	for j, v := range probs {
		row[j] += v
	}
}

// EndPrefill runs the look-once eviction of an owner layer (or copies the owner's kept set).
func (m *MPCache) EndPrefill(layer int) error {
	if src := m.sched[layer]; src != layer {
		m.kept[layer] = m.kept[src]
		return nil
	}
	T, H := m.prompt, float64(m.cfg.Heads)
	a := m.win[layer]
	for i := range a {
		a[i] /= H
	}
	if m.p.Threshold > 0 {
		var kept []int
		for j := range T {
			for r := range m.window {
				if a[r*T+j] >= m.p.Threshold {
					kept = append(kept, j)
					break
				}
			}
		}
		m.kept[layer] = kept
	} else {
		sum := make([]float64, T)
		for r := range m.window {
			for j, v := range a[r*T : (r+1)*T] {
				sum[j] += v
			}
		}
		m.kept[layer] = TopK(sum, prefix(T), max(1, FloorFrac(m.p.StaticRatio, T)))
	}
	m.win[layer] = nil
	return nil
}

// Kept returns the positions of the prompt that layer keeps after static eviction.
func (m *MPCache) Kept(layer int) []int { return slices.Clone(m.kept[layer]) }

// Select runs the dynamic selection for an owner layer, or returns the owner's selection of
// the same step for a sharing layer.
func (m *MPCache) Select(layer, kvHead, pos int, q [][]float64, cache *LayerCache) ([]int, error) {
	if src := m.sched[layer]; src != layer {
		ls := m.last[src][kvHead]
		if ls.pos != pos {
			return nil, fmt.Errorf("mpcache: layer %d reuses layer %d, which has not selected for position %d", layer, src, pos)
		}
		return slices.Clone(ls.sel), nil
	}
	if pos < m.prompt {
		return nil, errors.New("mpcache: select called for a prompt position")
	}
	seq := slices.Clone(m.kept[layer])
	for p := m.prompt; p <= pos; p++ {
		seq = append(seq, p)
	}
	qsum := make([]float64, len(q[0]))
	for _, qh := range q {
		for d, v := range qh {
			qsum[d] += v
		}
	}
	sel := m.dynamicSelect(seq, func(p int) []float64 { return cache.Key(p, kvHead) }, qsum)
	m.last[layer][kvHead] = lastSel{pos: pos, sel: sel}
	return slices.Clone(sel), nil
}

// Observe does nothing: MPCache needs no decode-time probabilities.
func (*MPCache) Observe(int, int, []int, [][]float64) {}

// dynamicSelect is the two-level clustered selection over the sequence seq (kept and
// generated positions, increasing) for the summed query q; key returns a position's key.
func (m *MPCache) dynamicSelect(seq []int, key func(int) []float64, q []float64) []int {
	n := len(seq)
	c1, c2 := m.p.Cluster1, m.p.Cluster2
	g1, g2 := (n+c1-1)/c1, (n+c2-1)/c2
	s1 := make([]float64, g1)
	for c := range g1 {
		s1[c] = m.clusterScore(seq[c*c1:min(c*c1+c1, n)], key, q)
	}
	sel1 := forcedTopK(s1, prefix(g1), FloorFrac(m.p.Ratio1, g1))
	var cand []int
	kids := c1 / c2
	for _, c := range sel1 {
		for k := c * kids; k < min(c*kids+kids, g2); k++ {
			cand = append(cand, k)
		}
	}
	s2 := make([]float64, g2)
	for _, c := range cand {
		s2[c] = m.clusterScore(seq[c*c2:min(c*c2+c2, n)], key, q)
	}
	var sel []int
	for _, c := range forcedTopK(s2, cand, FloorFrac(m.p.Ratio2, g2)) {
		sel = append(sel, seq[c*c2:min(c*c2+c2, n)]...)
	}
	return sel
}

// clusterScore is q·(α·r_max + (1−α)·r_min) for the element-wise maximum and minimum of
// the keys of the cluster's positions.
func (m *MPCache) clusterScore(cluster []int, key func(int) []float64, q []float64) float64 {
	rmax := slices.Clone(key(cluster[0]))
	rmin := slices.Clone(rmax)
	for _, p := range cluster[1:] {
		for d, v := range key(p) {
			rmax[d], rmin[d] = max(rmax[d], v), min(rmin[d], v)
		}
	}
	var s float64
	for d, v := range q {
		s += v * (m.p.Alpha*rmax[d] + (1-m.p.Alpha)*rmin[d])
	}
	return s
}

// forcedTopK selects, from the candidate clusters cand (increasing, containing the first
// cluster 0 and the newest cluster, the last of cand), both forced clusters plus the top k
// of the other candidates; the result is increasing.
func forcedTopK(scores []float64, cand []int, k int) []int {
	newest := cand[len(cand)-1]
	var others []int
	for _, c := range cand {
		if c != 0 && c != newest {
			others = append(others, c)
		}
	}
	sel := TopK(scores, others, k)
	sel = append(sel, 0)
	if newest != 0 {
		sel = append(sel, newest)
	}
	slices.Sort(sel)
	return sel
}
