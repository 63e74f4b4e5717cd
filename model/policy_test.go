package model

import (
	"fmt"
	"slices"
	"testing"
)

func TestTopK(t *testing.T) {
	scores := []float64{5, 1, 5, 3, 9, 3}
	cases := []struct {
		cand []int
		k    int
		want []int
	}{
		{[]int{0, 1, 2, 3, 4, 5}, 2, []int{0, 4}},       // 9, then 5 at 0 before 5 at 2
		{[]int{0, 1, 2, 3, 4, 5}, 4, []int{0, 2, 3, 4}}, // 3 at 3 before 3 at 5
		{[]int{5, 3, 1}, 1, []int{3}},
		{[]int{1, 2}, 5, []int{1, 2}},
		{[]int{1, 2}, -1, []int{}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.cand, c.k), func(t *testing.T) {
			if got := TopK(scores, c.cand, c.k); !slices.Equal(got, c.want) {
				t.Errorf("TopK = %v, want %v", got, c.want)
			}
		})
	}
}

func TestFloorFrac(t *testing.T) {
	cases := []struct {
		r    float64
		n    int
		want int
	}{{0.2, 10, 2}, {0.2, 14, 2}, {0.5, 7, 3}, {0.29, 100, 29}, {0.1, 30, 3}, {0, 100, 0}, {1, 17, 17}, {0.2, 4, 0}}
	for _, c := range cases {
		if got := FloorFrac(c.r, c.n); got != c.want {
			t.Errorf("FloorFrac(%v, %d) = %d, want %d", c.r, c.n, got, c.want)
		}
	}
}

func TestDefaultSchedule(t *testing.T) {
	cases := []struct {
		layers int
		want   Schedule
	}{
		{1, Schedule{0}},
		{4, Schedule{0, 1, 2, 3}},
		{5, Schedule{0, 1, 2, 3, 4}},
		{7, Schedule{0, 1, 2, 2, 4, 5, 6}},
		{12, Schedule{0, 1, 2, 2, 4, 4, 6, 6, 8, 8, 10, 11}},
	}
	for _, c := range cases {
		if got := DefaultSchedule(c.layers); !slices.Equal(got, c.want) {
			t.Errorf("DefaultSchedule(%d) = %v, want %v", c.layers, got, c.want)
		}
	}
	s := DefaultSchedule(32)
	if reuse := 32 - len(s.Owners()); reuse != 14 {
		t.Errorf("32 layers: %d reuse, want 14", reuse)
	}
	if err := s.Validate(32); err != nil {
		t.Error(err)
	}
	for _, bad := range []Schedule{{0, 2, 2}, {1, 1}, {0, 0, 1}, {0}} {
		if bad.Validate(3) == nil {
			t.Errorf("schedule %v accepted", bad)
		}
	}
}

func TestStreamingLLM(t *testing.T) {
	cases := []struct {
		sinks, window, pos int
		want               []int
	}{
		{2, 3, 10, []int{0, 1, 8, 9, 10}},
		{2, 3, 3, []int{0, 1, 2, 3}},
		{4, 2, 1, []int{0, 1}},
		{0, 1, 5, []int{5}},
	}
	for _, c := range cases {
		got, err := StreamingLLM{c.sinks, c.window}.Select(0, 0, c.pos, nil, nil)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("streaming(%d, %d) at %d = %v, %v; want %v", c.sinks, c.window, c.pos, got, err, c.want)
		}
	}
	if (StreamingLLM{Sinks: 1}).Start(Config{}, 1) == nil {
		t.Error("window 0 accepted")
	}
}

func TestH2OEvict(t *testing.T) {
	p := NewH2O(2, 2)
	acc := []float64{9, 1, 5, 5, 0, 7, 2}
	cases := []struct {
		c    []int
		want []int
	}{
		{[]int{0, 1, 2, 3, 4, 5, 6}, []int{0, 2, 5, 6}}, // recent 5, 6; heavy 0 (9), then 2 before 3 (5 = 5)
		{[]int{1, 4, 6}, []int{1, 4, 6}},
		{[]int{1, 3, 4, 5, 6}, []int{1, 3, 5, 6}},
	}
	for _, c := range cases {
		if got := p.evict(acc, c.c); !slices.Equal(got, c.want) {
			t.Errorf("evict(%v) = %v, want %v", c.c, got, c.want)
		}
	}
}

