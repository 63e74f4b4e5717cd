// Command client is what users run: it makes a deployment's certificates, provisions a model's
// shares to the parties, and runs private generations, reconstructing the tokens that only it
// may see. `client local` does all of it on one machine, with the parties as child processes.
//
// Usage:
//
//	client local     [-model DIR] [-protocol 2pc|3pc] [-prompt TEXT] [-n N] [-policy NAME[@BUDGET]] [-json] [-check]
//	client certs     -dir DIR -deployment NAME [-protocol 2pc|3pc] -party p0=HOST:PORT -party p1=... -party dealer|p2=...
//	client provision -config client.toml [-model DIR] | -protocol P -out DIR [-model DIR]
//	client generate  -config client.toml [-model DIR] [-prompt TEXT] [-n N] [-policy NAME[@BUDGET]] [-json] [-check]
//	client list      -config client.toml
//
// Run `client <command> -h` for a command's flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/privinfer/mpcache/parties/daemon"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "local":
		err = local(args)
	case "certs":
		err = certs(args)
	case "provision":
		err = provision(args)
	case "generate":
		err = generate(args)
	case "list":
		err = list(args)
	case "party":
		// Hidden: `client local` runs its parties as `client party -config ...`, so that the one
		// binary of `go run ./cmd/client` is all it needs. It is the party command.
		err = daemon.Main("client party", args, os.Stderr)
	case "-h", "--help", "help":
		usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "client: unknown command %q\n", cmd)
		usage()
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, "client: ") {
			msg = "client: " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: client <command> [flags]

commands:
  local      run a private generation end to end on this machine: throwaway certificates,
             the party processes on loopback with mutual TLS, provisioning, generate, stop
  certs      create a deployment's CA, certificates and configuration files
  provision  share a model and upload each party its shares (or write them for offline transfer)
  generate   privately generate a continuation of a prompt on a running deployment
  list       list the model shares each party holds

Run 'client <command> -h' for the command's flags.`)
}
