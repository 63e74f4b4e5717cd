package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/privinfer/mpcache/cmd/bench/internal/bench"
	"github.com/privinfer/mpcache/model"
)

// runGrid is `bench run`: flags and a preset to a grid, run into -out.
func runGrid(args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	preset := fs.String("preset", "", "start from a preset grid: "+strings.Join(bench.PresetNames(), ", ")+"; other flags override its axes")
	out := fs.String("out", "", "output folder (results.json, report.md, plots); finished runs in it are not redone")
	models := fs.String("models", "", "comma-separated models: synthetic shapes ("+strings.Join(model.Shapes(), ", ")+"), "+bench.DefaultModel+" (the embedded model) or model paths")
	protocols := fs.String("protocols", "", "comma-separated protocols: 2pc, 3pc")
	policies := fs.String("policies", "", "comma-separated cache policies, name or name@budget (available: "+strings.Join(bench.PolicyNames(), ", ")+")")
	budget := fs.Float64("budget", 0.1, "budget of policies named without one, a fraction of the context")
	contexts := fs.String("contexts", "", "comma-separated context lengths")
	phases := fs.String("phases", "", "comma-separated phases: prefill, decode")
	nets := fs.String("nets", "", "comma-separated networks: none, lan (5 Gbit/s, 0.2 ms one way), wan (400 Mbit/s, 20 ms), custom (see -bw, -delay) or custom:BW:DELAY; none is always run too")
	bw := fs.String("bw", "1Gbit", "bandwidth of the custom net, bits per second (e.g. 1e9, 1Gbit, 200Mbit)")
	delay := fs.String("delay", "1ms", "one-way delay of the custom net")
	backends := fs.String("backends", "", "comma-separated backends: cpu, cuda (cuda needs -tags cuda and a GPU; default: this build's)")
	tokens := fs.Int("tokens", 0, "decode steps measured per network and repetition")
	repeats := fs.Int("repeats", 0, "measure each network this many times, interleaved, and report the median latency")
	warmup := fs.Int("warmup", 1, "unmeasured decode steps before the first network")
	layers := fs.Int("layers", -1, "run only the first N blocks and scale per-layer figures to the model's depth (0: all)")
	kvStart := fs.String("kv-start", "", "KV cache of decode runs: auto (random shares for synthetic shapes, prefill for real models), prefill, random")
	frac := fs.Uint("frac", 0, "fixed-point fractional bits")
	inproc := fs.Bool("inproc", false, "run the parties in this process over memory (default: one process per party, TCP on loopback with mutual TLS)")
	shapeDealer := fs.Bool("shape-dealer", false, "2pc: shape the dealer's links too (default: its material counts as produced offline)")
	seed := fs.Uint64("seed", 0, "seed of synthetic weights, prompts and random caches")
	timeout := fs.Duration("timeout", 6*time.Hour, "bound on one execution (all networks of one grid point)")
	plan := fs.String("plan", "", "network the protocols plan their tournaments for: wan (default), lan or RTT@BYTES_PER_SECOND; every run of the grid uses it")
	cpuProfile := fs.String("cpuprofile", "", "write CPU profiles (go tool pprof): with -inproc one of the whole run, every party, to this file; else one per party process, to this file's name followed by .p0, .p1 and .p2 (the last execution's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-out is required")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	g := bench.Grid{Tokens: 2, Warmup: 1, KVStart: bench.KVAuto, Frac: 16, Mode: bench.Processes, Seed: 1}
	desc := "custom grid"
	if *preset != "" {
		p, dropped, err := bench.LookupPreset(*preset)
		if err != nil {
			return err
		}
		g, desc = p.Grid, "preset "+p.Name+": "+p.Description
		if len(dropped) > 0 && !set["policies"] {
			fmt.Fprintf(os.Stderr, "bench: preset %s: policies %s are not registered yet (package cache); running %v\n",
				p.Name, strings.Join(dropped, ", "), g.Policies)
		}
	}
	var err error
	if set["models"] || g.Models == nil {
		g.Models = bench.SplitList(*models)
	}
	if set["protocols"] || g.Protocols == nil {
		if g.Protocols, err = bench.Protocols(orDefault(*protocols, "2pc,3pc")); err != nil {
			return err
		}
	}
	if set["policies"] || g.Policies == nil {
		g.Policies = nil
		for _, s := range bench.SplitList(orDefault(*policies, "full")) {
			p, err := bench.ParsePolicy(s, *budget)
			if err != nil {
				return err
			}
			g.Policies = append(g.Policies, p)
		}
	}
	if set["contexts"] || g.Contexts == nil {
		g.Contexts = nil
		for _, s := range bench.SplitList(orDefault(*contexts, "64")) {
			c, err := strconv.Atoi(s)
			if err != nil {
				return fmt.Errorf("-contexts: %w", err)
			}
			g.Contexts = append(g.Contexts, c)
		}
	}
	if set["phases"] || g.Phases == nil {
		g.Phases = bench.SplitList(orDefault(*phases, "decode"))
	}
	if set["nets"] || g.Nets == nil {
		g.Nets = nil
		for _, s := range bench.SplitList(orDefault(*nets, "none,lan,wan")) {
			var n bench.Net
			if s == "custom" {
				n, err = bench.CustomNet(*bw, *delay)
			} else {
				n, err = bench.ParseNet(s)
			}
			if err != nil {
				return err
			}
			g.Nets = append(g.Nets, n)
		}
	}
	if set["backends"] || g.Backends == nil {
		b, _ := bench.Backend()
		g.Backends = bench.SplitList(orDefault(*backends, b))
	}
	if set["tokens"] {
		g.Tokens = *tokens
	}
	if set["repeats"] {
		g.Repeats = *repeats
	}
	if set["warmup"] {
		g.Warmup = *warmup
	}
	if set["layers"] {
		g.Layers = *layers
	}
	if set["kv-start"] {
		g.KVStart = *kvStart
	}
	if set["frac"] {
		g.Frac = *frac
	}
	if *inproc {
		g.Mode = bench.InProc
	}
	if set["shape-dealer"] {
		g.ShapeDealer = *shapeDealer
	}
	if set["seed"] {
		g.Seed = *seed
	}
	if set["plan"] {
		g.Plan = *plan
	}
	if len(g.Models) == 0 {
		return errors.New("no models: give -models or -preset")
	}
	switch {
	case *cpuProfile == "":
	case g.Mode == bench.Processes:
		os.Setenv(bench.ProfileEnv, *cpuProfile) // the party processes inherit it
	default:
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r := &bench.Runner{Grid: g, Out: *out, Log: os.Stderr, Timeout: *timeout,
		Report: func(res *bench.Results) error { return bench.WriteReport(*out, res, desc) }}
	fmt.Fprintf(os.Stderr, "bench: %s\n", desc)
	res, err := r.Run(ctx)
	if res != nil {
		fmt.Fprintf(os.Stderr, "bench: %d runs in %s; report in %s\n", len(res.Runs), *out, *out+"/report.md")
	}
	return err
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// runReport is `bench report`: rewrite the report and plots of a results folder.
func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	out := fs.String("out", "", "results folder")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-out is required")
	}
	res, err := bench.LoadResults(*out)
	if err != nil {
		return err
	}
	res.Annotate()
	if err := res.Save(*out); err != nil {
		return err
	}
	return bench.WriteReport(*out, res, "")
}

// runEstimate is `bench estimate`: latency on other networks from the unshaped runs.
func runEstimate(args []string) error {
	fs := flag.NewFlagSet("estimate", flag.ContinueOnError)
	out := fs.String("out", "", "results folder")
	bw := fs.String("bw", "1Gbit", "bandwidth, bits per second (e.g. 1e9, 1Gbit, 200Mbit)")
	rtt := fs.Duration("rtt", time.Millisecond, "round-trip time (one-way delay is half)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-out is required")
	}
	b, err := bench.ParseBandwidth(*bw)
	if err != nil {
		return err
	}
	res, err := bench.LoadResults(*out)
	if err != nil {
		return err
	}
	fmt.Print(bench.EstimateTable(res, b, *rtt/2))
	return nil
}

// runCheck is `bench check`: verify a results folder (CI).
func runCheck(args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	out := fs.String("out", "", "results folder")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-out is required")
	}
	res, err := bench.Check(*out)
	if err != nil {
		return err
	}
	fmt.Printf("bench check: %d runs in %s, all finished\n", len(res.Runs), *out)
	return nil
}
