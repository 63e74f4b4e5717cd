package infer

import (
	"reflect"
	"testing"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/inproc"
	"github.com/privinfer/mpcache/mpc/prg"
	"github.com/privinfer/mpcache/mpc/twoparty"
)

// TestMaterialBudget checks the budget computed from shapes against what a real dealer-free
// session consumes, kind by kind, and that it grows with the tokens as it should.
func TestMaterialBudget(t *testing.T) {
	cfg, err := model.Shape("gpt2-test")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Layers = 1
	const prompt, n = 3, 2
	b, err := MaterialBudget(cfg, testFrac, prompt, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	tot := b.Total()
	if tot.Triples == 0 || tot.ANDs == 0 || len(tot.Truncs) == 0 || len(tot.OneHots) == 0 || len(tot.Matrices) == 0 {
		t.Fatalf("budget misses kinds: %+v", tot)
	}
	if b.Setup.Masks == 0 || b.Setup.Triples != 0 || b.Decode.Masks != 0 && b.Decode.Masks >= b.Setup.Masks {
		t.Fatalf("setup should hold the weight masks only: setup %+v, decode %+v", b.Setup, b.Decode)
	}

	// The real session, counted at each party.
	counts := consumed(t, cfg, prompt, func(e mpc.Engine, s *Session, in *mpc.Share) error {
		return s.Generate(in, n, func(int, *mpc.Share) error { return nil })
	})
	for p, c := range counts {
		if !reflect.DeepEqual(c, tot) {
			t.Errorf("party %d consumed %+v\nbudget %+v", p, c, tot)
		}
	}

	// One more token adds one decode step, which attends to one more row.
	b2, err := MaterialBudget(cfg, testFrac, prompt, n+1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b2.Setup, b.Setup) || !reflect.DeepEqual(b2.Prefill, b.Prefill) || b2.Decode.ANDs <= b.Decode.ANDs {
		t.Fatalf("budget for %d tokens %+v does not extend the one for %d %+v", n+1, b2, n, b)
	}
	if _, err := MaterialBudget(cfg, testFrac, cfg.MaxSeq, 2, nil); err == nil {
		t.Fatal("a budget beyond the context was accepted")
	}
	t.Logf("per decode step: %d triples, %d AND words, %d matrix triples; setup masks %d", b.Decode.Triples/(n-1), b.Decode.ANDs/(n-1), len(b.Decode.Matrices), b.Setup.Masks)
}

// TestSampledMaterialBudget checks SampledMaterialBudget against what a dealer-free session
// that generates by top-p sampling consumes (zero material under -short, as above), and that
// sampling costs more than greedy decoding.
func TestSampledMaterialBudget(t *testing.T) {
	cfg, err := model.Shape("gpt2-test")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Layers = 1
	const prompt, n, temperature, topP = 3, 2, 0.8, 0.9
	b, err := SampledMaterialBudget(cfg, testFrac, prompt, n, temperature, topP, nil)
	if err != nil {
		t.Fatal(err)
	}
	greedy, err := MaterialBudget(cfg, testFrac, prompt, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	tot := b.Total()
	if !reflect.DeepEqual(b.Setup, greedy.Setup) || tot.ANDs <= greedy.Total().ANDs || b.Decode.ANDs <= greedy.Decode.ANDs {
		t.Fatalf("sampled budget %+v does not extend the greedy one %+v", b, greedy)
	}
	for _, bad := range [][2]float64{{0, 0.9}, {0.8, 0}, {0.8, 1.5}} {
		if _, err := SampledMaterialBudget(cfg, testFrac, prompt, n, bad[0], bad[1], nil); err == nil {
			t.Errorf("temperature %v, top-p %v accepted", bad[0], bad[1])
		}
	}
	counts := consumed(t, cfg, prompt, func(e mpc.Engine, s *Session, in *mpc.Share) error {
		var ut *mpc.Tensor
		if e.Party() == 0 {
			ut = mpc.NewTensor(n)
			ut.Data[0], ut.Data[1] = 1<<(testFrac-2), 3<<(testFrac-2)
		}
		us, err := e.Input(0, ut, []int{n})
		if err != nil {
			return err
		}
		smp := Sampling{TopP: topP, Temperature: temperature, U: func(step int) (*mpc.Share, error) { return mpc.Slice(us, 0, step, step+1) }}
		return s.GenerateWith(in, n, smp, func(int, *mpc.Share) error { return nil })
	})
	for p, c := range counts {
		if !reflect.DeepEqual(c, tot) {
			t.Errorf("party %d consumed %+v\nbudget %+v", p, c, tot)
		}
	}
}

// consumed runs a real dealer-free session of cfg on random weights (NewSession, then gen on
// the one-hot prompt of prompt tokens) and returns the material each party consumed. Under
// -short the material is zeros of the right sizes (the counts do not depend on it; the outputs
// are garbage); otherwise the real dealer-free generator.
func consumed(t *testing.T, cfg model.Config, prompt int, gen func(e mpc.Engine, s *Session, in *mpc.Share) error) []mpc.MaterialCount {
	t.Helper()
	counts := make([]mpc.MaterialCount, 2)
	var real mpc.MaterialSource = func(mpc.Link) (mpc.Material, error) { return zeroMaterial{}, nil }
	if !testing.Short() {
		real = twoparty.Source(twoparty.Options{})
	}
	seed, _ := prg.NewSeed()
	_, err := inproc.Run(mpc.TwoPC, inproc.Memory, mpc.Config{Frac: testFrac, Material: func(l mpc.Link) (mpc.Material, error) {
		return mpc.Counted(real, &counts[l.Party()])(l)
	}}, func(e mpc.Engine) (struct{}, error) {
		w, err := RandomShares(cfg, mpc.TwoPC, e.Party(), testFrac, seed)
		if err != nil {
			return struct{}{}, err
		}
		s, err := NewSession(e, w, Options{})
		if err != nil {
			return struct{}{}, err
		}
		in, err := e.Input(0, oneHotIf(e.Party() == 0, prompt, cfg.Vocab), []int{prompt, cfg.Vocab})
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, gen(e, s, in)
	})
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

// oneHotIf is the public one-hot rows of the tokens 0..n-1 at the owner, nil elsewhere.
func oneHotIf(owner bool, n, vocab int) *mpc.Tensor {
	if !owner {
		return nil
	}
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i
	}
	return oneHot(ids, vocab)
}

// zeroMaterial is material of the right sizes and no meaning, for counting.
type zeroMaterial struct{}

func z(n int) []uint64 { return make([]uint64, n) }

func (zeroMaterial) Triple(n int) (a, b, c []uint64, err error) { return z(n), z(n), z(n), nil }
func (zeroMaterial) MatrixTriple(batch, m, k, n int, maskA, maskB []uint64) (a, b, c []uint64, err error) {
	if maskA == nil {
		a = z(batch * m * k)
	}
	if maskB == nil {
		b = z(batch * k * n)
	}
	return a, b, z(batch * m * n), nil
}
func (zeroMaterial) Mask(n int) ([]uint64, error) { return z(n), nil }
func (zeroMaterial) Trunc(n int, _ uint) (r, hi, msb []uint64, err error) {
	return z(n), z(n), z(n), nil
}
func (zeroMaterial) ANDTriple(n int) (a, b, c []uint64, err error) { return z(n), z(n), z(n), nil }
func (zeroMaterial) PrivateAND(n int) (u, zz []uint64, err error)  { return z(n), z(n), nil }
func (zeroMaterial) BitPair(n int) (rb, ra []uint64, err error)    { return z(n), z(n), nil }
func (zeroMaterial) OneHotPair(cnt, N int) (r, oh []uint64, err error) {
	return z(cnt), z(cnt * N), nil
}
