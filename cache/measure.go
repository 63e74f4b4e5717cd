package cache

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/privinfer/mpcache/infer"
	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/inproc"
	"github.com/privinfer/mpcache/mpc/prg"
)

// randomStarter is a policy whose cache can start from random shares: after Start, fill puts
// into one layer what a prefill of the prompt would have left there (as many rows, kept sets
// of the configured budget, representatives), with random values drawn from seed, which
// every party passes alike. Decode costs depend on these shapes, not on the values.
type randomStarter interface {
	infer.Policy
	fill(o *ops, layer int, seed prg.Seed)
}

// fullStarter adapts infer.Full.
type fullStarter struct {
	*infer.Full
	cfg    model.Config
	prompt int
}

func (f *fullStarter) Start(e mpc.Engine, cfg model.Config, promptLen int) error {
	f.cfg, f.prompt = cfg, promptLen
	return f.Full.Start(e, cfg, promptLen)
}

func (f *fullStarter) fill(o *ops, layer int, seed prg.Seed) {
	k, v := infer.RandomKV(o.e, f.cfg, layer, f.prompt, seed)
	if o.err == nil {
		if err := f.Full.Prefill(o.e, layer, k, v, nil); err != nil {
			o.err = err
		}
	}
}

func (s *StreamingLLM) fill(o *ops, layer int, seed prg.Seed) {
	k, v := infer.RandomKV(o.e, s.cfg, layer, len(s.kept()), seed)
	s.install(o, layer, k, v)
}

func (h *H2O) fill(o *ops, layer int, seed prg.Seed) {
	kv := h.cfg.KVHeads
	r := min(h.Recent, h.prompt)
	slots := min(h.prompt-r, h.Heavy)
	ly := h2oLayer{first: h.prompt - r, r: r, o: slots}
	if r > 0 {
		ly.rk, ly.rv = infer.RandomKV(o.e, h.cfg, layer, r, seed.Derive("recent"))
		ly.racc = infer.RandomShare(o.e, seed.Derive("racc"), kv, r)
	}
	if slots > 0 {
		ly.k, ly.v = infer.RandomKV(o.e, h.cfg, layer, slots, seed.Derive("heavy"))
		ly.acc = infer.RandomShare(o.e, seed.Derive("acc"), kv, slots)
		ly.pos = o.public(broadcastPositions(span(0, slots), kv))
	}
	h.install(o, layer, ly)
}

// fill keeps a random kept set of the fixed budget K = max(1, ⌊StaticRatio·T⌋): K random rows
// in every layer, and, in an owner layer, random representatives of its complete clusters
// (computing them is prefill work, which MeasurePrefill measures).
func (m *MPCache) fill(o *ops, layer int, seed prg.Seed) {
	if m.p.Threshold > 0 {
		o.err = errors.New("cache: mpcache: the threshold variant keeps a data-dependent count: no random start")
		return
	}
	K := m.budget()
	k, v := infer.RandomKV(o.e, m.cfg, layer, K, seed)
	ly := m.install(layer, K)
	if m.sched[layer] == layer {
		kv, hd := m.cfg.KVHeads, m.cfg.HeadDim()
		ly.keptN = K
		ly.keptPos = o.public(ints(span(0, K), K))
		if c2, c1 := K/m.p.Cluster2, K/m.p.Cluster1; c2 > 0 {
			ly.reps = infer.RandomShare(o.e, seed.Derive("reps"), kv, c2, 2, hd)
			ly.blend2 = infer.RandomShare(o.e, seed.Derive("blend2"), kv, c2, hd)
			if c1 > 0 {
				ly.blend1 = infer.RandomShare(o.e, seed.Derive("blend1"), kv, c1, hd)
			}
		}
	}
	o.fix(&k, &v, &ly.blend2, &ly.blend1)
	m.store(o, ly, k, v)
}

