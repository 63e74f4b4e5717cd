// Command bench runs the project's measurements. Usage:
//
//	bench fidelity [flags]   plaintext cache-policy fidelity (see fidelity.go)
package main

import (
	"fmt"
	"os"
)

// commands maps each subcommand to its entry point, which receives the remaining arguments.
var commands = map[string]func(args []string) error{
	"fidelity": runFidelity,
}

func main() {
	if len(os.Args) < 2 || commands[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: bench <command> [flags]; commands: fidelity")
		os.Exit(2)
	}
	if err := commands[os.Args[1]](os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench "+os.Args[1]+":", err)
		os.Exit(1)
	}
}
