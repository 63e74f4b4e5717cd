package infer

import (
	"fmt"
	"math"
	"slices"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/prg"
)

// LayerShares is one party's share of a transformer block's weights. Matrices are stored
// [in][out] so that a projection is x·W. Fields a family does not use are nil.
type LayerShares struct {
	AttnNorm, AttnNormBias *mpc.Share // [Dim]
	// QKV is [Dim][Dim+2·KVDim]: the query (scaled by 1/√HeadDim), key and value projections
	// side by side; QKVBias is its bias (GPT-2).
	QKV, QKVBias *mpc.Share
	Out, OutBias *mpc.Share // [Dim][Dim], [Dim]
	MLPNorm      *mpc.Share // [Dim]
	MLPNormBias  *mpc.Share // [Dim] (GPT-2)
	// Up is [Dim][Hidden] (GPT-2's c_fc) or [Dim][2·Hidden] (LLaMA's gate and up side by side).
	Up, UpBias     *mpc.Share
	Down, DownBias *mpc.Share // [Hidden][Dim], [Dim]
}

// ModelShares is one party's share of a model: what a party stores and loads. It never holds
// plaintext weights.
type ModelShares struct {
	Config   model.Config
	Protocol mpc.Protocol
	Party    int
	Frac     uint
	// ModelID identifies the model the shares belong to (a digest of the weights), so that
	// parties and share files of different models are never mixed.
	ModelID string

	Embed                    *mpc.Share // [Vocab][Dim]
	Pos                      *mpc.Share // [MaxSeq][Dim] (GPT-2)
	Layers                   []LayerShares
	FinalNorm, FinalNormBias *mpc.Share // [Dim]
	// Classifier is [Dim][Vocab]; nil when the classifier is tied to Embed.
	Classifier *mpc.Share
}

// tensorSlot names one weight tensor of a model, its shape, and where it lives in a
// ModelShares. One list drives sharing, files, random shares and session set-up.
type tensorSlot struct {
	name  string
	shape []int
	ptr   **mpc.Share
}

// slots lists the tensors that cfg's family uses, in a fixed order.
func (w *ModelShares) slots() []tensorSlot {
	c := w.Config
	d, kv, h := c.Dim, c.KVDim(), c.Hidden
	gpt2 := c.Family == model.GPT2
	out := []tensorSlot{{"embed", []int{c.Vocab, d}, &w.Embed}}
	if gpt2 {
		out = append(out, tensorSlot{"pos", []int{c.MaxSeq, d}, &w.Pos})
	}
	if len(w.Layers) != c.Layers {
		w.Layers = make([]LayerShares, c.Layers)
	}
	for l := range w.Layers {
		ly := &w.Layers[l]
		p := fmt.Sprintf("layer%d.", l)
		up := h
		if !gpt2 {
			up = 2 * h
		}
		out = append(out,
			tensorSlot{p + "attn_norm", []int{d}, &ly.AttnNorm},
			tensorSlot{p + "qkv", []int{d, d + 2*kv}, &ly.QKV},
			tensorSlot{p + "out", []int{d, d}, &ly.Out},
			tensorSlot{p + "mlp_norm", []int{d}, &ly.MLPNorm},
			tensorSlot{p + "up", []int{d, up}, &ly.Up},
			tensorSlot{p + "down", []int{h, d}, &ly.Down})
		if gpt2 {
			out = append(out,
				tensorSlot{p + "attn_norm_bias", []int{d}, &ly.AttnNormBias},
				tensorSlot{p + "qkv_bias", []int{d + 2*kv}, &ly.QKVBias},
				tensorSlot{p + "out_bias", []int{d}, &ly.OutBias},
				tensorSlot{p + "mlp_norm_bias", []int{d}, &ly.MLPNormBias},
				tensorSlot{p + "up_bias", []int{h}, &ly.UpBias},
				tensorSlot{p + "down_bias", []int{d}, &ly.DownBias})
		}
	}
	out = append(out, tensorSlot{"final_norm", []int{d}, &w.FinalNorm})
	if gpt2 {
		out = append(out, tensorSlot{"final_norm_bias", []int{d}, &w.FinalNormBias})
	}
	if !c.TiedClassifier {
		out = append(out, tensorSlot{"classifier", []int{d, c.Vocab}, &w.Classifier})
	}
	return out
}