// starter returns p as a randomStarter, adapting infer.Full.
func starter(p infer.Policy) (randomStarter, error) {
	switch p := p.(type) {
	case *infer.Full:
		return &fullStarter{Full: p}, nil
	case randomStarter:
		return p, nil
	}
	return nil, fmt.Errorf("cache: policy %s (%T) cannot start from a random cache", p.Name(), p)
}

// RandomCache wraps p (infer.Full or a policy of this package) for benchmarks of decoding at
// long contexts: its Start sees a prompt of context tokens whatever the real prompt, and its
// Prefill ignores what it gets and leaves in the layer what a prefill of context tokens would
// leave (the full cache, the streaming window, H2O's heavy and recent rows, MPCache's kept set
// of the configured budget with its representatives), with random shares drawn from seed,
// which every party must pass alike. Run a one-token prefill, then decode: the decode steps
// cost what they cost after a real prompt of context tokens, since costs depend on shapes only.
// The cache holds garbage: outputs of such a session are meaningless, and results must say
// the cache did not come from a real prefill.
func RandomCache(p infer.Policy, context int, seed prg.Seed) (infer.Policy, error) {
	st, err := starter(p)
	if err != nil {
		return nil, err
	}
	if context < 1 {
		return nil, fmt.Errorf("cache: random cache of %d tokens", context)
	}
	return &randomCache{randomStarter: st, context: context, seed: seed}, nil
}

type randomCache struct {
	randomStarter
	context int
	seed    prg.Seed
}

func (r *randomCache) Start(e mpc.Engine, cfg model.Config, _ int) error {
	return r.randomStarter.Start(e, cfg, r.context)
}

func (r *randomCache) Prefill(e mpc.Engine, layer int, _, _, _ *mpc.Share) error {
	o := &ops{e: e}
	r.fill(o, layer, r.seed.Derive(fmt.Sprint(layer)))
	return o.err
}

// DecodeOptions configures MeasureDecode and MeasurePrefill.
type DecodeOptions struct {
	Protocol   mpc.Protocol
	Comparison mpc.Comparison // the engine's comparison; "" for its default
	Frac       uint           // fixed-point fractional bits; 0 for 16
	// Shape is the model's shape. Its weights are random shares (infer.RandomShares): the
	// costs do not depend on them. MaxSeq grows to fit Context and the steps.
	Shape model.Config
	// Context is the prompt length T: decoding starts at position T from a cache of random
	// shares as a prefill of T tokens would leave it (RandomCache; for MeasurePrefill, the
	// prefill's keys, values and probabilities are random).
	Context int
	// Steps is the number of decode steps measured (≥ 1); the figures are their mean. MPCache's
	// representatives are computed on the steps after those that complete a cluster, so its
	// cost repeats every Cluster1 steps.
	Steps int
	Seed  prg.Seed // draws the random weights and cache, alike at every party
}

// Cost is one policy's measured figures: per decode step for MeasureDecode, per prefill for
// MeasurePrefill.
type Cost struct {
	Policy   string
	Protocol mpc.Protocol
	Context  int
	Steps    int
	// Seconds is the wall-clock time, all parties in this process over the in-memory network
	// (the slowest party's), CPUSeconds the process's CPU time in that span: on a machine
	// shared with other work the latter is the steadier figure.
	Seconds, CPUSeconds float64
	// Online is the online bytes sent by the party that sends the most, Offline the offline
	// bytes (dealer or P2 material) received by the party that receives the most, Rounds the
	// most rounds of any party.
	Online, Offline, Rounds int64
	// Labels is P0's traffic and time per meter label (for example
	// "decode/layer3/attn/scores/select/topk"); ByOperation merges the layers.
	Labels map[string]mpc.Stat
}

// WAN estimates the time on a wide-area network of rtt round trips and bandwidth bits per
// second: Rounds·rtt + 8·Online/bandwidth.
func (c Cost) WAN(rtt time.Duration, bandwidth float64) float64 {
	return float64(c.Rounds)*rtt.Seconds() + 8*float64(c.Online)/bandwidth
}

