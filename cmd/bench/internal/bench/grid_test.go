package bench

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/transport"
)

func TestParseNet(t *testing.T) {
	tests := []struct {
		in      string
		want    Net
		wantErr bool
	}{
		{"none", Net{Name: "none"}, false},
		{"lan", Net{Name: "lan", Link: transport.Link{Bandwidth: 5e9, Delay: 200 * time.Microsecond}}, false},
		{"wan", Net{Name: "wan", Link: transport.Link{Bandwidth: 400e6, Delay: 20 * time.Millisecond}}, false},
		{"custom:1Gbit:0.1ms", Net{Name: "custom-1Gbit-100µs", Link: transport.Link{Bandwidth: 1e9, Delay: 100 * time.Microsecond}}, false},
		{"custom:200Mbit:100ms", Net{Name: "custom-200Mbit-100ms", Link: transport.Link{Bandwidth: 200e6, Delay: 100 * time.Millisecond}}, false},
		{"custom:0:5ms", Net{Name: "custom-0-5ms", Link: transport.Link{Delay: 5 * time.Millisecond}}, false},
		{"custom:1Gbit", Net{}, true},
		{"custom:fast:1ms", Net{}, true},
		{"custom:1Gbit:-1ms", Net{}, true},
		{"moon", Net{}, true},
	}
	for _, tt := range tests {
		got, err := ParseNet(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseNet(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestBandwidth(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		text string
	}{
		{"1e9", 1e9, "1Gbit"},
		{"5Gbit", 5e9, "5Gbit"},
		{"400Mbit", 400e6, "400Mbit"},
		{"400Mbit/s", 400e6, "400Mbit"},
		{"2.5G", 2.5e9, "2.5Gbit"},
		{"100k", 1e5, "100000"},
		{"0", 0, "0"},
	}
	for _, tt := range tests {
		got, err := ParseBandwidth(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseBandwidth(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if s := FormatBandwidth(got); s != tt.text {
			t.Errorf("FormatBandwidth(%v) = %q, want %q", got, s, tt.text)
		}
	}
	for _, bad := range []string{"", "fast", "-1", "Gbit"} {
		if _, err := ParseBandwidth(bad); err == nil {
			t.Errorf("ParseBandwidth(%q) succeeded", bad)
		}
	}
}

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		in      string
		want    PolicySpec
		wantErr bool
	}{
		{"full", PolicySpec{Name: "full"}, false},
		{" full ", PolicySpec{Name: "full"}, false},
		{"full@0.5", PolicySpec{}, true}, // full takes no budget
		{"nosuch", PolicySpec{}, true},
	}
	for _, tt := range tests {
		got, err := ParsePolicy(tt.in, 0.1)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParsePolicy(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	if s := (PolicySpec{Name: "mpcache", Budget: 0.1}).String(); s != "mpcache@0.1" {
		t.Errorf("String = %q", s)
	}
}

func testGrid() Grid {
	return Grid{Models: []string{"gpt2-test", "some/real/model"}, Protocols: []mpc.Protocol{mpc.TwoPC, mpc.ThreePC},
		Policies: []PolicySpec{{Name: "full"}}, Contexts: []int{16, 64}, Phases: []string{Prefill, Decode},
		Nets: []Net{netWAN, netLAN}, Backends: []string{"cpu"}, Tokens: 3, Warmup: 1, KVStart: KVAuto, Frac: 16,
		Mode: InProc, Seed: 1}
}

func TestGridPoints(t *testing.T) {
	g := testGrid()
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	pts := g.Points(IsSynthetic)
	if len(pts) != 2*2*2*2 {
		t.Fatalf("%d points, want 16", len(pts))
	}
	keys := map[string]bool{}
	for _, p := range pts {
		// none first, then the grid's nets in order, each once.
		if names := []string{p.Nets[0].Name, p.Nets[1].Name, p.Nets[2].Name}; len(p.Nets) != 3 || strings.Join(names, ",") != "none,wan,lan" {
			t.Fatalf("nets %v, want none, wan, lan", p.Nets)
		}
		switch {
		case p.Phase == Prefill && (p.KVStart != KVPrefill || p.Tokens != 1 || p.Warmup != 0):
			t.Errorf("prefill point %+v", p)
		case p.Phase == Decode && p.Model == "gpt2-test" && p.KVStart != KVRandom:
			t.Errorf("synthetic decode starts from %s, want random", p.KVStart)
		case p.Phase == Decode && p.Model != "gpt2-test" && p.KVStart != KVPrefill:
			t.Errorf("real-model decode starts from %s, want prefill", p.KVStart)
		}
		for _, n := range p.Nets {
			k := p.Key(n)
			if keys[k] {
				t.Fatalf("duplicate key %s", k)
			}
			keys[k] = true
		}
	}
	g.Keep = func(p *Point) bool { return p.Phase == Decode }
	if n := len(g.Points(IsSynthetic)); n != 8 {
		t.Errorf("Keep: %d points, want 8", n)
	}
}

func TestGridValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Grid)
	}{
		{"no models", func(g *Grid) { g.Models = nil }},
		{"no tokens", func(g *Grid) { g.Tokens = 0 }},
		{"bad phase", func(g *Grid) { g.Phases = []string{"train"} }},
		{"bad context", func(g *Grid) { g.Contexts = []int{0} }},
		{"bad backend", func(g *Grid) { g.Backends = []string{"tpu"} }},
		{"bad mode", func(g *Grid) { g.Mode = "cloud" }},
		{"bad kv start", func(g *Grid) { g.KVStart = "zeros" }},
		{"bad frac", func(g *Grid) { g.Frac = 40 }},
		{"unknown policy", func(g *Grid) { g.Policies = []PolicySpec{{Name: "nosuch"}} }},
	}
	for _, tt := range tests {
		g := testGrid()
		tt.edit(&g)
		if err := g.Validate(); err == nil {
			t.Errorf("%s: Validate succeeded", tt.name)
		}
	}
}

func TestSchedule(t *testing.T) {
	p := Point{Nets: []Net{{Name: "none"}, netLAN, netWAN}, Repeats: 2}
	if got := p.Schedule(); len(got) != 6 || got[0] != 0 || got[2] != 2 || got[3] != 0 || got[5] != 2 {
		t.Errorf("Schedule = %v, want [0 1 2 0 1 2]", got)
	}
	p.Repeats = 0
	if got := p.Schedule(); len(got) != 3 {
		t.Errorf("Schedule with no repeats = %v, want one round", got)
	}
}

func TestPresets(t *testing.T) {
	for _, name := range PresetNames() {
		p, _, err := LookupPreset(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Grid.Validate(); err != nil {
			t.Errorf("preset %s: %v", name, err)
		}
		if len(p.Grid.Points(IsSynthetic)) == 0 {
			t.Errorf("preset %s has no points", name)
		}
	}
	if _, _, err := LookupPreset("nosuch"); err == nil {
		t.Error("unknown preset accepted")
	}
}

func TestSubsetSchedule(t *testing.T) {
	tests := []struct {
		depth, run int
		want       []int
	}{
		{12, 12, []int{0, 1, 2, 2, 4, 4, 6, 6, 8, 8, 10, 11}},
		{12, 3, []int{0, 1, 1}}, // 8 of 12 layers own: 2 of 3
		{12, 1, []int{0}},
		{12, 2, []int{0, 0}},
		{32, 4, []int{0, 1, 1, 1}}, // 18 of 32 own: round(2.25) = 2
		{4, 2, []int{0, 1}},        // every layer owns
	}
	for _, tt := range tests {
		got := subsetSchedule(tt.depth, tt.run)
		if !slices.Equal([]int(got), tt.want) {
			t.Errorf("subsetSchedule(%d, %d) = %v, want %v", tt.depth, tt.run, got, tt.want)
		}
		if err := got.Validate(tt.run); err != nil {
			t.Errorf("subsetSchedule(%d, %d): %v", tt.depth, tt.run, err)
		}
	}
}
