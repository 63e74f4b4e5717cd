// Command bench runs the project's measurements. Usage:
//
//	bench [run] [flags]      latency and communication per token over a grid (see run.go)
//	bench report -out DIR    rewrite DIR's report and plots from its results.json
//	bench estimate [flags]   read other networks off DIR's unshaped runs with the network model
//	bench check -out DIR     verify DIR's results.json (the CI smoke check)
//	bench fidelity [flags]   plaintext cache-policy fidelity (see fidelity.go)
//
// `bench --preset quick --out DIR` is the smoke test; docs/BENCHMARKS.md has the rest.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/privinfer/mpcache/cmd/bench/internal/bench"
)

// commands maps each subcommand to its entry point, which receives the remaining arguments.
var commands = map[string]func(args []string) error{
	"run":              runGrid,
	"report":           runReport,
	"estimate":         runEstimate,
	"check":            runCheck,
	"fidelity":         runFidelity,
	bench.PartyCommand: func([]string) error { return bench.ServeParty(os.Stdin, os.Stdout) },
}

func main() {
	args := os.Args[1:]
	// Flags without a subcommand run the grid: bench --preset quick --out DIR.
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		args = append([]string{"run"}, args...)
	}
	cmd := commands[args[0]]
	if cmd == nil {
		fmt.Fprintln(os.Stderr, "usage: bench [run|report|estimate|check|fidelity] [flags]; bench run -h for the flags")
		os.Exit(2)
	}
	if err := cmd(args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench "+args[0]+":", err)
		os.Exit(1)
	}
}
