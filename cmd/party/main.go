// Command party runs one party of a deployment: p0, p1, p2 (3pc) or p0, p1, dealer (2pc), as its
// configuration file says. See docs/DEPLOY.md for running the parties on separate hosts.
//
// Usage:
//
//	party -config p0.toml [-check] [overriding flags]
//
// It serves the party links, the Party and Provision services and gRPC health on the listen
// address (TLS 1.3 with mutual authentication), Prometheus metrics on the metrics address, and
// stops gracefully on SIGINT or SIGTERM (a second signal stops at once).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/privinfer/mpcache/parties/daemon"
)

func main() {
	if err := daemon.Main("party", os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "party:", err)
		os.Exit(1)
	}
}
