// Package bench is the latency and communication benchmark suite behind cmd/bench: it runs a
// grid of secure inference measurements (model × protocol × cache policy × context × phase ×
// network × backend), with the parties in separate processes over loopback TLS or in one
// process, emulates LAN and WAN links with transport.Shaper, keeps the results resumably in
// results.json, and writes a markdown report and SVG plots.
//
// # What a run measures
//
// A run is one point of the grid. Runs that differ only in the network are one execution:
// the parties set up the model once, build the KV cache once, and then decode (or prefill)
// once per network, switching every party's shaper at the same point of the program; the
// unshaped segment comes first and is the baseline of the network estimate.
//
//   - decode: Tokens decode steps, each Session.Decode followed by the secure argmax
//     (Session.Next) that produces the next token, so a step is one generated token. The KV
//     cache holds Context rows when the first measured step starts: from a real prefill of
//     Context prompt tokens, or, for synthetic shapes, from random secret shares of the right
//     shape (cost does not depend on the values; results record which).
//   - prefill: one Session.Prefill of Context tokens and its argmax; per-token figures divide
//     by Context.
//
// Figures per token are those of the whole system: online and offline bytes sent by all
// parties together, and the rounds of the party with the most (P0 or P1). Latency is the
// wall time of the slowest computing party. Every label's bytes, rounds and seconds are in
// the breakdown. With Layers < the model's depth, only the first Layers blocks run and every
// per-layer figure is scaled by depth/Layers (embedding and classifier are not scaled).
package bench

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/transport"
)

// Phases of a run.
const (
	Prefill = "prefill"
	Decode  = "decode"
)

// Modes of running the parties.
const (
	Processes = "processes" // one child process per party, TCP on loopback with mutual TLS
	InProc    = "inproc"    // every party in this process, in-memory links
)

// KV-cache starts of decode runs.
const (
	KVAuto    = "auto"    // prefill for real models, random for synthetic shapes
	KVPrefill = "prefill" // a real prefill of Context tokens
	KVRandom  = "random"  // Context rows of random shares
)

// Net is a named network setting applied to every link between the parties.
type Net struct {
	Name string         // "none", "lan", "wan", or a custom name
	Link transport.Link // bandwidth and one-way delay
}

// ParseNet accepts "none", "lan", "wan", or "custom:BW:DELAY" with a bandwidth such as
// 1e9, 1Gbit or 200Mbit (bits per second) and a Go duration for the one-way delay, e.g.
// "custom:1Gbit:0.1ms". A custom net is named "custom-BW-DELAY".
func ParseNet(s string) (Net, error) {
	if name, rest, ok := strings.Cut(s, ":"); ok && name == "custom" {
		bws, ds, ok := strings.Cut(rest, ":")
		if !ok {
			return Net{}, fmt.Errorf("bench: custom net %q: want custom:BANDWIDTH:DELAY", s)
		}
		return CustomNet(bws, ds)
	}
	l, err := transport.Profile(s)
	if err != nil {
		return Net{}, err
	}
	if s == "" {
		s = "none"
	}
	return Net{Name: s, Link: l}, nil
}

// CustomNet is the net of the given bandwidth (bits per second, with an optional
// Kbit/Mbit/Gbit suffix; 0 for unlimited) and one-way delay (a Go duration).
func CustomNet(bandwidth, delay string) (Net, error) {
	bw, err := ParseBandwidth(bandwidth)
	if err != nil {
		return Net{}, err
	}
	d, err := time.ParseDuration(delay)
	if err != nil || d < 0 {
		return Net{}, fmt.Errorf("bench: delay %q: want a duration such as 0.2ms or 20ms", delay)
	}
	l := transport.Link{Bandwidth: bw, Delay: d}
	return Net{Name: "custom-" + FormatBandwidth(bw) + "-" + d.String(), Link: l}, nil
}

// ParseBandwidth parses bits per second: a number with an optional suffix Kbit, Mbit or
// Gbit (or k, M, G).
func ParseBandwidth(s string) (float64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(s), "/s"), "bit")
	mul := 1.0
	switch {
	case strings.HasSuffix(t, "K"), strings.HasSuffix(t, "k"):
		mul, t = 1e3, t[:len(t)-1]
	case strings.HasSuffix(t, "M"):
		mul, t = 1e6, t[:len(t)-1]
	case strings.HasSuffix(t, "G"):
		mul, t = 1e9, t[:len(t)-1]
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) {
		return 0, fmt.Errorf("bench: bandwidth %q: want bits per second such as 400Mbit or 1e9", s)
	}
	return v * mul, nil
}

