package infer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/inproc"
	"github.com/privinfer/mpcache/mpc/mpctest"
	"github.com/privinfer/mpcache/mpc/twoparty"
)

// storiesDir is the real model used by the acceptance tests; they skip when it is absent.
const storiesDir = "../../shared/models/stories260K"

var testFrac uint = 16

var backends = []mpc.Protocol{mpc.TwoPC, mpc.ThreePC}

// oneHot returns the public one-hot rows of ids.
func oneHot(ids []int, vocab int) *mpc.Tensor {
	t := mpc.NewTensor(len(ids), vocab)
	for i, id := range ids {
		t.Data[i*vocab+id] = 1
	}
	return t
}

// secureRun is the outcome of a secure greedy generation.
type secureRun struct {
	tokens []int
	logits [][]float64 // revealed logits of every step
	stats  []mpc.Stat  // per party
}

// generate runs greedy generation of n tokens after prompt on all parties of protocol p over
// network nw, revealing tokens and logits as the client would (tests only reveal logits).
func generate(t testing.TB, p mpc.Protocol, nw inproc.Network, m *model.Model, prompt []int, n int, newPolicy func() Policy) secureRun {
	t.Helper()
	return generateWith(t, p, nw, mpc.Config{Frac: testFrac}, m, prompt, n, newPolicy)
}

// generateWith is generate with an engine config (e.g. dealer-free material).
func generateWith(t testing.TB, p mpc.Protocol, nw inproc.Network, cfg mpc.Config, m *model.Model, prompt []int, n int, newPolicy func() Policy) secureRun {
	t.Helper()
	shares, in := shareInputs(t, p, m, prompt)
	type party struct {
		ids, logits []*mpc.Share
		stat        mpc.Stat
	}
	res, err := inproc.Run(p, nw, cfg, func(e mpc.Engine) (party, error) {
		var out party
		var pol Policy
		if newPolicy != nil {
			pol = newPolicy()
		}
		s, err := NewSession(e, shares[e.Party()], Options{Policy: pol})
		if err != nil {
			return out, err
		}
		logits, err := s.Prefill(in[e.Party()])
		for step := 0; err == nil; step++ {
			out.logits = append(out.logits, logits)
			var oh, id *mpc.Share
			if oh, id, err = s.Next(logits); err != nil {
				break
			}
			out.ids = append(out.ids, id)
			if step == n-1 {
				break
			}
			logits, err = s.Decode(oh)
		}
		out.stat = e.Meter().Total()
		return out, err
	})
	if err != nil {
		t.Fatal(err)
	}
	var run secureRun
	for step := range res[0].ids {
		var ids, lgs []*mpc.Share
		for _, r := range res {
			ids, lgs = append(ids, r.ids[step]), append(lgs, r.logits[step])
		}
		id := mpctest.Reveal(t, p, ids)
		run.tokens = append(run.tokens, int(int64(id.Data[0])))
		lg := mpctest.Reveal(t, p, lgs)
		run.logits = append(run.logits, mpc.DecodeTensor(lg, testFrac))
	}
	for _, r := range res {
		run.stats = append(run.stats, r.stat)
	}
	return run
}

// shareInputs shares m's weights and the prompt's one-hot rows for protocol p (index = party).
func shareInputs(t testing.TB, p mpc.Protocol, m *model.Model, prompt []int) ([]*ModelShares, []*mpc.Share) {
	t.Helper()
	shares, err := ShareModel(m, p, testFrac)
	if err != nil {
		t.Fatal(err)
	}
	in, err := mpc.Split(p, oneHot(prompt, m.Config.Vocab))
	if err != nil {
		t.Fatal(err)
	}
	return shares, in
}