// check verifies that every tensor is present with its shape and the share data of protocol p.
func (w *ModelShares) check() error {
	if err := w.Config.Validate(); err != nil {
		return fmt.Errorf("infer: shares of an invalid model: %w", err)
	}
	for _, s := range w.slots() {
		t := *s.ptr
		if t == nil {
			return fmt.Errorf("infer: share of %s is missing", s.name)
		}
		if !slices.Equal(t.Shape, s.shape) {
			return fmt.Errorf("infer: share of %s has shape %v, want %v", s.name, t.Shape, s.shape)
		}
		n := t.Len()
		phantom := w.Protocol == mpc.TwoPC && w.Party == mpc.Dealer
		switch {
		case phantom && (t.Own != nil || t.Next != nil):
			return fmt.Errorf("infer: the dealer's share of %s holds data", s.name)
		case !phantom && len(t.Own) != n:
			return fmt.Errorf("infer: share of %s holds %d elements, want %d", s.name, len(t.Own), n)
		case w.Protocol == mpc.ThreePC && len(t.Next) != n:
			return fmt.Errorf("infer: replicated share of %s holds %d second elements, want %d", s.name, len(t.Next), n)
		case w.Protocol == mpc.TwoPC && t.Next != nil:
			return fmt.Errorf("infer: 2pc share of %s has a replicated part", s.name)
		}
	}
	return nil
}

// plainSlots returns the fixed-point values of every slot of m, in the order of slots: the
// owner's view of the model before splitting.
func plainSlots(m *model.Model, frac uint) (*ModelShares, [][]float64, error) {
	c := m.Config
	if err := m.Weights.Check(c); err != nil {
		return nil, nil, err
	}
	w := &ModelShares{Config: c}
	d, kv, h := c.Dim, c.KVDim(), c.Hidden
	scale := 1 / math.Sqrt(float64(c.HeadDim()))
	mw := m.Weights
	vals := map[string][]float64{
		"embed":           mw.Embed,
		"pos":             mw.Pos,
		"final_norm":      mw.FinalNorm,
		"final_norm_bias": mw.FinalNormBias,
	}
	if !c.TiedClassifier {
		vals["classifier"] = transpose(mw.Classifier, c.Vocab, d)
	}
	for l := range mw.Layers {
		ly := &mw.Layers[l]
		p := fmt.Sprintf("layer%d.", l)
		wq := transpose(ly.Wq, d, d)
		for i := range wq {
			wq[i] *= scale
		}
		vals[p+"attn_norm"] = ly.AttnNorm
		vals[p+"attn_norm_bias"] = ly.AttnNormBias
		vals[p+"qkv"] = hcat(d, [][]float64{wq, transpose(ly.Wk, kv, d), transpose(ly.Wv, kv, d)}, []int{d, kv, kv})
		if ly.Bq != nil {
			bq := slices.Clone(ly.Bq)
			for i := range bq {
				bq[i] *= scale
			}
			vals[p+"qkv_bias"] = slices.Concat(bq, ly.Bk, ly.Bv)
		}
		vals[p+"out"] = transpose(ly.Wo, d, d)
		vals[p+"out_bias"] = ly.Bo
		vals[p+"mlp_norm"] = ly.MLPNorm
		vals[p+"mlp_norm_bias"] = ly.MLPNormBias
		if c.Family == model.GPT2 {
			vals[p+"up"] = transpose(ly.W1, h, d)
		} else {
			vals[p+"up"] = hcat(d, [][]float64{transpose(ly.W1, h, d), transpose(ly.W3, h, d)}, []int{h, h})
		}
		vals[p+"up_bias"] = ly.B1
		vals[p+"down"] = transpose(ly.W2, d, h)
		vals[p+"down_bias"] = ly.B2
	}
	slots := w.slots()
	out := make([][]float64, len(slots))
	for i, s := range slots {
		v, ok := vals[s.name]
		if !ok || len(v) != mpc.Numel(s.shape) {
			return nil, nil, fmt.Errorf("infer: model tensor %s is missing or has %d values, want %d", s.name, len(v), mpc.Numel(s.shape))
		}
		out[i] = v
	}
	return w, out, nil
}

