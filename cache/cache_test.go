package cache

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/privinfer/mpcache/infer"
	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/inproc"
	"github.com/privinfer/mpcache/mpc/mpctest"
)

// storiesDir is the real model of the acceptance tests; they skip when it is absent.
const storiesDir = "../../shared/models/stories260K"

// corpus is the text the test prompts are cut from.
const corpus = "../../shared/corpora/tinyshakespeare/input.txt"

const testFrac = 16

// testComparison is the engine comparison of the tests: the boolean circuit, which is the
// fastest on shared cores (the policies' results do not depend on it).
const testComparison = mpc.CompareCircuit

var backends = []mpc.Protocol{mpc.TwoPC, mpc.ThreePC}

var stories struct {
	once sync.Once
	m    *model.Model
	text []int
	err  error
}

// loadStories returns stories260K and the tinyshakespeare corpus encoded with its tokenizer,
// or skips the test.
func loadStories(t testing.TB) (*model.Model, []int) {
	t.Helper()
	stories.once.Do(func() {
		if stories.m, stories.err = model.LoadLlama2C(filepath.Join(storiesDir, "stories260K.bin")); stories.err != nil {
			return
		}
		tok, err := model.LoadLlama2CTokenizer(filepath.Join(storiesDir, "tok512.bin"))
		if err != nil {
			stories.err = err
			return
		}
		b, err := os.ReadFile(corpus)
		if err != nil {
			stories.err = err
			return
		}
		stories.text = tok.Encode(string(b[:20000]))
	})
	if stories.err != nil {
		t.Skipf("stories260K or the corpus is not available (%v): get them into %s and %s", stories.err, storiesDir, corpus)
	}
	return stories.m, stories.text
}

// step is one traced decode step of one layer.
type step struct {
	layer int
	pos   [][]int // [KV head] attended positions, in the order of the attended rows
	// Probed runs: the step's inputs and attention probabilities, as the policy got them.
	q, k, v, probs []float64 // [KVHeads, Group, HeadDim], [KVHeads, 1, HeadDim] twice, [KVHeads, Group, S]
}

// sorted returns the attended positions of KV head g in increasing order.
func (s step) sorted(g int) []int { return slices.Sorted(slices.Values(s.pos[g])) }

// secureRun is the revealed outcome of a secure greedy generation with a traced policy.
type secureRun struct {
	tokens  []int
	steps   []step    // in call order: decode step by decode step, layer by layer
	prefill []prefill // probed runs: what each layer's Prefill got
}

// prefill is a layer's prompt keys and values [KVHeads, T, HeadDim] and causal probabilities
// [KVHeads, Group·T, T].
type prefill struct{ k, v, probs []float64 }

// setTrace sets the test hook of a policy of this package: it receives, at every decode step
// of every layer, the shares of the attended positions [KVHeads, S].
func setTrace(t testing.TB, p infer.Policy, f func(layer int, pos *mpc.Share)) {
	switch p := p.(type) {
	case *StreamingLLM:
		p.trace = f
	case *H2O:
		p.trace = f
	case *MPCache:
		p.trace = f
	default:
		t.Fatalf("policy %T cannot be traced", p)
	}
}

// probe records everything its policy receives.
type probe struct {
	infer.Policy
	prefill [][3]*mpc.Share // k, v, probs
	steps   [][4]*mpc.Share // q, k, v, probs
}

func (p *probe) Prefill(e mpc.Engine, layer int, k, v, probs *mpc.Share) error {
	p.prefill = append(p.prefill, [3]*mpc.Share{k, v, probs})
	return p.Policy.Prefill(e, layer, k, v, probs)
}

func (p *probe) Scores(e mpc.Engine, layer int, q, k, v *mpc.Share) (*mpc.Share, error) {
	p.steps = append(p.steps, [4]*mpc.Share{q, k, v})
	return p.Policy.Scores(e, layer, q, k, v)
}

func (p *probe) Mix(e mpc.Engine, layer int, probs *mpc.Share) (*mpc.Share, error) {
	p.steps[len(p.steps)-1][3] = probs
	return p.Policy.Mix(e, layer, probs)
}