var layerLabel = regexp.MustCompile(`layer\d+/`)

// ByOperation returns Labels with the layer component removed ("decode/attn/softmax/exp"),
// summing the layers.
func (c Cost) ByOperation() map[string]mpc.Stat {
	out := map[string]mpc.Stat{}
	for k, s := range c.Labels {
		k = layerLabel.ReplaceAllString(k, "")
		t := out[k]
		t.Add(s)
		out[k] = t
	}
	return out
}

// MeasureDecode measures, for each policy (a constructor called once per party: infer.NewFull
// or a policy of this package), decode steps of a model of the given shape with random weights,
// starting from a random cache of Context prompt tokens (RandomCache's fill, then infer's
// Session.Resume), all parties in this process over the in-memory network. A step is the
// forward of one token and the argmax that picks the next; its figures exclude the set-up
// (sharing and fixing the weights) and the random start. The policies run one after the other
// on the same engines.
func MeasureDecode(opt DecodeOptions, policies ...func() (infer.Policy, error)) ([]Cost, error) {
	if opt.Steps < 1 || opt.Context < 1 {
		return nil, fmt.Errorf("cache: measure decode: need steps ≥ 1 and context ≥ 1, have %d and %d", opt.Steps, opt.Context)
	}
	cfg := opt.Shape
	cfg.MaxSeq = max(cfg.MaxSeq, opt.Context+opt.Steps+1)
	return measure(opt, cfg, true, len(policies), func(e mpc.Engine, w *infer.ModelShares, i int, seed prg.Seed) (string, func() error, error) {
		pol, err := policies[i]()
		if err != nil {
			return "", nil, err
		}
		st, err := starter(pol)
		if err != nil {
			return "", nil, err
		}
		s, err := infer.NewSession(e, w, infer.Options{Policy: st})
		if err != nil {
			return "", nil, err
		}
		end := e.Meter().Scope("prefill")
		defer end()
		if err := st.Start(e, cfg, opt.Context); err != nil {
			return "", nil, err
		}
		o := &ops{e: e}
		for l := range cfg.Layers {
			st.fill(o, l, seed.Derive(fmt.Sprint(l)))
		}
		tok := o.public(mpc.NewTensor(1, cfg.Vocab)) // any one-hot row costs the same
		if o.err != nil {
			return "", nil, o.err
		}
		if err := s.Resume(opt.Context); err != nil {
			return "", nil, err
		}
		return pol.Name(), func() error {
			for range opt.Steps {
				var err error
				if tok, _, err = s.DecodeNext(tok); err != nil {
					return err
				}
			}
			return nil
		}, nil
	})
}

// MeasurePrefill measures each policy's prefill work alone (static eviction, gathers, fixing,
// representatives) for a model of the given shape: Start with a prompt of Context tokens, then
// Prefill of every layer with random shares of its keys, values and causal probabilities (the
// transformer's own prefill is not run). Steps is ignored.
func MeasurePrefill(opt DecodeOptions, policies ...func() (infer.Policy, error)) ([]Cost, error) {
	if opt.Context < 1 {
		return nil, fmt.Errorf("cache: measure prefill: context %d", opt.Context)
	}
	cfg := opt.Shape
	cfg.MaxSeq = max(cfg.MaxSeq, opt.Context)
	opt.Steps = 1
	T, kv, g := opt.Context, cfg.KVHeads, cfg.GroupSize()
	return measure(opt, cfg, false, len(policies), func(e mpc.Engine, _ *infer.ModelShares, i int, seed prg.Seed) (string, func() error, error) {
		pol, err := policies[i]()
		if err != nil {
			return "", nil, err
		}
		return pol.Name(), func() error {
			if err := pol.Start(e, cfg, T); err != nil {
				return err
			}
			for l := range cfg.Layers {
				k, v := infer.RandomKV(e, cfg, l, T, seed)
				probs := infer.RandomShare(e, seed.Derive(fmt.Sprint("probs", l)), kv, g*T, T)
				end := e.Meter().Scope(fmt.Sprintf("prefill/layer%d/attn/cache", l))
				err := pol.Prefill(e, l, k, v, probs)
				end()
				if err != nil {
					return err
				}
			}
			return nil
		}, nil
	})
}

