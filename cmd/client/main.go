// Command client is what users run: it secret-shares inputs, talks to the parties and
// reconstructs results.
//
// Usage:
//
//	client demo [--protocol 2pc|3pc]   share two matrices, multiply and compare them securely
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "demo":
		err = demo(os.Args[2:])
	case "-h", "--help", "help":
		usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "client: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: client <command> [flags]

commands:
  demo    secret-share two fixed-point matrices, multiply and compare them in 2pc and 3pc
          over TCP on loopback, and print the results next to plaintext with bytes and rounds`)
}
