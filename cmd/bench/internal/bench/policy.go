package bench

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"

	"github.com/privinfer/mpcache/infer"
	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/prg"
)

// PolicyKind is a secure cache policy the suite can run.
type PolicyKind struct {
	Name string
	// Budgeted policies take a budget: the fraction of the context they attend to, mapped
	// to parameters as model.NewPolicySpec does, so that cost and fidelity results line up.
	Budgeted bool
	// New returns a fresh policy for one sequence.
	New func(a PolicyArgs) (infer.Policy, error)
	// RandomStart, when not nil, fills a fresh policy's caches as if a prompt of context
	// tokens had been prefilled, from random shares that every party draws alike from seed
	// (see infer.RandomKV): the start of decode runs on long synthetic contexts, after which
	// the session resumes at position context (infer.Session.Resume). Nil means
	// StartRandom.
	RandomStart func(e mpc.Engine, p infer.Policy, cfg model.Config, context int, seed prg.Seed) error
	// PrefillProbs says the policy reads the prompt's attention probabilities in Prefill
	// (static eviction, accumulated attention); StartRandom then makes random ones.
	PrefillProbs bool
}

// policies is the registry. Adding a policy of package cache is one entry here; see
// docs/BENCHMARKS.md.
var policies = map[string]PolicyKind{
	"full": {
		Name: "full",
		New:  func(PolicyArgs) (infer.Policy, error) { return infer.NewFull(), nil },
	},
}

// PolicyArgs are what a policy is built from.
type PolicyArgs struct {
	Config model.Config // the model the parties run; Layers may be a prefix of the model's
	Depth  int          // the model's full number of layers
	Prompt int          // prompt tokens (the context)
	Budget float64      // fraction of the prompt to attend to (budgeted policies)
}

// subsetSchedule is the cross-layer sharing schedule for running the first run layers of a
// model of depth layers: the same fraction of owner layers as model.DefaultSchedule(depth)
// (at least one), owners first, each later layer reusing the last owner. For GPT-2-124M
// (12 layers, 8 owners) run on 3 layers it is [0 1 1]: 2 owners of 3, exactly the full
// model's ratio.
func subsetSchedule(depth, run int) model.Schedule {
	if run >= depth {
		return model.DefaultSchedule(depth)
	}
	owners := len(model.DefaultSchedule(depth).Owners())
	k := min(max(1, int(math.Round(float64(owners)*float64(run)/float64(depth)))), run)
	s := make(model.Schedule, run)
	for l := range s {
		s[l] = min(l, k-1)
	}
	return s
}

// LookupPolicy returns the registered policy of that name.
func LookupPolicy(name string) (PolicyKind, error) {
	k, ok := policies[name]
	if !ok {
		return PolicyKind{}, fmt.Errorf("bench: policy %q is not available (have %v)", name, PolicyNames())
	}
	return k, nil
}

// PolicyNames lists the registered policies, sorted.
func PolicyNames() []string {
	names := slices.Collect(maps.Keys(policies))
	sort.Strings(names)
	return names
}

// maxRandomProbs bounds the random prefill attention StartRandom makes (elements per layer):
// [KVHeads, Group·T, T] grows with the square of the context.
const maxRandomProbs = 1 << 22

// checkRandomStart reports why a policy of kind k cannot start from a random cache of
// context rows on a model of shape cfg, or nil.
func checkRandomStart(k PolicyKind, cfg model.Config, context int) error {
	if n := cfg.Heads * context * context; k.RandomStart == nil && k.PrefillProbs && n > maxRandomProbs {
		return fmt.Errorf("policy %s has no random start of its own (package cache), and random prefill attention would hold %d elements per layer (and its eviction would run on them); this suite makes at most %d: use a shorter context or --kv-start prefill", k.Name, n, maxRandomProbs)
	}
	return nil
}

// StartRandom is the generic random start: p.Start with a prompt of context tokens, then
// p.Prefill of every layer with random keys and values (infer.RandomKV) and, when probs is
// set, random attention probabilities. Decode costs depend on these shapes only.
func StartRandom(e mpc.Engine, p infer.Policy, cfg model.Config, context int, seed prg.Seed, probs bool) error {
	if n := cfg.Heads * context * context; probs && n > maxRandomProbs {
		return fmt.Errorf("bench: random prefill attention of %d elements per layer is more than %d", n, maxRandomProbs)
	}
	if err := p.Start(e, cfg, context); err != nil {
		return err
	}
	for l := range cfg.Layers {
		k, v := infer.RandomKV(e, cfg, l, context, seed)
		var pr *mpc.Share
		if probs {
			pr = randomShare(e, seed.Derive(fmt.Sprintf("probs/%d", l)), cfg.KVHeads, cfg.GroupSize()*context, context)
		}
		if err := p.Prefill(e, l, k, v, pr); err != nil {
			return err
		}
	}
	return nil
}

// randomShare returns this party's share of small random values (below one in fixed point)
// of the given shape, consistent across parties.
func randomShare(e mpc.Engine, seed prg.Seed, shape ...int) *mpc.Share {
	sh := &mpc.Share{Shape: slices.Clone(shape)}
	if e.IsDealer() {
		return sh
	}
	n := mpc.Numel(shape)
	comp := func(j int) []uint64 {
		v := make([]uint64, n)
		prg.New(seed.Derive(fmt.Sprint(j))).Uint64s(v)
		for i := range v {
			v[i] >>= 64 - e.Frac() + 2 // each component below 1/4
		}
		return v
	}
	sh.Own = comp(e.Party())
	if e.Protocol() == mpc.ThreePC {
		sh.Next = comp((e.Party() + 1) % 3)
	}
	return sh
}

// startRandom fills p's caches with context random rows by its kind's random start.
func startRandom(e mpc.Engine, k PolicyKind, p infer.Policy, cfg model.Config, context int, seed prg.Seed) error {
	if k.RandomStart != nil {
		return k.RandomStart(e, p, cfg, context, seed)
	}
	return StartRandom(e, p, cfg, context, seed, k.PrefillProbs)
}