// reference runs the float64 reference greedily for n tokens, returning tokens and logits.
func reference(t testing.TB, m *model.Model, prompt []int, n int, pol model.Policy) ([]int, [][]float64) {
	t.Helper()
	s, err := model.NewSession(m, model.Options{Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	logits, err := s.Prefill(prompt)
	var toks []int
	var all [][]float64
	for err == nil {
		all = append(all, logits)
		next := 0
		for i, v := range logits {
			if v > logits[next] {
				next = i
			}
		}
		toks = append(toks, next)
		if len(toks) == n {
			break
		}
		logits, err = s.Decode(next)
	}
	if err != nil {
		t.Fatal(err)
	}
	return toks, all
}

// compare checks secure tokens against the reference and returns the largest logit error over
// the steps where the two agree so far.
func compare(t *testing.T, run secureRun, refTok []int, refLogits [][]float64) float64 {
	t.Helper()
	worst := 0.0
	for i := range refTok {
		for j, v := range refLogits[i] {
			worst = max(worst, math.Abs(run.logits[i][j]-v))
		}
		if run.tokens[i] != refTok[i] {
			t.Fatalf("token %d: secure %d, reference %d (secure %v, reference %v; largest logit error so far %.4f)",
				i, run.tokens[i], refTok[i], run.tokens, refTok, worst)
		}
	}
	return worst
}

var stories struct {
	once  sync.Once
	m     *model.Model
	cases []struct {
		Prompt    string `json:"prompt"`
		PromptIDs []int  `json:"prompt_ids"`
	}
	err error
}

func loadStories(t *testing.T) *model.Model {
	t.Helper()
	stories.once.Do(func() {
		stories.m, stories.err = model.LoadLlama2C(filepath.Join(storiesDir, "stories260K.bin"))
		if stories.err != nil {
			return
		}
		var ref struct {
			Cases []struct {
				Prompt    string `json:"prompt"`
				PromptIDs []int  `json:"prompt_ids"`
			} `json:"cases"`
		}
		b, err := os.ReadFile(filepath.Join(storiesDir, "reference_greedy.json"))
		if err != nil {
			stories.err = err
			return
		}
		if stories.err = json.Unmarshal(b, &ref); stories.err == nil {
			stories.cases = ref.Cases
		}
	})
	if stories.err != nil {
		t.Skipf("stories260K not available (%v): get it into %s", stories.err, storiesDir)
	}
	return stories.m
}

// TestStoriesGreedy is the acceptance test: secure greedy generation on stories260K equals the
// plaintext reference token for token, with a bounded logit error.
func TestStoriesGreedy(t *testing.T) {
	m := loadStories(t)
	n := 32
	cases := stories.cases
	if testing.Short() {
		n, cases = 8, cases[1:2]
	}
	const bound = 0.05
	for _, p := range backends {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/%q", p, c.Prompt), func(t *testing.T) {
				refTok, refLogits := reference(t, m, c.PromptIDs, n, nil)
				run := generate(t, p, inproc.Memory, m, c.PromptIDs, n, nil)
				worst := compare(t, run, refTok, refLogits)
				t.Logf("%d tokens match; largest logit error %.4f", n, worst)
				if worst > bound {
					t.Fatalf("largest logit error %.4f exceeds %.2f", worst, bound)
				}
			})
		}
	}
}

// TestTinyGPT2 checks secure prefill and decode of a seeded random GPT-2-style model, over
// memory and, for one case per backend, TCP on loopback.
func TestTinyGPT2(t *testing.T) {
	m, err := model.RandomModel("gpt2-test", 7)
	if err != nil {
		t.Fatal(err)
	}
	prompt := []int{3, 17, 42, 5, 99, 1, 0, 64}
	for i := range prompt {
		prompt[i] %= m.Config.Vocab
	}
	for _, p := range backends {
		for _, nw := range []struct {
			name string
			nw   inproc.Network
		}{{"memory", inproc.Memory}, {"loopback", inproc.Loopback}} {
			t.Run(string(p)+"/"+nw.name, func(t *testing.T) {
				refTok, refLogits := reference(t, m, prompt, 4, nil)
				run := generate(t, p, nw.nw, m, prompt, 4, nil)
				worst := compare(t, run, refTok, refLogits)
				t.Logf("largest logit error %.4f", worst)
				if worst > 0.05 {
					t.Fatalf("largest logit error %.4f exceeds 0.05", worst)
				}
			})
		}
	}
}

