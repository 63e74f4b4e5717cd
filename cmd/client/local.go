package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/parties/client"
	"github.com/privinfer/mpcache/parties/localnet"
	"github.com/privinfer/mpcache/parties/role"
)

// local is the README's main job: a private generation end to end on this machine.
func local(args []string) (err error) {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	proto := fs.String("protocol", "2pc", "2pc (p0, p1 and a dealer) or 3pc (p0, p1, p2)")
	prep := fs.String("preprocessing", "dealer", "2pc's correlated randomness: dealer (a third process), or dealer-free (p0 and p1 make it by oblivious transfer and homomorphic encryption; two processes)")
	precompute := fs.Bool("precompute", false, "dealer-free: produce each session's elementwise material (its budget, from the model's shape) before the prompt")
	keep := fs.String("keep", "", "keep the deployment's files and party logs in this directory (default: a temporary one, removed)")
	cmp := fs.String("comparison", "", "the parties' comparison protocol, fss or circuit (default: the engine's)")
	plan := fs.String("plan", "", "the network the parties' protocols plan for: wan (default), lan or RTT@BYTES_PER_SECOND (loopback behaves like lan)")
	var g genFlags
	g.bind(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := role.ParseProtocol(*proto)
	if err != nil {
		return fmt.Errorf("local: -protocol: %w", err)
	}
	if _, _, err := g.cachePolicy(); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	if _, _, err := g.sampling(); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	pre, err := role.ParsePreprocessing(*prep)
	if err != nil {
		return fmt.Errorf("local: -preprocessing: %w", err)
	}
	if err := pre.Check(p); err != nil {
		return fmt.Errorf("local: -preprocessing: %w", err)
	}
	if *precompute && pre != role.DealerFree {
		return fmt.Errorf("local: -precompute is for -preprocessing dealer-free")
	}
	if _, err := mpc.ParseNetwork(*plan); err != nil {
		return fmt.Errorf("local: -plan: %w", err)
	}
	if pre == role.DealerFree && *cmp == "fss" {
		return fmt.Errorf("local: -comparison fss needs a dealer; dealer-free 2pc compares with the circuit")
	}
	m, tok, err := client.OpenModel(g.model)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("local: cannot find this program to run the parties: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	note := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "local: "+format+"\n", a...)
	}
	start := time.Now()
	note("starting %d party processes (%s) on loopback with mutual TLS", len(p.RolesWith(pre)), p.Describe(pre))
	var extra string
	if *cmp != "" || *plan != "" {
		extra = fmt.Sprintf("[sessions]\ncomparison = %q\nnetwork = %q\n", *cmp, *plan)
	}
	if *precompute {
		extra += "\n[dealer_free]\nprecompute = true\n"
	}
	n, err := localnet.Start(ctx, localnet.Options{Protocol: p, Preprocessing: pre, Command: []string{exe, "party"}, Dir: *keep, Extra: extra})
	if err != nil {
		return err
	}
	defer func() {
		if serr := n.Stop(); serr != nil && err == nil {
			err = serr
		}
		if *keep != "" {
			note("the deployment's files and the parties' logs are in %s", *keep)
		}
	}()
	note("parties ready in %.1f s: %s", time.Since(start).Seconds(), partyList(n))
	c, err := client.Dial(n.Deployment)
	if err != nil {
		return err
	}
	defer c.Close()

	t := time.Now()
	id, files, err := client.WriteShares(m, p, 16, filepath.Join(n.Dir, "provision"))
	if err != nil {
		return err
	}
	if err := c.Upload(ctx, files); err != nil {
		return fmt.Errorf("local: provisioning: %w", err)
	}
	os.RemoveAll(filepath.Join(n.Dir, "provision"))
	note("model %s shared and uploaded in %.1f s (%s per party)", id, time.Since(t).Seconds(), bytesString(int64(files[0].Header.Size)))
	g.modelID = id
	if err := runGeneration(ctx, c, m, tok, g, os.Stdout, os.Stderr); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("local: interrupted")
		}
		for _, r := range p.RolesWith(pre) {
			note("%s's log ends:\n%s", r, n.LogTail(r, 5))
		}
		return err
	}
	return nil
}

func partyList(n *localnet.Net) string {
	s := ""
	for i, r := range n.Deployment.Roles() {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s at %s", r, n.Deployment.Parties[string(r)])
	}
	return s
}
