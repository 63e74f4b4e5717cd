package bench

import (
	"encoding/json"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/transport"
)

func TestOpOf(t *testing.T) {
	tests := []struct {
		label   string
		op      string
		inLayer bool
	}{
		{"decode/layer3/attn/softmax/exp", "attn/softmax/exp", true},
		{"prefill/layer0/mlp/gelu", "mlp/gelu", true},
		{"decode/lm_head/argmax", "lm_head/argmax", false},
		{"decode/embed", "embed", false},
		{"decode", "other", false},
		{"client", "other", false},
		{"", "other", false},
	}
	for _, tt := range tests {
		if op, in := opOf(tt.label); op != tt.op || in != tt.inLayer {
			t.Errorf("opOf(%q) = %q, %v; want %q, %v", tt.label, op, in, tt.op, tt.inLayer)
		}
	}
}

// TestRunSchema checks that results.json carries the field names.
func TestRunSchema(t *testing.T) {
	res := Results{Schema: SchemaVersion, Machine: ThisMachine(), Runs: []Run{{Key: "k", Model: "m", Protocol: "3pc",
		Policy: "full", Context: 8, Phase: Decode, Net: "lan", Backend: "cpu", Tokens: 2,
		Breakdown: map[string]OpStat{"attn/softmax": {Bytes: 1, Rounds: 2, Seconds: 3}}}}}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc["machine"].(map[string]any); !ok {
		t.Fatal("no machine object")
	}
	run := doc["runs"].([]any)[0].(map[string]any)
	for _, k := range []string{"model", "protocol", "policy", "context", "phase", "net", "backend", "tokens",
		"latency_s_per_token", "online_bytes_per_token", "offline_bytes_per_token", "rounds_per_token", "breakdown",
		"cache_from_prefill", "layers", "layers_run", "cpu_s_per_token", "parties"} {
		if _, ok := run[k]; !ok {
			t.Errorf("run has no %q", k)
		}
	}
	op := run["breakdown"].(map[string]any)["attn/softmax"].(map[string]any)
	for _, k := range []string{"bytes", "rounds", "seconds"} {
		if _, ok := op[k]; !ok {
			t.Errorf("breakdown entry has no %q", k)
		}
	}
}

// party builds one party's measurement of one segment from labelled stats.
func party(p int, seg Segment) *PartyResult {
	return &PartyResult{Party: p, Backend: "cpu", Segments: []Segment{seg}}
}