// TestGenerateGreedy checks Generate, whose greedy steps take the argmax on the untruncated
// classifier product (PrefillNext, DecodeNext), against the float64 reference's tokens, and the
// meter: it saves the truncation of the logits that Prefill/Decode then Next pays.
func TestGenerateGreedy(t *testing.T) {
	m, err := model.RandomModel("gpt2-test", 7)
	if err != nil {
		t.Fatal(err)
	}
	prompt := []int{3, 17, 42, 5, 99, 1, 0, 64}
	for i := range prompt {
		prompt[i] %= m.Config.Vocab
	}
	const n = 6
	refTok, _ := reference(t, m, prompt, n, nil)
	for _, p := range backends {
		t.Run(string(p), func(t *testing.T) {
			shares, in := shareInputs(t, p, m, prompt)
			type party struct {
				ids  []*mpc.Share
				stat mpc.Stat
			}
			res, err := inproc.Run(p, inproc.Memory, mpc.Config{Frac: testFrac}, func(e mpc.Engine) (party, error) {
				var out party
				s, err := NewSession(e, shares[e.Party()], Options{})
				if err != nil {
					return out, err
				}
				err = s.Generate(in[e.Party()], n, func(_ int, id *mpc.Share) error {
					out.ids = append(out.ids, id)
					return nil
				})
				out.stat = e.Meter().Under("decode/lm_head/classify")
				return out, err
			})
			if err != nil {
				t.Fatal(err)
			}
			for step := range n {
				var ids []*mpc.Share
				for _, r := range res {
					ids = append(ids, r.ids[step])
				}
				if got := int(int64(mpctest.Reveal(t, p, ids).Data[0])); got != refTok[step] {
					t.Fatalf("token %d: %d, reference %d", step, got, refTok[step])
				}
			}
			// Each of the n−1 decode steps' classifier is one product (1 round at P1, which
			// receives in both protocols), with no truncation round. In 3pc the product goes
			// to the two-party view: P2 sends its term to P1, 8 bytes per logit, and P0 and P1
			// send nothing.
			if r := res[1].stat.Rounds; r != int64(n-1) {
				t.Errorf("decode classifier: %d rounds at P1 over %d steps, want %d (no truncation)", r, n-1, n-1)
			}
			if p == mpc.ThreePC {
				want := int64(8 * m.Config.Vocab * (n - 1))
				if s := res[2].stat.OnlineSent; s != want || res[0].stat.OnlineSent != 0 || res[1].stat.OnlineSent != 0 {
					t.Errorf("decode classifier: P0, P1, P2 sent %d, %d, %d bytes; want 0, 0, %d", res[0].stat.OnlineSent, res[1].stat.OnlineSent, s, want)
				}
			}
		})
	}
}

