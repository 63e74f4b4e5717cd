package policies

import (
	"fmt"
	"strings"

	"github.com/privinfer/mpcache/cache"
	"github.com/privinfer/mpcache/infer"
	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
)

// DefaultBudget is the budget of a budgeted policy named without one (cmd/bench's default
// too). At 0.1, mpcache has exactly the paper's parameters (model.DefaultMPCacheParams).
const DefaultBudget = 0.1

// BudgetParam is the parameter name of a budgeted policy's budget.
const BudgetParam = "budget"

// Budgeted returns the secure policy of package cache called kind ("streaming", "h2o",
// "mpcache"; "full" gives infer.Full) at budget b, a fraction in (0, 1] of a prompt of
// promptLen tokens, with the parameters that model.NewPolicySpec(kind, b) gives its plaintext
// simulation for that prompt, so that the two match index for index. This is the one place
// where a budget becomes a secure policy's parameters: the parties' sessions and cmd/bench
// both build their policies here. A non-nil schedule replaces MPCache's cross-layer schedule
// (model.DefaultSchedule of the model's depth); the other policies ignore it.
func Budgeted(kind string, b float64, promptLen int, schedule model.Schedule) (infer.Policy, error) {
	spec, err := model.NewPolicySpec(kind, b)
	if err != nil {
		return nil, err
	}
	ref, err := spec.New(promptLen)
	if err != nil {
		return nil, err
	}
	switch r := ref.(type) {
	case model.Full:
		return infer.NewFull(), nil
	case model.StreamingLLM:
		return cache.NewStreamingLLM(r.Sinks, r.Window), nil
	case *model.H2O:
		return cache.NewH2O(r.Heavy, r.Recent), nil
	case *model.MPCache:
		p := r.Params()
		if schedule != nil {
			p.Schedule = schedule
		}
		return cache.NewMPCache(p)
	}
	return nil, fmt.Errorf("policies: policy %s has no secure counterpart of %T", kind, ref)
}

// ParseSpec splits a policy spec, "name" or "name@budget" (e.g. "mpcache@0.5"), into the
// policy's name and its parameters: params (not modified) with the budget added as
// BudgetParam. A budget both in the spec and in params is refused.
func ParseSpec(spec string, params Params) (string, Params, error) {
	name, b, ok := strings.Cut(strings.TrimSpace(spec), "@")
	out := make(Params, len(params)+1)
	for k, v := range params {
		out[k] = v
	}
	if ok {
		if _, dup := params[BudgetParam]; dup {
			return "", nil, fmt.Errorf("cache policy %q: the budget is given twice (in the spec and as a parameter)", spec)
		}
		out[BudgetParam] = b
	}
	return name, out, nil
}

// budget returns p's budget, checked.
func budget(p Params) (float64, error) {
	b, err := p.Float(BudgetParam, DefaultBudget)
	if err != nil {
		return 0, err
	}
	if !(b > 0 && b <= 1) {
		return 0, fmt.Errorf("budget %v outside (0, 1] (a fraction of the prompt)", b)
	}
	return b, nil
}

// budgetedPolicy is the registry entry of the budgeted policy kind. A budget maps to
// parameters through the prompt length, which the constructors do not know: they return
// policies that build the real one when Start gives it.
func budgetedPolicy(kind string) Policy {
	return Policy{
		Secure: func(_ model.Config, p Params) (infer.Policy, error) {
			b, err := budget(p)
			if err != nil {
				return nil, err
			}
			return &secureAtStart{name: kind, build: func(t int) (infer.Policy, error) { return Budgeted(kind, b, t, nil) }}, nil
		},
		Reference: func(_ model.Config, p Params) (model.Policy, error) {
			b, err := budget(p)
			if err != nil {
				return nil, err
			}
			spec, err := model.NewPolicySpec(kind, b)
			if err != nil {
				return nil, err
			}
			return &referenceAtStart{name: kind, build: spec.New}, nil
		},
		Params: []string{BudgetParam},
		Check:  func(p Params) error { _, err := budget(p); return err },
	}
}

// secureAtStart is a secure policy whose parameters depend on the prompt length: Start builds
// it, and the other methods go to it.
type secureAtStart struct {
	name  string
	build func(promptLen int) (infer.Policy, error)
	p     infer.Policy
}

func (s *secureAtStart) Name() string { return s.name }

func (s *secureAtStart) Start(e mpc.Engine, cfg model.Config, promptLen int) error {
	p, err := s.build(promptLen)
	if err != nil {
		return err
	}
	s.p = p
	return p.Start(e, cfg, promptLen)
}

func (s *secureAtStart) started() error {
	if s.p == nil {
		return fmt.Errorf("policies: %s used before Start", s.name)
	}
	return nil
}

func (s *secureAtStart) Prefill(e mpc.Engine, layer int, k, v, probs *mpc.Share) error {
	if err := s.started(); err != nil {
		return err
	}
	return s.p.Prefill(e, layer, k, v, probs)
}

func (s *secureAtStart) Scores(e mpc.Engine, layer int, q, k, v *mpc.Share) (*mpc.Share, error) {
	if err := s.started(); err != nil {
		return nil, err
	}
	return s.p.Scores(e, layer, q, k, v)
}

func (s *secureAtStart) Mix(e mpc.Engine, layer int, probs *mpc.Share) (*mpc.Share, error) {
	if err := s.started(); err != nil {
		return nil, err
	}
	return s.p.Mix(e, layer, probs)
}

// referenceAtStart is secureAtStart's plaintext counterpart.
type referenceAtStart struct {
	name  string
	build func(promptLen int) (model.Policy, error)
	p     model.Policy
}

func (r *referenceAtStart) Name() string { return r.name }

func (r *referenceAtStart) Start(cfg model.Config, promptLen int) error {
	p, err := r.build(promptLen)
	if err != nil {
		return err
	}
	r.p = p
	return p.Start(cfg, promptLen)
}

// The model's Session calls Start before the others (model.Policy's call order).

func (r *referenceAtStart) PrefillRow(layer, head, i int, probs []float64) {
	r.p.PrefillRow(layer, head, i, probs)
}

func (r *referenceAtStart) EndPrefill(layer int) error {
	if r.p == nil {
		return fmt.Errorf("policies: %s used before Start", r.name)
	}
	return r.p.EndPrefill(layer)
}

func (r *referenceAtStart) Select(layer, kvHead, pos int, q [][]float64, c *model.LayerCache) ([]int, error) {
	if r.p == nil {
		return nil, fmt.Errorf("policies: %s used before Start", r.name)
	}
	return r.p.Select(layer, kvHead, pos, q, c)
}

func (r *referenceAtStart) Observe(layer, kvHead int, sel []int, probs [][]float64) {
	r.p.Observe(layer, kvHead, sel, probs)
}