// FormatBandwidth writes bits per second compactly: 5Gbit, 400Mbit, 0 for unlimited.
func FormatBandwidth(bw float64) string {
	switch {
	case bw <= 0:
		return "0"
	case bw >= 1e9 && math.Mod(bw, 1e8) == 0:
		return strconv.FormatFloat(bw/1e9, 'g', -1, 64) + "Gbit"
	case bw >= 1e6 && math.Mod(bw, 1e5) == 0:
		return strconv.FormatFloat(bw/1e6, 'g', -1, 64) + "Mbit"
	}
	return strconv.FormatFloat(bw, 'g', -1, 64)
}

// PolicySpec is a cache policy and its budget, a fraction of the context (0 for full).
type PolicySpec struct {
	Name   string
	Budget float64
}

// String is "full" or "name@budget", e.g. "mpcache@0.1".
func (p PolicySpec) String() string {
	if p.Budget == 0 {
		return p.Name
	}
	return p.Name + "@" + strconv.FormatFloat(p.Budget, 'g', -1, 64)
}

// ParsePolicy accepts "full", "name" (the default budget) or "name@budget".
func ParsePolicy(s string, defaultBudget float64) (PolicySpec, error) {
	name, b, hasBudget := strings.Cut(strings.TrimSpace(s), "@")
	k, err := LookupPolicy(name)
	if err != nil {
		return PolicySpec{}, err
	}
	if !k.Budgeted {
		if hasBudget {
			return PolicySpec{}, fmt.Errorf("bench: policy %s takes no budget", name)
		}
		return PolicySpec{Name: name}, nil
	}
	budget := defaultBudget
	if hasBudget {
		if budget, err = strconv.ParseFloat(b, 64); err != nil {
			return PolicySpec{}, fmt.Errorf("bench: policy %q: budget: %w", s, err)
		}
	}
	if !(budget > 0 && budget <= 1) {
		return PolicySpec{}, fmt.Errorf("bench: policy %q: budget %v outside (0, 1]", s, budget)
	}
	return PolicySpec{Name: name, Budget: budget}, nil
}

// Grid is the set of runs to make: every combination of its axes, with the settings below
// them shared by all runs.
type Grid struct {
	Models    []string       // synthetic shape names, "default" (the embedded model) or model paths
	Protocols []mpc.Protocol // 2pc, 3pc
	Policies  []PolicySpec
	Contexts  []int    // prompt length (prefill) or KV-cache length at the first measured step (decode)
	Phases    []string // prefill, decode
	Nets      []Net
	Backends  []string // cpu, cuda

	Tokens      int    // decode steps measured per network and repetition (≥ 1)
	Repeats     int    // measurements of each network, interleaved (none, lan, wan, none, ...); 0 means 1
	Warmup      int    // unmeasured decode steps before the first network
	Layers      int    // run only the first Layers blocks and scale (0: all)
	KVStart     string // auto, prefill or random
	Frac        uint   // fixed-point fractional bits
	Mode        string // processes or inproc
	ShapeDealer bool   // shape the 2pc dealer's links too (else its material is treated as offline)
	Seed        uint64 // seed of synthetic weights and random caches (cost does not depend on it)
	// Plan is the network the protocols plan for (mpc.ParseNetwork: "wan", "lan" or
	// RTT@RATE); "" is the engine's default, the WAN.
	Plan string
	// Keep, when not nil, selects the points to run (presets use it to prune the product).
	Keep func(*Point) bool `json:"-"`
}

// Validate checks the grid's settings.
func (g *Grid) Validate() error {
	switch {
	case len(g.Models) == 0 || len(g.Protocols) == 0 || len(g.Policies) == 0 || len(g.Contexts) == 0 ||
		len(g.Phases) == 0 || len(g.Nets) == 0 || len(g.Backends) == 0:
		return fmt.Errorf("bench: empty grid axis")
	case g.Tokens < 1:
		return fmt.Errorf("bench: tokens %d: need at least one", g.Tokens)
	case g.Warmup < 0 || g.Layers < 0:
		return fmt.Errorf("bench: warmup and layers must be ≥ 0")
	case g.Frac == 0 || g.Frac > 30:
		return fmt.Errorf("bench: %d fractional bits: want 1..30", g.Frac)
	case g.Mode != Processes && g.Mode != InProc:
		return fmt.Errorf("bench: mode %q: want %s or %s", g.Mode, Processes, InProc)
	case g.KVStart != KVAuto && g.KVStart != KVPrefill && g.KVStart != KVRandom:
		return fmt.Errorf("bench: kv start %q: want auto, prefill or random", g.KVStart)
	}
	if _, err := mpc.ParseNetwork(g.Plan); err != nil {
		return fmt.Errorf("bench: plan: %w", err)
	}
	for _, c := range g.Contexts {
		if c < 1 {
			return fmt.Errorf("bench: context %d: need at least 1", c)
		}
	}
	for _, p := range g.Phases {
		if p != Prefill && p != Decode {
			return fmt.Errorf("bench: phase %q: want prefill or decode", p)
		}
	}
	for _, b := range g.Backends {
		if b != "cpu" && b != "cuda" {
			return fmt.Errorf("bench: backend %q: want cpu or cuda", b)
		}
	}
	for _, p := range g.Policies {
		if _, err := LookupPolicy(p.Name); err != nil {
			return err
		}
	}
	return nil
}