func TestShareFile(t *testing.T) {
	m, err := model.RandomModel("llama-test", 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range backends {
		t.Run(string(p), func(t *testing.T) {
			shares, err := ShareModel(m, p, 16)
			if err != nil {
				t.Fatal(err)
			}
			for party, w := range shares {
				var buf bytes.Buffer
				if err := w.Save(&buf); err != nil {
					t.Fatal(err)
				}
				got, err := LoadShares(bytes.NewReader(buf.Bytes()), Expect{Protocol: p, Party: party, CheckParty: true, ModelID: w.ModelID})
				if err != nil {
					t.Fatalf("party %d: %v", party, err)
				}
				if got.ModelID != w.ModelID || !slices.Equal(got.Embed.Own, w.Embed.Own) || !slices.Equal(got.Layers[1].Down.Next, w.Layers[1].Down.Next) {
					t.Fatalf("party %d: round trip changed the shares", party)
				}
			}
			var buf bytes.Buffer
			if err := shares[0].Save(&buf); err != nil {
				t.Fatal(err)
			}
			file := buf.Bytes()
			other := mpc.ThreePC
			if p == mpc.ThreePC {
				other = mpc.TwoPC
			}
			corrupt := slices.Clone(file)
			corrupt[len(corrupt)/2] ^= 1
			bad := []struct {
				name string
				data []byte
				want Expect
				msg  string
			}{
				{"wrong-party", file, Expect{Party: 1, CheckParty: true}, "belongs to party 0"},
				{"wrong-protocol", file, Expect{Protocol: other}, "protocol"},
				{"wrong-model", file, Expect{ModelID: "0123"}, "model"},
				{"corrupt", corrupt, Expect{}, "corrupt"},
				{"truncated", file[:len(file)-100], Expect{}, "truncated"},
				{"not-a-share-file", []byte("hello world, this is not it"), Expect{}, "magic"},
			}
			for _, b := range bad {
				t.Run(b.name, func(t *testing.T) {
					_, err := LoadShares(bytes.NewReader(b.data), b.want)
					if err == nil || !strings.Contains(err.Error(), b.msg) {
						t.Fatalf("got %v, want an error about %q", err, b.msg)
					}
				})
			}
		})
	}
}

// FuzzLoadShares feeds arbitrary bytes to the share-file reader: it must return an error or
// shares, never panic.
func FuzzLoadShares(f *testing.F) {
	m, err := model.RandomModel("llama-test", 3)
	if err != nil {
		f.Fatal(err)
	}
	shares, err := ShareModel(m, mpc.TwoPC, 16)
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if err := shares[2].Save(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(fileMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		LoadShares(bytes.NewReader(data), Expect{})
	})
}

// TestDefaultModel runs secure greedy generation on the project's embedded default model (a
// trained GPT-2-style model) and checks it against the reference.
func TestDefaultModel(t *testing.T) {
	m, tok, err := model.Open(filepath.Join("..", "models", "shakespeare-gpt2"))
	if err != nil {
		t.Fatal(err)
	}
	prompt := tok.Encode("ROMEO:\nWhat light through yonder window breaks?\n")
	n := 16
	if testing.Short() {
		n = 6
	}
	for _, p := range backends {
		t.Run(string(p), func(t *testing.T) {
			refTok, refLogits := reference(t, m, prompt, n, nil)
			run := generate(t, p, inproc.Memory, m, prompt, n, nil)
			worst := compare(t, run, refTok, refLogits)
			t.Logf("%q: %d tokens match; largest logit error %.4f", tok.Decode(run.tokens), n, worst)
			if worst > 0.05 {
				t.Fatalf("largest logit error %.4f exceeds 0.05", worst)
			}
		})
	}
}

// TestStoriesDealerFree runs stories260K in two-party mode with no dealer: correlated
// randomness from oblivious transfer and homomorphic encryption (mpc/twoparty).
func TestStoriesDealerFree(t *testing.T) {
	if testing.Short() {
		t.Skip("dealer-free generation takes minutes of CPU on 2 cores; run without -short")
	}
	m := loadStories(t)
	c := stories.cases[1]
	n := 8
	cfg := mpc.Config{Frac: testFrac, Material: twoparty.Source(twoparty.Options{})}
	refTok, refLogits := reference(t, m, c.PromptIDs, n, nil)
	run := generateWith(t, mpc.TwoPC, inproc.Memory, cfg, m, c.PromptIDs, n, nil)
	worst := compare(t, run, refTok, refLogits)
	t.Logf("%d tokens match; largest logit error %.4f; offline bytes per party %d", n, worst, run.stats[0].OfflineSent+run.stats[0].OfflineRecv)
	if worst > 0.05 {
		t.Fatalf("largest logit error %.4f exceeds 0.05", worst)
	}
}

// TestNextRange checks the range greedy decoding's argmax is narrowed to: logits spread over
// the whole of ±2^19 (its ends, and a runner-up one unit in the last place below a winner of
// the lowest or the highest id),
// in both protocols, as shares of the engine (Next) and as the untruncated classifier
// product in the two-party view, where the comparisons drop low bits.
func TestNextRange(t *testing.T) {
	m, err := model.RandomModel("gpt2-test", 7)
	if err != nil {
		t.Fatal(err)
	}
	V := m.Config.Vocab
	ulp := math.Ldexp(1, -int(testFrac))
	top := 1<<19 - ulp
	cases := map[string]func(i int) float64{
		"ends":  func(i int) float64 { return -top + 2*top*float64((i*37)%V)/float64(V-1) },
		"close": func(i int) float64 { return top - float64((i*11)%V)*ulp },
		"late":  func(i int) float64 { return top - float64(((V-1-i)*11)%V)*ulp },
		"neg":   func(i int) float64 { return -top + float64((i*13)%V) },
	}
	for name, f := range cases {
		vals := make([]float64, V)
		want := 0
		for i := range vals {
			vals[i] = f(i)
			if vals[i] > vals[want] {
				want = i
			}
		}
		for _, p := range backends {
			for _, inView := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/view=%v", name, p, inView), func(t *testing.T) {
					testNextRange(t, p, m, vals, want, inView)
				})
			}
		}
	}
}

// testNextRange is one case of TestNextRange.
func testNextRange(t *testing.T, p mpc.Protocol, m *model.Model, vals []float64, want int, inView bool) {
	shares, _ := shareInputs(t, p, m, []int{1})
	x := mpc.NewTensor(1, len(vals))
	frac := uint(testFrac)
	if inView {
		frac *= 2
	}
	for i, v := range vals {
		x.Data[i] = mpc.Encode(v, frac)
	}
	ls, err := mpc.Split(p, x)
	if err != nil {
		t.Fatal(err)
	}
	res, err := inproc.Run(p, inproc.Memory, mpc.Config{Frac: testFrac}, func(e mpc.Engine) (*mpc.Share, error) {
		s, err := NewSession(e, shares[e.Party()], Options{})
		if err != nil {
			return nil, err
		}
		if !inView {
			_, id, err := s.Next(ls[e.Party()])
			return id, err
		}
		lv, err := e.ToPair(ls[e.Party()])
		if err != nil {
			return nil, err
		}
		_, id, err := s.next(lv, true)
		return id, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := int(int64(mpctest.Reveal(t, p, res).Data[0])); got != want {
		t.Fatalf("argmax %d (logit %v), want %d (logit %v)", got, vals[got], want, vals[want])
	}
}