// TestBuildRunsScaling runs 1 of 4 layers: block labels scale by 4, the others not.
func TestBuildRunsScaling(t *testing.T) {
	pt := &Point{Model: "gpt2-test", Protocol: mpc.ThreePC, Policy: PolicySpec{Name: "full"}, Context: 32,
		Phase: Decode, Backend: "cpu", Nets: []Net{{Name: "none"}}, Tokens: 2, KVStart: KVRandom, Mode: InProc, Repeats: 1}
	job := &Job{Depth: 4, Model: model.Config{Layers: 1}}
	stats := map[string]mpc.Stat{
		"decode/layer0/attn/softmax": {OnlineSent: 100, OfflineSent: 10, Rounds: 5, Seconds: 1},
		"decode/lm_head/argmax":      {OnlineSent: 50, OfflineSent: 0, Rounds: 3, Seconds: 0.5},
	}
	seg := func(wall float64) Segment {
		return Segment{Net: "none", WallS: wall, CPUS: 1, Stats: stats, LinkBytes: [3]int64{0, 60, 60}}
	}
	parties := []*PartyResult{party(0, seg(2)), party(1, seg(2.5)), party(2, seg(1))}
	runs, err := buildRuns(pt, job, parties, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 {
		t.Fatalf("%d runs, want 1", len(runs))
	}
	r := runs[0]
	tests := []struct {
		name      string
		got, want float64
	}{
		// Three parties each send 100·4 + 50 online bytes over 2 tokens.
		{"online bytes", r.OnlineBytesPerToken, 3 * (400 + 50) / 2.0},
		{"offline bytes", r.OfflineBytesPerToken, 3 * 40 / 2.0},
		{"rounds", r.RoundsPerToken, (5*4 + 3) / 2.0},
		// Slowest party: 2.5 s wall, of which 1 s in the block: 2.5 + 3·1.
		{"latency", r.LatencySPerToken, 5.5 / 2},
		{"measured latency", r.Measured.LatencySPerToken, 2.5 / 2},
		{"measured rounds", r.Measured.RoundsPerToken, 8 / 2.0},
		{"softmax bytes", r.Breakdown["attn/softmax"].Bytes, 3 * 400 / 2.0},
		{"softmax rounds", r.Breakdown["attn/softmax"].Rounds, 20 / 2.0},
		{"softmax seconds", r.Breakdown["attn/softmax"].Seconds, 4 / 2.0},
		{"argmax seconds", r.Breakdown["lm_head/argmax"].Seconds, 0.5 / 2},
		// Link bytes scale like the party's traffic: 60 · (450+40)/(150+10).
		{"link bytes", r.LinkBytesPerToken, 60 * 490.0 / 160 / 2},
		{"cpu", r.CPUSPerToken, 3.0 / 2},
		{"layer scale", r.LayerScale, 4},
	}
	for _, tt := range tests {
		if math.Abs(tt.got-tt.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if r.CacheFromPrefill || r.LayersRun != 1 || r.Layers != 4 || r.Tokens != 2 || r.CPUMethod != "pprof-labels" {
		t.Errorf("run metadata %+v", r)
	}
}

// TestBuildRunsRepeats takes the median over repetitions and sums traffic.
func TestBuildRunsRepeats(t *testing.T) {
	pt := &Point{Model: "m", Protocol: mpc.TwoPC, Policy: PolicySpec{Name: "full"}, Context: 8, Phase: Decode,
		Backend: "cpu", Nets: []Net{{Name: "none"}, netLAN}, Tokens: 1, KVStart: KVPrefill, Mode: Processes, Repeats: 3}
	job := &Job{Depth: 2, Model: model.Config{Layers: 2}}
	walls := [][]float64{{1, 9, 3}, {2, 2, 2}} // per net, per repetition
	var parties []*PartyResult
	for p := range 3 {
		pr := &PartyResult{Party: p, Backend: "cpu"}
		for i, ni := range pt.Schedule() {
			w := walls[ni][i/2]
			if p == mpc.Dealer {
				w = 100 // the dealer's time never counts
			}
			pr.Segments = append(pr.Segments, Segment{Net: pt.Nets[ni].Name, NetIndex: ni, WallS: w,
				Stats:     map[string]mpc.Stat{"decode/lm_head/argmax": {OnlineSent: 10, Rounds: 1}},
				LinkBytes: [3]int64{0, 10, 500}})
		}
		parties = append(parties, pr)
	}
	runs, err := buildRuns(pt, job, parties, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := []float64{runs[0].LatencySPerToken, runs[1].LatencySPerToken}; !slices.Equal(got, []float64{3, 2}) {
		t.Errorf("latencies %v, want the medians [3 2]", got)
	}
	if got := runs[0].LatencySRepeats; !slices.Equal(got, []float64{1, 9, 3}) {
		t.Errorf("repeats %v", got)
	}
	// Online bytes: 3 parties × 10 per token; rounds 1 per token; the dealer's links (500
	// bytes to party 2) are not network links in 2pc.
	if r := runs[0]; r.OnlineBytesPerToken != 30 || r.RoundsPerToken != 1 || r.LinkBytesPerToken != 10 {
		t.Errorf("bytes %v, rounds %v, link %v; want 30, 1, 10", r.OnlineBytesPerToken, r.RoundsPerToken, r.LinkBytesPerToken)
	}
	parties[1].Segments = parties[1].Segments[:5]
	if _, err := buildRuns(pt, job, parties, time.Now()); err == nil {
		t.Error("a missing segment went unnoticed")
	}
}

func TestEstimate(t *testing.T) {
	base := &Run{LatencySPerToken: 1, RoundsPerToken: 100, LinkBytesPerToken: 50e6}
	tests := []struct {
		link transport.Link
		want float64
	}{
		{transport.Link{}, 1},
		{transport.Link{Delay: 10 * time.Millisecond}, 2},
		{transport.Link{Bandwidth: 400e6}, 2},        // 400 Mbit in one second
		{transport.WAN, 1 + 100*0.02 + 1},            // rounds × one-way delay + bytes
		{transport.LAN, 1 + 100*0.0002 + 50e6*8/5e9}, //
	}
	for _, tt := range tests {
		if got := Estimate(base, tt.link.Bandwidth, tt.link.Delay); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("Estimate on %v = %v, want %v", tt.link, got, tt.want)
		}
	}
}

func TestAnnotateAndMerge(t *testing.T) {
	pt := &Point{Model: "m", Protocol: mpc.ThreePC, Policy: PolicySpec{Name: "full"}, Context: 8, Phase: Decode,
		Backend: "cpu", Tokens: 1, KVStart: KVRandom, Mode: InProc, Frac: 16}
	none := Run{Key: pt.Key(Net{Name: "none"}), Net: "none", LatencySPerToken: 1, RoundsPerToken: 100}
	wan := Run{Key: pt.Key(netWAN), Net: "wan", BandwidthBps: 400e6, DelayS: 0.02, LatencySPerToken: 3.3}
	if baseKey(&wan) != none.Key {
		t.Fatalf("baseKey(%s) = %s, want %s", wan.Key, baseKey(&wan), none.Key)
	}
	var res Results
	res.Merge(wan, none)
	res.Annotate()
	if res.Runs[0].Net != "none" {
		t.Errorf("runs not sorted: %s first", res.Runs[0].Net)
	}
	w := res.Runs[1]
	if math.Abs(w.EstimateSPerToken-3) > 1e-12 || math.Abs(w.EstimateRatio-1.1) > 1e-12 {
		t.Errorf("estimate %v ratio %v, want 3 and 1.1", w.EstimateSPerToken, w.EstimateRatio)
	}
	if e := res.Runs[0].Estimates["wan"]; math.Abs(e-3) > 1e-12 {
		t.Errorf("none run's wan estimate %v, want 3", e)
	}
	// A failed run is not done, and a later result replaces it.
	failed := Run{Key: "x", Error: "boom"}
	res.Merge(failed)
	if res.Done("x") || !res.Done(none.Key) {
		t.Error("Done is wrong")
	}
	res.Merge(Run{Key: "x"})
	if !res.Done("x") || len(res.Runs) != 3 {
		t.Errorf("merge did not replace the failed run: %d runs", len(res.Runs))
	}
}

func TestResultsFile(t *testing.T) {
	dir := t.TempDir()
	res, err := LoadResults(dir)
	if err != nil || len(res.Runs) != 0 {
		t.Fatalf("empty folder: %v, %d runs", err, len(res.Runs))
	}
	res.Merge(Run{Key: "a", Model: "m", Breakdown: map[string]OpStat{"x": {Bytes: 1}}})
	if err := res.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := LoadResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Runs) != 1 || got.Runs[0].Breakdown["x"].Bytes != 1 || got.Schema != SchemaVersion {
		t.Fatalf("round trip: %+v", got)
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1}, 2}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
