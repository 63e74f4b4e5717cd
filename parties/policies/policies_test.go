package policies

import (
	"strings"
	"testing"

	"github.com/privinfer/mpcache/infer"
	"github.com/privinfer/mpcache/model"
)

func TestLookup(t *testing.T) {
	Register("test-window", Policy{
		Secure:    func(model.Config, Params) (infer.Policy, error) { return infer.NewFull(), nil },
		Reference: nil,
		Params:    []string{"window"},
	})
	cases := []struct {
		name   string
		policy string
		params Params
		want   string // "" for success
	}{
		{"default", "", nil, ""},
		{"full", "full", nil, ""},
		{"unknown", "lru", nil, `unknown cache policy "lru" (known: full, h2o, mpcache, streaming, test-window)`},
		{"full takes no parameters", "full", Params{"keep": "4"}, `takes no parameter "keep" (it takes: none)`},
		{"registered", "test-window", Params{"window": "8"}, ""},
		{"registered, unknown parameter", "test-window", Params{"sink": "4"}, "(it takes: window)"},
	}
	var cfg model.Config
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Secure(c.policy, cfg, c.params)
			_, rerr := Reference(c.policy, cfg, c.params)
			if c.want == "" {
				if err != nil || rerr != nil || s == nil {
					t.Fatalf("got %v / %v", err, rerr)
				}
				return
			}
			for _, e := range []error{err, rerr} {
				if e == nil || !strings.Contains(e.Error(), c.want) {
					t.Fatalf("got %v, want an error containing %q", e, c.want)
				}
			}
		})
	}
}

func TestParamsInt(t *testing.T) {
	p := Params{"keep": " 64 ", "bad": "x"}
	if v, err := p.Int("keep", 1); v != 64 || err != nil {
		t.Fatalf("keep: %d %v", v, err)
	}
	if v, err := p.Int("missing", 7); v != 7 || err != nil {
		t.Fatalf("missing: %d %v", v, err)
	}
	if _, err := p.Int("bad", 0); err == nil || !strings.Contains(err.Error(), `bad="x"`) {
		t.Fatalf("bad: %v", err)
	}
}