// Point is the parameters of one execution: a grid point without the network. Its runs are
// one per net.
type Point struct {
	Model    string       `json:"model"`
	Protocol mpc.Protocol `json:"protocol"`
	Policy   PolicySpec   `json:"policy"`
	Context  int          `json:"context"`
	Phase    string       `json:"phase"`
	Backend  string       `json:"backend"`
	Nets     []Net        `json:"nets"`

	Tokens      int    `json:"tokens"`
	Repeats     int    `json:"repeats"` // measurements of each net, interleaved
	Warmup      int    `json:"warmup"`
	Layers      int    `json:"layers"`
	KVStart     string `json:"kv_start"` // resolved: prefill or random
	Frac        uint   `json:"frac"`
	Mode        string `json:"mode"`
	ShapeDealer bool   `json:"shape_dealer"`
	Seed        uint64 `json:"seed"`
	Plan        string `json:"plan,omitempty"` // "" or "wan": the default
}

// Network is the network p's engines plan for.
func (p *Point) Network() (mpc.Network, error) { return mpc.ParseNetwork(p.Plan) }

// EngineConfig is the engine configuration of p's parties, with receives bounded by timeout.
func (p *Point) EngineConfig(timeout time.Duration) (mpc.Config, error) {
	net, err := p.Network()
	return mpc.Config{Frac: p.Frac, Timeout: timeout, Network: net}, err
}

// Schedule returns the order of the measured segments as indices into Nets: every net in
// turn, Repeats times.
func (p *Point) Schedule() []int {
	var out []int
	for range max(p.Repeats, 1) {
		for i := range p.Nets {
			out = append(out, i)
		}
	}
	return out
}

// Key identifies the run of p on net n by every parameter that changes its measurement;
// finished runs with the same key are not redone.
func (p *Point) Key(n Net) string {
	tokens := p.Tokens
	if p.Phase == Prefill {
		tokens = 0
	}
	key := fmt.Sprintf("%s|%s|%s|ctx=%d|%s|net=%s,%s,%s|%s|%s|tokens=%d|layers=%d|kv=%s|frac=%d|dealer=%v",
		p.Model, p.Protocol, p.Policy, p.Context, p.Phase, n.Name, FormatBandwidth(n.Link.Bandwidth), n.Link.Delay,
		p.Backend, p.Mode, tokens, p.Layers, p.KVStart, p.Frac, p.ShapeDealer && p.Protocol == mpc.TwoPC)
	if pl, err := p.Network(); err == nil && pl != mpc.WANNetwork {
		key += "|plan=" + pl.String() // runs planned for the default keep their keys
	}
	return key
}

// Points expands the grid into executions, each listing the nets of its runs with the
// unshaped net first (it is the estimate's baseline and is added when missing). isSynthetic
// tells whether a model name is a synthetic shape.
func (g *Grid) Points(isSynthetic func(model string) bool) []Point {
	nets := []Net{{Name: "none"}}
	for _, n := range g.Nets {
		if n.Link.Shaped() && !slices.ContainsFunc(nets, func(m Net) bool { return m.Name == n.Name }) {
			nets = append(nets, n)
		}
	}
	var out []Point
	for _, m := range g.Models {
		for _, ph := range g.Phases {
			for _, pr := range g.Protocols {
				for _, c := range g.Contexts {
					for _, po := range g.Policies {
						for _, b := range g.Backends {
							kv := g.KVStart
							if kv == KVAuto {
								kv = KVPrefill
								if isSynthetic(m) {
									kv = KVRandom
								}
							}
							p := Point{Model: m, Protocol: pr, Policy: po, Context: c, Phase: ph, Backend: b,
								Nets: nets, Tokens: g.Tokens, Repeats: max(g.Repeats, 1), Warmup: g.Warmup, Layers: g.Layers, KVStart: kv,
								Frac: g.Frac, Mode: g.Mode, ShapeDealer: g.ShapeDealer, Seed: g.Seed, Plan: g.Plan}
							if ph == Prefill {
								p.Tokens, p.Warmup, p.KVStart = 1, 0, KVPrefill
							}
							if g.Keep == nil || g.Keep(&p) {
								out = append(out, p)
							}
						}
					}
				}
			}
		}
	}
	return out
}