// generate runs secure greedy generation of n tokens after prompt on all parties of protocol
// p, tracing the policy (and, with probed, recording its probabilities), and reveals what it
// recorded as only a test may.
func generate(t testing.TB, p mpc.Protocol, m *model.Model, prompt []int, n int, newPolicy func() infer.Policy, probed bool) secureRun {
	t.Helper()
	shares, in := shareInputs(t, p, m, prompt)
	type party struct {
		ids    []*mpc.Share
		layers []int
		trace  []*mpc.Share
		probe  probe
	}
	res, err := inproc.Run(p, inproc.Memory, mpc.Config{Frac: testFrac, Comparison: testComparison}, func(e mpc.Engine) (*party, error) {
		out := &party{}
		pol := newPolicy()
		setTrace(t, pol, func(layer int, pos *mpc.Share) {
			out.layers = append(out.layers, layer)
			out.trace = append(out.trace, pos)
		})
		if probed {
			out.probe.Policy = pol
			pol = &out.probe
		}
		s, err := infer.NewSession(e, shares[e.Party()], infer.Options{Policy: pol})
		if err != nil {
			return out, err
		}
		err = s.Generate(in[e.Party()], n, func(_ int, id *mpc.Share) error {
			out.ids = append(out.ids, id)
			return nil
		})
		return out, err
	})
	if err != nil {
		t.Fatal(err)
	}
	reveal := func(f func(*party) *mpc.Share) *mpc.Tensor {
		return mpctest.Reveal(t, p, []*mpc.Share{f(res[0]), f(res[1]), f(res[2])})
	}
	var run secureRun
	for i := range res[0].ids {
		run.tokens = append(run.tokens, int(int64(reveal(func(q *party) *mpc.Share { return q.ids[i] }).Data[0])))
	}
	for i, layer := range res[0].layers {
		st := step{layer: layer, pos: headPositions(reveal(func(q *party) *mpc.Share { return q.trace[i] }))}
		if probed {
			for j, dst := range []*[]float64{&st.q, &st.k, &st.v, &st.probs} {
				*dst = mpc.DecodeTensor(reveal(func(q *party) *mpc.Share { return q.probe.steps[i][j] }), testFrac)
			}
		}
		run.steps = append(run.steps, st)
	}
	for i := range res[0].probe.prefill {
		var pf prefill
		for j, dst := range []*[]float64{&pf.k, &pf.v, &pf.probs} {
			*dst = mpc.DecodeTensor(reveal(func(q *party) *mpc.Share { return q.probe.prefill[i][j] }), testFrac)
		}
		run.prefill = append(run.prefill, pf)
	}
	return run
}

// shareInputs returns every party's shares of m and of the one-hot rows of prompt.
func shareInputs(t testing.TB, p mpc.Protocol, m *model.Model, prompt []int) ([]*infer.ModelShares, []*mpc.Share) {
	t.Helper()
	shares, err := infer.ShareModel(m, p, testFrac)
	if err != nil {
		t.Fatal(err)
	}
	oh := mpc.NewTensor(len(prompt), m.Config.Vocab)
	for i, id := range prompt {
		oh.Data[i*m.Config.Vocab+id] = 1
	}
	in, err := mpc.Split(p, oh)
	if err != nil {
		t.Fatal(err)
	}
	return shares, in
}

// headPositions returns the revealed positions [KVHeads, S] as plain integers, per KV head.
func headPositions(pos *mpc.Tensor) [][]int {
	kv, s := pos.Shape[0], pos.Shape[1]
	heads := make([][]int, kv)
	for g := range kv {
		for _, v := range pos.Data[g*s : (g+1)*s] {
			heads[g] = append(heads[g], int(int64(v)))
		}
	}
	return heads
}

// reference runs the plaintext model greedily for n tokens under policy pol (fixed point with
// frac bits when frac > 0) and returns the tokens, every selection, and the smallest gap
// between the largest and the second largest logit over the steps.
func reference(t testing.TB, m *model.Model, prompt []int, n int, pol model.Policy, frac int) ([]int, []model.Selection, float64) {
	t.Helper()
	var sels []model.Selection
	s, err := model.NewSession(m, model.Options{Policy: pol, FracBits: frac, Trace: func(sel model.Selection) {
		sels = append(sels, sel)
	}})
	if err != nil {
		t.Fatal(err)
	}
	logits, err := s.Prefill(prompt)
	var toks []int
	gap := math.Inf(1)
	for err == nil {
		next, second := 0, -1
		for i, v := range logits {
			if v > logits[next] {
				next = i
			}
		}
		for i, v := range logits {
			if i != next && (second < 0 || v > logits[second]) {
				second = i
			}
		}
		gap = min(gap, logits[next]-logits[second])
		toks = append(toks, next)
		if len(toks) == n {
			break
		}
		logits, err = s.Decode(next)
	}
	if err != nil {
		t.Fatal(err)
	}
	return toks, sels, gap
}