// measure runs the engines of opt.Protocol, gives every party random model shares of shape cfg
// when weights is set, and, for each of n cases, lets prepare set the case up and measures the
// function it returns.
func measure(opt DecodeOptions, cfg model.Config, weights bool, n int, prepare func(e mpc.Engine, w *infer.ModelShares, i int, seed prg.Seed) (string, func() error, error)) ([]Cost, error) {
	frac := opt.Frac
	if frac == 0 {
		frac = 16
	}
	type run struct {
		name         string
		stats        map[string]mpc.Stat
		seconds, cpu float64
	}
	res, err := inproc.Run(opt.Protocol, inproc.Memory, mpc.Config{Frac: frac, Comparison: opt.Comparison}, func(e mpc.Engine) ([]run, error) {
		var w *infer.ModelShares
		if weights {
			var err error
			end := e.Meter().Scope("setup")
			w, err = infer.RandomShares(cfg, opt.Protocol, e.Party(), frac, opt.Seed.Derive("weights"))
			end()
			if err != nil {
				return nil, err
			}
		}
		out := make([]run, n)
		for i := range out {
			name, f, err := prepare(e, w, i, opt.Seed.Derive(fmt.Sprint("case", i)))
			if err != nil {
				return nil, fmt.Errorf("case %d: %w", i, err)
			}
			before, cpu0, t0 := e.Meter().Stats(), cpuSeconds(), time.Now()
			if err := f(); err != nil {
				return nil, fmt.Errorf("case %d (%s): %w", i, name, err)
			}
			out[i] = run{name: name, stats: diff(e.Meter().Stats(), before), seconds: time.Since(t0).Seconds(), cpu: cpuSeconds() - cpu0}
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	costs := make([]Cost, n)
	steps := int64(opt.Steps)
	for i := range costs {
		c := Cost{Policy: res[0][i].name, Protocol: opt.Protocol, Context: opt.Context, Steps: opt.Steps, Labels: map[string]mpc.Stat{}}
		for party, r := range res {
			var tot mpc.Stat
			for _, s := range r[i].stats {
				tot.Add(s)
			}
			c.Seconds = max(c.Seconds, r[i].seconds/float64(steps))
			c.CPUSeconds = max(c.CPUSeconds, r[i].cpu/float64(steps))
			c.Online = max(c.Online, tot.OnlineSent/steps)
			c.Offline = max(c.Offline, tot.OfflineRecv/steps)
			c.Rounds = max(c.Rounds, tot.Rounds/steps)
			if party == 0 {
				for k, s := range r[i].stats {
					c.Labels[k] = mpc.Stat{OnlineSent: s.OnlineSent / steps, OnlineRecv: s.OnlineRecv / steps,
						OfflineSent: s.OfflineSent / steps, OfflineRecv: s.OfflineRecv / steps,
						Rounds: s.Rounds / steps, Seconds: s.Seconds / float64(steps)}
				}
			}
		}
		costs[i] = c
	}
	return costs, nil
}

// diff returns the labels' counters in after minus those in before, dropping labels without
// traffic or rounds.
func diff(after, before map[string]mpc.Stat) map[string]mpc.Stat {
	out := map[string]mpc.Stat{}
	for k, a := range after {
		d := a.Sub(before[k])
		if d.OnlineSent != 0 || d.OnlineRecv != 0 || d.OfflineRecv != 0 || d.OfflineSent != 0 || d.Rounds != 0 || d.Seconds > 1e-3 {
			out[k] = d
		}
	}
	return out
}
