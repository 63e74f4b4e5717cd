package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/privinfer/mpcache/mpc"
)

// TestRunnerInProc runs a tiny grid in process end to end (a real prefill of the embedded
// model and a random cache on gpt2-test, one shaped net), then runs it again: the second run
// must find everything done.
func TestRunnerInProc(t *testing.T) {
	dir := t.TempDir()
	lan, _ := ParseNet("custom:1Gbit:0.5ms")
	g := Grid{Models: []string{"gpt2-test", DefaultModel}, Protocols: []mpc.Protocol{mpc.TwoPC, mpc.ThreePC},
		Policies: []PolicySpec{{Name: "full"}}, Contexts: []int{4}, Phases: []string{Decode}, Nets: []Net{lan},
		Tokens: 1, KVStart: KVAuto, Frac: 16, Mode: InProc, Seed: 1}
	g.Backends = []string{"cpu"}
	if b, _ := Backend(); b != "cpu" {
		g.Backends = []string{b}
	}
	var log bytes.Buffer
	r := &Runner{Grid: g, Out: dir, Log: &log, Report: func(res *Results) error { return WriteReport(dir, res, "test") }}
	res, err := r.Run(context.Background())
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if len(res.Runs) != 8 {
		t.Fatalf("%d runs, want 8 (2 models × 2 protocols × 2 nets)", len(res.Runs))
	}
	for _, run := range res.Runs {
		if !run.Good() || run.LatencySPerToken <= 0 || run.OnlineBytesPerToken <= 0 || run.RoundsPerToken <= 0 {
			t.Errorf("run %s: %+v", run.Key, run)
		}
		if want := run.Model == DefaultModel; run.CacheFromPrefill != want {
			t.Errorf("run %s: cache from prefill %v, want %v", run.Key, run.CacheFromPrefill, want)
		}
		if run.Net != "none" && run.EstimateSPerToken <= 0 {
			t.Errorf("run %s has no estimate", run.Key)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var parsed Results
	if err := json.Unmarshal(b, &parsed); err != nil || len(parsed.Runs) != 8 {
		t.Fatalf("results.json: %v, %d runs", err, len(parsed.Runs))
	}
	report, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil || !strings.Contains(string(report), "## Decode") {
		t.Fatalf("report.md: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "latency_*.svg")); len(m) == 0 {
		t.Error("no latency plot")
	}
	// Resume: nothing left to do.
	log.Reset()
	if _, err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "all 8 runs") {
		t.Errorf("second run did work: %s", log.String())
	}
}