// record runs prefill and steps decode steps with policy p, returning every selection.
func record(t testing.TB, m *Model, p Policy, prompt []int, steps int) ([]Selection, [][]float64) {
	t.Helper()
	var sels []Selection
	s, err := NewSession(m, Options{Policy: p, Trace: func(s Selection) { sels = append(sels, s) }})
	if err != nil {
		t.Fatal(err)
	}
	logits, err := s.Prefill(prompt)
	if err != nil {
		t.Fatal(err)
	}
	rows := [][]float64{logits}
	for range steps {
		if logits, err = s.Decode(argmax(logits)); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, logits)
	}
	return sels, rows
}

// TestPoliciesInSession runs each policy and checks the selection sizes the specs promise.
func TestPoliciesInSession(t *testing.T) {
	m := testModel(t, "llama-test")
	prompt := randomTokens(100, m.Config.Vocab, 8)
	const steps = 6
	mp, err := NewMPCache(DefaultMPCacheParams())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		p    Policy
		size func(pos int) int
	}{
		{Full{}, func(pos int) int { return pos + 1 }},
		{StreamingLLM{Sinks: 4, Window: 10}, func(int) int { return 14 }},
		{NewH2O(5, 6), func(int) int { return 12 }},
		// n = 50 kept + generated; G1 = 2 (both forced), G2 = 4: k2 = 0, clusters 0 and 3.
		{mp, func(pos int) int { n := 50 + pos - 99; return 16 + n - 48 }},
	}
	for _, c := range cases {
		t.Run(c.p.Name(), func(t *testing.T) {
			sels, _ := record(t, m, c.p, prompt, steps)
			if len(sels) != steps*m.Config.Layers*m.Config.KVHeads {
				t.Fatalf("%d selections, want %d", len(sels), steps*m.Config.Layers*m.Config.KVHeads)
			}
			for _, s := range sels {
				if s.Pos != 100+s.Step || len(s.Indices) != c.size(s.Pos) {
					t.Fatalf("selection %+v: size %d, want %d", s, len(s.Indices), c.size(s.Pos))
				}
			}
		})
	}
}

// TestMPCacheAllIsFull checks that MPCache keeping and selecting everything is the full cache.
func TestMPCacheAllIsFull(t *testing.T) {
	m := testModel(t, "llama-test")
	prompt := randomTokens(90, m.Config.Vocab, 2)
	p := DefaultMPCacheParams()
	p.StaticRatio, p.Ratio1, p.Ratio2 = 1, 1, 1
	mp, err := NewMPCache(p)
	if err != nil {
		t.Fatal(err)
	}
	_, full := record(t, m, Full{}, prompt, 5)
	_, got := record(t, m, mp, prompt, 5)
	if !equalRows(full, got) {
		t.Error("MPCache with all ratios 1 differs from the full cache")
	}
}

// TestMPCacheDynamicSelect works one selection out by hand. Cluster sizes 4 and 2 over 22
// ranks: level-1 clusters c0..c5 (c5 partial), level-2 pairs p0..p10. Keys are 1-D and
// equal within each pair, so a pair's score is its key and a level-1 cluster's is
// 0.6·max + 0.4·min of its two pairs.
func TestMPCacheDynamicSelect(t *testing.T) {
	pairKey := []float64{0, 0, 5, 1, 0, 0, 9, 8, 2, 8, 0}
	// Level 1: c1 = 0.6·5+0.4·1 = 3.4, c3 = 8.6, c4 = 5.6, c0 = c2 = c5 = 0. Forced c0, c5;
	// k1 = ⌊0.5·6⌋ = 3 of c1..c4: c3, c4, c1. Candidates: p0 p1 p2 p3 p6 p7 p8 p9 p10.
	// Level 2: forced p0, p10; k2 = ⌊0.2·11⌋ = 2 of the rest: p6 (9), then p7 over p9
	// (both 8, lower index first). Ranks 0,1, 12..15, 20,21; positions 3·rank.
	p := DefaultMPCacheParams()
	p.Cluster1, p.Cluster2 = 4, 2
	mp, err := NewMPCache(p)
	if err != nil {
		t.Fatal(err)
	}
	seq := make([]int, 22)
	for r := range seq {
		seq[r] = 3 * r
	}
	got := mp.dynamicSelect(seq, func(pos int) []float64 { return []float64{pairKey[pos/3/2]} }, []float64{1})
	want := []int{0, 3, 36, 39, 42, 45, 60, 63}
	if !slices.Equal(got, want) {
		t.Errorf("selection %v, want %v", got, want)
	}
}

