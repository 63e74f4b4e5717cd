package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/transport"
)

// Preset is a named grid with a description for the report.
type Preset struct {
	Name        string
	Description string
	Grid        Grid
	// Policies may name policies that are not registered yet (package cache); they are
	// dropped with a notice until they are.
	Policies []PolicySpec
}

var (
	netNone = Net{Name: "none"}
	netLAN  = Net{Name: "lan", Link: transport.LAN}
	netWAN  = Net{Name: "wan", Link: transport.WAN}
	// The MPCache authors' usual settings (research/mpcache.md §6): LAN 1 Gbit/s with
	// 0.1–0.25 ms delay, WAN 200 Mbit/s with 100 ms.
	netPaperLAN = Net{Name: "paper-lan", Link: transport.Link{Bandwidth: 1e9, Delay: 200 * time.Microsecond}}
	netPaperWAN = Net{Name: "paper-wan", Link: transport.Link{Bandwidth: 200e6, Delay: 100 * time.Millisecond}}
)

// evictionPolicies are the policies the MPCache study compares, at a final budget of 10% of
// the context (the paper's budgets are 3–13% of the prompt).
var evictionPolicies = []PolicySpec{{Name: "full"}, {Name: "mpcache", Budget: 0.1}, {Name: "streaming", Budget: 0.1}, {Name: "h2o", Budget: 0.1}}

// presets are the named grids.
var presets = map[string]Preset{
	"quick": {
		Name: "quick",
		Description: "smoke test, under 2 minutes on 2 cores: the embedded Shakespeare model (real weights) at " +
			"context 8 (decode from a real prefill, and prefill), and the gpt2-test shape decoding from random " +
			"KV caches of 32 and 128 rows; both protocols, unshaped and LAN",
		Grid: Grid{Models: []string{DefaultModel, "gpt2-test"}, Protocols: []mpc.Protocol{mpc.TwoPC, mpc.ThreePC},
			Contexts: []int{8, 32, 128}, Phases: []string{Prefill, Decode}, Nets: []Net{netNone, netLAN},
			Tokens: 2, Warmup: 1, KVStart: KVAuto, Frac: 16, Mode: Processes, Seed: 1,
			// Real prefill only at context 8; gpt2-test only decodes, at 32 and 128.
			Keep: func(p *Point) bool {
				if p.Model == DefaultModel {
					return p.Context == 8
				}
				return p.Phase == Decode && p.Context > 8
			}},
		Policies: evictionPolicies,
	},
	"mpcache": {
		Name: "mpcache",
		Description: "the MPCache comparison: GPT-2-124M shape, decode at contexts 512 to 4096 from a random " +
			"KV cache, full vs mpcache vs streaming vs h2o (budget 10%), 3pc and 2pc, LAN and WAN",
		Grid: Grid{Models: []string{"gpt2-124m"}, Protocols: []mpc.Protocol{mpc.ThreePC, mpc.TwoPC},
			Contexts: []int{512, 1024, 2048, 4096}, Phases: []string{Decode}, Nets: []Net{netNone, netLAN, netWAN},
			Tokens: 2, Warmup: 1, KVStart: KVAuto, Frac: 16, Mode: Processes, Seed: 1},
		Policies: evictionPolicies,
	},
	"paper": {
		Name: "paper",
		Description: "closest to the MPCache paper's efficiency study: 3pc (SPU's ABY3 setting) and 2pc, 18 " +
			"fractional bits, decode on GPT-2-124M and GPT-2-medium shapes at contexts 512 to 4096 (512 is the " +
			"reference script's default), the authors' LAN (1 Gbit/s, 0.2 ms) and WAN (200 Mbit/s, 100 ms), and " +
			"the protocols' own LAN/WAN",
		Grid: Grid{Models: []string{"gpt2-124m", "gpt2-medium"}, Protocols: []mpc.Protocol{mpc.ThreePC, mpc.TwoPC},
			Contexts: []int{512, 1024, 2048, 4096}, Phases: []string{Decode},
			Nets:   []Net{netNone, netPaperLAN, netPaperWAN, netLAN, netWAN},
			Tokens: 2, Warmup: 1, KVStart: KVAuto, Frac: 18, Mode: Processes, Seed: 1},
		Policies: evictionPolicies,
	},
}

// PresetNames lists the presets.
func PresetNames() []string { return []string{"quick", "mpcache", "paper"} }

// LookupPreset returns the named preset's grid, keeping only the policies that are
// registered; dropped names are returned for a notice.
func LookupPreset(name string) (Preset, []string, error) {
	p, ok := presets[name]
	if !ok {
		return Preset{}, nil, fmt.Errorf("bench: unknown preset %q (have %s)", name, strings.Join(PresetNames(), ", "))
	}
	var dropped []string
	p.Grid.Policies = nil
	for _, s := range p.Policies {
		if _, err := LookupPolicy(s.Name); err != nil {
			dropped = append(dropped, s.String())
			continue
		}
		p.Grid.Policies = append(p.Grid.Policies, s)
	}
	p.Grid.Models = slices.Clone(p.Grid.Models)
	p.Grid.Backends = []string{"cpu"}
	if b, _ := Backend(); b == "cuda" {
		p.Grid.Backends = []string{"cuda"}
	}
	return p, dropped, nil
}
