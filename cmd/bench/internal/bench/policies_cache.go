package bench

import (
	"github.com/privinfer/mpcache/cache"
	"github.com/privinfer/mpcache/infer"
	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/prg"
	partypolicies "github.com/privinfer/mpcache/parties/policies"
)

// cacheRandomStart fills a policy of package cache as a prefill of context tokens would have
// left it (kept sets of the configured budget, heavy and recent rows, representatives), with
// random shares: cache.RandomCache's Start and Prefill, which ignore the prefill's inputs.
func cacheRandomStart(e mpc.Engine, p infer.Policy, cfg model.Config, context int, seed prg.Seed) error {
	rc, err := cache.RandomCache(p, context, seed)
	if err != nil {
		return err
	}
	if err := rc.Start(e, cfg, context); err != nil {
		return err
	}
	for l := range cfg.Layers {
		if err := rc.Prefill(e, l, nil, nil, nil); err != nil {
			return err
		}
	}
	return nil
}

// The secure eviction policies of package cache, with budgets mapped to parameters by
// policies.Budgeted, as model.NewPolicySpec maps them (so that `bench fidelity` and these
// costs describe the same configurations): B = max(2, round(budget·T)) attended positions of a
// prompt of T tokens.
func init() {
	policies["streaming"] = PolicyKind{
		Name: "streaming", Budgeted: true, RandomStart: cacheRandomStart,
		New: func(a PolicyArgs) (infer.Policy, error) {
			return partypolicies.Budgeted("streaming", a.Budget, a.Prompt, nil)
		},
	}
	policies["h2o"] = PolicyKind{
		Name: "h2o", Budgeted: true, PrefillProbs: true, RandomStart: cacheRandomStart,
		New: func(a PolicyArgs) (infer.Policy, error) {
			return partypolicies.Budgeted("h2o", a.Budget, a.Prompt, nil)
		},
	}
	policies["mpcache"] = PolicyKind{
		Name: "mpcache", Budgeted: true, PrefillProbs: true, RandomStart: cacheRandomStart,
		New: func(a PolicyArgs) (infer.Policy, error) {
			return partypolicies.Budgeted("mpcache", a.Budget, a.Prompt, subsetSchedule(a.Depth, a.Config.Layers))
		},
	}
}