// transpose returns the [cols][rows] transpose of a row-major [rows][cols] matrix.
func transpose(a []float64, rows, cols int) []float64 {
	t := make([]float64, len(a))
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			t[j*rows+i] = a[i*cols+j]
		}
	}
	return t
}

// hcat joins row-major matrices with the same number of rows side by side.
func hcat(rows int, ms [][]float64, cols []int) []float64 {
	total := 0
	for _, c := range cols {
		total += c
	}
	out := make([]float64, 0, rows*total)
	for r := 0; r < rows; r++ {
		for i, m := range ms {
			out = append(out, m[r*cols[i]:(r+1)*cols[i]]...)
		}
	}
	return out
}

// ShareModel is the model owner's step: it encodes m's weights in fixed point with frac
// fractional bits and splits them into one ModelShares per party of protocol p (indexed by
// party; in 2pc entry 2 is the dealer's shape-only copy), with randomness from crypto/rand.
func ShareModel(m *model.Model, p mpc.Protocol, frac uint) ([]*ModelShares, error) {
	if frac == 0 {
		frac = 16
	}
	base, vals, err := plainSlots(m, frac)
	if err != nil {
		return nil, err
	}
	id := modelID(m.Config, vals)
	out := make([]*ModelShares, 3)
	for i := range out {
		out[i] = &ModelShares{Config: m.Config, Protocol: p, Party: i, Frac: frac, ModelID: id}
	}
	dst := make([][]tensorSlot, len(out))
	for i := range out {
		dst[i] = out[i].slots()
	}
	for si, s := range base.slots() {
		t, err := mpc.EncodeTensor(vals[si], frac, s.shape...)
		if err != nil {
			return nil, err
		}
		parts, err := mpc.Split(p, t)
		if err != nil {
			return nil, err
		}
		for i := range out {
			*dst[i][si].ptr = parts[i]
		}
	}
	return out, nil
}

// PhantomShares returns the 2pc dealer's view of a model: shapes without data.
func PhantomShares(cfg model.Config, modelID string, frac uint) (*ModelShares, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &ModelShares{Config: cfg, Protocol: mpc.TwoPC, Party: mpc.Dealer, Frac: frac, ModelID: modelID}
	for _, s := range w.slots() {
		*s.ptr = &mpc.Share{Shape: slices.Clone(s.shape)}
	}
	return w, nil
}

// RandomShares returns party party's share of a model of shape cfg whose weights are random
// ring elements, drawn from a seed every party passes alike. It exists for benchmarks, where
// the cost of inference does not depend on the weights: the "model" is garbage and every party
// could compute it from the seed, so it must never stand in for a real model.
func RandomShares(cfg model.Config, p mpc.Protocol, party int, frac uint, seed prg.Seed) (*ModelShares, error) {
	if p == mpc.TwoPC && party == mpc.Dealer {
		return PhantomShares(cfg, "random", frac)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &ModelShares{Config: cfg, Protocol: p, Party: party, Frac: frac, ModelID: "random"}
	for _, s := range w.slots() {
		n := mpc.Numel(s.shape)
		comp := func(j int) []uint64 {
			v := make([]uint64, n)
			prg.New(seed.Derive(fmt.Sprintf("%s/%d", s.name, j))).Uint64s(v)
			return v
		}
		sh := &mpc.Share{Shape: slices.Clone(s.shape), Own: comp(party)}
		if p == mpc.ThreePC {
			sh.Next = comp((party + 1) % 3)
		}
		*s.ptr = sh
	}
	return w, nil
}