// TestMPCacheStatic checks the static budget, the threshold variant and cross-layer sharing.
func TestMPCacheStatic(t *testing.T) {
	m := testModel(t, "llama-test")
	prompt := randomTokens(64, m.Config.Vocab, 4)
	cases := []struct {
		name  string
		edit  func(p *MPCacheParams)
		kept  int // per layer, −1 to skip
		share bool
	}{
		{"budget", func(p *MPCacheParams) { p.StaticRatio = 0.3 }, 19, false},
		{"threshold keeps all", func(p *MPCacheParams) { p.Threshold = 1e-300 }, 64, false},
		{"threshold keeps none", func(p *MPCacheParams) { p.Threshold = 1.5 }, 0, false},
		{"sharing", func(p *MPCacheParams) { p.Schedule = Schedule{0, 0, 2, 2} }, 32, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := DefaultMPCacheParams()
			c.edit(&p)
			mp, err := NewMPCache(p)
			if err != nil {
				t.Fatal(err)
			}
			sels, _ := record(t, m, mp, prompt, 3)
			for l := range m.Config.Layers {
				if k := mp.Kept(l); len(k) != c.kept {
					t.Errorf("layer %d keeps %d, want %d", l, len(k), c.kept)
				}
			}
			if !c.share {
				return
			}
			if !slices.Equal(mp.Kept(1), mp.Kept(0)) || !slices.Equal(mp.Kept(3), mp.Kept(2)) {
				t.Errorf("kept sets do not follow the schedule")
			}
			bySlot := map[[3]int][]int{}
			for _, s := range sels {
				bySlot[[3]int{s.Step, s.Layer, s.KVHead}] = s.Indices
			}
			for k, v := range bySlot {
				if k[1]%2 == 1 && !slices.Equal(v, bySlot[[3]int{k[0], k[1] - 1, k[2]}]) {
					t.Errorf("step %d layer %d head %d does not reuse layer %d", k[0], k[1], k[2], k[1]-1)
				}
			}
		})
	}
	if _, err := NewMPCache(MPCacheParams{}); err == nil {
		t.Error("zero params accepted")
	}
	bad := DefaultMPCacheParams()
	bad.Schedule = Schedule{0, 1}
	mp, _ := NewMPCache(bad)
	if s, _ := NewSession(m, Options{Policy: mp}); s != nil {
		if _, err := s.Prefill(prompt); err == nil {
			t.Error("schedule of 2 layers accepted for 4")
		}
	}
}

// TestSelectionCountsArePublic checks that MPCache's and H2O's selection sizes depend only
// on public lengths: two different prompts of the same length select equally many.
func TestSelectionCountsArePublic(t *testing.T) {
	m := testModel(t, "llama-test")
	for _, mk := range []func() Policy{
		func() Policy { p, _ := NewMPCache(DefaultMPCacheParams()); return p },
		func() Policy { return NewH2O(20, 10) },
	} {
		var sizes [2][]int
		for i := range sizes {
			sels, _ := record(t, m, mk(), randomTokens(300, m.Config.Vocab, uint64(10+i)), 4)
			for _, s := range sels {
				sizes[i] = append(sizes[i], len(s.Indices))
			}
		}
		if !slices.Equal(sizes[0], sizes[1]) {
			t.Errorf("%s: sizes differ between prompts: %v vs %v", mk().Name(), sizes[0], sizes[1])
		}
	}
}