// agreement compares the secure trace with the reference selections (sorted, index for
// index) and returns how many (step, layer, KV head) selections agree, in how many, and the
// first disagreement ("" when none).
func agreement(t *testing.T, run secureRun, ref []model.Selection, kvHeads int) (agree, total int, first string) {
	t.Helper()
	if len(run.steps)*kvHeads != len(ref) {
		t.Fatalf("secure run traced %d layer steps, the reference %d", len(run.steps), len(ref)/kvHeads)
	}
	for i, st := range run.steps {
		for g := range st.pos {
			r := ref[i*kvHeads+g]
			if r.Layer != st.layer || r.KVHead != g {
				t.Fatalf("trace %d: secure layer %d head %d, reference layer %d head %d", i, st.layer, g, r.Layer, r.KVHead)
			}
			if got := st.sorted(g); slices.Equal(got, r.Indices) {
				agree++
			} else if first == "" {
				first = fmt.Sprintf("step %d, layer %d, KV head %d (position %d): secure %v, reference %v", r.Step, r.Layer, g, r.Pos, got, r.Indices)
			}
		}
	}
	return agree, len(ref), first
}

// replay drives a plaintext policy with the secure run's own inputs (probabilities, queries,
// keys and values, as the secure policy received them) and checks that it selects exactly what
// the secure policy selected, step by step: the secure policy's selection logic (top-k,
// tie-breaking, clustering, sharing) against its specification, free of the protocol's
// approximation error, which moves the inputs themselves. It returns the number of selections
// checked.
func replay(t *testing.T, cfg model.Config, T int, pol model.Policy, run secureRun) int {
	t.Helper()
	if err := pol.Start(cfg, T); err != nil {
		t.Fatal(err)
	}
	G, hd, kvh := cfg.GroupSize(), cfg.HeadDim(), cfg.KVHeads
	// add appends position p of keys and values [KVHeads, n, HeadDim] to c.
	add := func(c *model.LayerCache, k, v []float64, n, p int) {
		var kr, vr []float64
		for g := range kvh {
			off := (g*n + p) * hd
			kr, vr = append(kr, k[off:off+hd]...), append(vr, v[off:off+hd]...)
		}
		c.Append(kr, vr)
	}
	caches := make([]*model.LayerCache, cfg.Layers)
	for layer, pf := range run.prefill {
		caches[layer] = model.NewLayerCache(kvh, hd)
		for p := range T {
			add(caches[layer], pf.k, pf.v, T, p)
		}
		for i := range T {
			for head := range cfg.Heads {
				off := ((head/G*G+head%G)*T + i) * T
				pol.PrefillRow(layer, head, i, pf.probs[off:off+i+1])
			}
		}
		if err := pol.EndPrefill(layer); err != nil {
			t.Fatal(err)
		}
	}
	checked := 0
	for i, st := range run.steps {
		pos := T + i/cfg.Layers
		add(caches[st.layer], st.k, st.v, 1, 0)
		S := len(st.pos[0])
		for g := range kvh {
			q := make([][]float64, G)
			for j := range G {
				q[j] = st.q[(g*G+j)*hd : (g*G+j+1)*hd]
			}
			sel, err := pol.Select(st.layer, g, pos, q, caches[st.layer])
			if err != nil {
				t.Fatal(err)
			}
			if got := st.sorted(g); !slices.Equal(got, sel) {
				t.Fatalf("decode step %d, layer %d, KV head %d: secure %v, the specification on the secure inputs %v", i/cfg.Layers, st.layer, g, got, sel)
			}
			col := map[int]int{}
			for c, p := range st.pos[g] {
				col[p] = c
			}
			rows := make([][]float64, G)
			for j := range G {
				for _, p := range sel {
					rows[j] = append(rows[j], st.probs[(g*G+j)*S+col[p]])
				}
			}
			pol.Observe(st.layer, g, sel, rows)
			checked++
		}
	}
	return checked
}
