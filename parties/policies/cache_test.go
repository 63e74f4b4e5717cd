package policies

import (
	"slices"
	"strings"
	"testing"

	"github.com/privinfer/mpcache/cache"
	"github.com/privinfer/mpcache/infer"
	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/inproc"
	"github.com/privinfer/mpcache/mpc/mpctest"
)

func TestParseSpec(t *testing.T) {
	cases := []struct {
		spec   string
		params Params
		name   string
		want   Params
		err    string
	}{
		{"full", nil, "full", Params{}, ""},
		{"", nil, "", Params{}, ""},
		{"mpcache@0.5", nil, "mpcache", Params{"budget": "0.5"}, ""},
		{" h2o@0.2 ", Params{"x": "1"}, "h2o", Params{"budget": "0.2", "x": "1"}, ""},
		{"streaming", Params{"budget": "0.3"}, "streaming", Params{"budget": "0.3"}, ""},
		{"streaming@0.1", Params{"budget": "0.3"}, "", nil, "given twice"},
	}
	for _, c := range cases {
		name, p, err := ParseSpec(c.spec, c.params)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseSpec(%q, %v): %v, want an error containing %q", c.spec, c.params, err, c.err)
			}
			continue
		}
		if err != nil || name != c.name || !mapsEqual(p, c.want) {
			t.Errorf("ParseSpec(%q, %v) = %q, %v, %v; want %q, %v", c.spec, c.params, name, p, err, c.name, c.want)
		}
	}
}

func mapsEqual(a, b Params) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestBudgetedLookup(t *testing.T) {
	for _, name := range []string{"streaming", "h2o", "mpcache"} {
		if !slices.Contains(Names(), name) {
			t.Fatalf("%s is not registered: %v", name, Names())
		}
		for _, p := range []Params{nil, {"budget": "0.5"}, {"budget": "1"}} {
			if _, err := Lookup(name, p); err != nil {
				t.Errorf("%s %v: %v", name, p, err)
			}
		}
		for p, want := range map[string]string{"0": "outside (0, 1]", "1.5": "outside (0, 1]", "x": "not a number", "NaN": "outside"} {
			_, err := Lookup(name, Params{"budget": p})
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s budget %s: %v, want an error containing %q", name, p, err, want)
			}
		}
		if _, err := Lookup(name, Params{"keep": "4"}); err == nil || !strings.Contains(err.Error(), "(it takes: budget)") {
			t.Errorf("%s keep: %v", name, err)
		}
	}
	if _, err := Lookup("full", Params{"budget": "0.5"}); err == nil {
		t.Errorf("full takes a budget")
	}
}

// TestBudgeted checks that Budgeted maps a budget to the secure policies as model.NewPolicySpec
// maps it to the plaintext ones.
func TestBudgeted(t *testing.T) {
	const T = 40
	for _, b := range []float64{0.05, 0.1, 0.3, 1} {
		spec, _ := model.NewPolicySpec("h2o", b)
		ref, _ := spec.New(T)
		p, err := Budgeted("h2o", b, T, nil)
		if err != nil {
			t.Fatal(err)
		}
		if h, r := p.(*cache.H2O), ref.(*model.H2O); h.Heavy != r.Heavy || h.Recent != r.Recent {
			t.Errorf("h2o@%v: secure %d+%d, plaintext %d+%d", b, h.Heavy, h.Recent, r.Heavy, r.Recent)
		}
		for _, kind := range []string{"streaming", "mpcache", "full"} {
			if _, err := Budgeted(kind, b, T, nil); err != nil {
				t.Errorf("%s@%v: %v", kind, b, err)
			}
		}
	}
	if _, err := Budgeted("mpcache", 0, T, nil); err == nil {
		t.Errorf("budget 0 accepted")
	}
	if _, err := Budgeted("lru", 0.5, T, nil); err == nil {
		t.Errorf("unknown kind accepted")
	}
}

// TestSecureMatchesReference runs a secure greedy generation on a random GPT-2-style model
// with each budgeted policy as a party builds it (Secure) and the plaintext one as a checking
// client builds it (Reference): the tokens agree.
func TestSecureMatchesReference(t *testing.T) {
	m, err := model.RandomModel("gpt2-test", 11)
	if err != nil {
		t.Fatal(err)
	}
	prompt := make([]int, 40) // long enough for mpcache's clusters of 16 and 32 tokens
	for i := range prompt {
		prompt[i] = (i*37 + 5) % m.Config.Vocab
	}
	const n = 4
	protocols := []mpc.Protocol{mpc.TwoPC, mpc.ThreePC}
	specs := []string{"mpcache@0.3"}
	if !testing.Short() {
		specs = append(specs, "mpcache", "streaming@0.2", "h2o@0.2")
	}
	for _, p := range protocols {
		shares, err := infer.ShareModel(m, p, 16)
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
		for _, s := range specs {
			t.Run(string(p)+"/"+s, func(t *testing.T) {
				name, params, err := ParseSpec(s, nil)
				if err != nil {
					t.Fatal(err)
				}
				ref, err := Reference(name, m.Config, params)
				if err != nil {
					t.Fatal(err)
				}
				want := greedy(t, m, prompt, n, ref)
				ids := mpctest.Run(t, p, inproc.Memory, mpc.Config{Frac: 16, Comparison: mpc.CompareCircuit}, func(e mpc.Engine) ([]*mpc.Share, error) {
					pol, err := Secure(name, m.Config, params)
					if err != nil {
						return nil, err
					}
					is, err := infer.NewSession(e, shares[e.Party()], infer.Options{Policy: pol})
					if err != nil {
						return nil, err
					}
					var out []*mpc.Share
					err = is.Generate(in[e.Party()], n, func(_ int, id *mpc.Share) error {
						out = append(out, id)
						return nil
					})
					return out, err
				})
				var got []int
				for step := range n {
					var sh []*mpc.Share
					for _, r := range ids {
						sh = append(sh, r[step])
					}
					got = append(got, int(int64(mpctest.Reveal(t, p, sh).Data[0])))
				}
				if !slices.Equal(got, want) {
					t.Fatalf("secure %v, plaintext %s %v", got, s, want)
				}
			})
		}
	}
}

// greedy is the float64 reference's greedy generation under pol.
func greedy(t *testing.T, m *model.Model, prompt []int, n int, pol model.Policy) []int {
	t.Helper()
	s, err := model.NewSession(m, model.Options{Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	logits, err := s.Prefill(prompt)
	var out []int
	for err == nil {
		out = append(out, slices.Index(logits, slices.Max(logits)))
		if len(out) == n {
			break
		}
		logits, err = s.Decode(out[len(out)-1])
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}
