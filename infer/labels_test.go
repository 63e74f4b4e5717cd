package infer

import (
	"slices"
	"strings"
	"testing"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/inproc"
)

// TestLabels checks the meter's label tree of a prefill and one decode step, for both block
// families: benchmarks and the per-operation breakdown read these names.
func TestLabels(t *testing.T) {
	cases := []struct {
		shape string
		want  []string // labels with traffic, each under prefill/ and decode/
	}{
		{"gpt2-test", []string{"embed", "layer0/attn/norm", "layer0/attn/qkv", "layer0/attn/scores",
			"layer0/attn/softmax", "layer0/attn/mix", "layer0/attn/out", "layer0/mlp/norm",
			"layer0/mlp/up", "layer0/mlp/gelu", "layer0/mlp/down", "lm_head/classify", "lm_head/argmax"}},
		{"llama-test", []string{"embed", "layer0/attn/norm", "layer0/attn/qkv", "layer0/attn/rope", "layer0/attn/scores",
			"layer0/attn/softmax", "layer0/attn/mix", "layer0/attn/out", "layer0/mlp/norm",
			"layer0/mlp/up", "layer0/mlp/silu", "layer0/mlp/down", "lm_head/classify", "lm_head/argmax"}},
	}
	for _, c := range cases {
		t.Run(c.shape, func(t *testing.T) {
			m, err := model.RandomModel(c.shape, 3)
			if err != nil {
				t.Fatal(err)
			}
			shares, err := ShareModel(m, mpc.ThreePC, testFrac)
			if err != nil {
				t.Fatal(err)
			}
			in, err := mpc.Split(mpc.ThreePC, oneHot([]int{1, 2, 3}, m.Config.Vocab))
			if err != nil {
				t.Fatal(err)
			}
			res, err := inproc.Run(mpc.ThreePC, inproc.Memory, mpc.Config{Frac: testFrac}, func(e mpc.Engine) ([]string, error) {
				s, err := NewSession(e, shares[e.Party()], Options{})
				if err != nil {
					return nil, err
				}
				logits, err := s.Prefill(in[e.Party()])
				if err != nil {
					return nil, err
				}
				oh, _, err := s.Next(logits)
				if err != nil {
					return nil, err
				}
				if logits, err = s.Decode(oh); err != nil {
					return nil, err
				}
				if _, _, err := s.Next(logits); err != nil {
					return nil, err
				}
				return e.Meter().Labels(), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			labels := res[0]
			for _, phase := range []string{"prefill", "decode"} {
				for _, w := range c.want {
					l := phase + "/" + w
					if !slices.ContainsFunc(labels, func(s string) bool { return s == l || strings.HasPrefix(s, l+"/") }) {
						t.Errorf("no label %s (have %v)", l, labels)
					}
				}
			}
		})
	}
}
