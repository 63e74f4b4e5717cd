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

	"github.com/privinfer/mpcache/parties/client"
	"github.com/privinfer/mpcache/parties/role"
)

func provision(args []string) error {
	fs := flag.NewFlagSet("provision", flag.ContinueOnError)
	cfg := fs.String("config", "", "the client's deployment file: upload each party its shares over TLS")
	out := fs.String("out", "", "write the share files under this directory instead (one subdirectory per party, for offline transfer)")
	proto := fs.String("protocol", "", "2pc or 3pc (default: the deployment's)")
	modelDir := fs.String("model", "", "the model: a llama2.c or Hugging Face directory (default: the embedded default model)")
	frac := fs.Uint("frac", 16, "fixed-point fractional bits")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*cfg == "") == (*out == "") {
		return fmt.Errorf("provision: give -config (upload) or -out (write files), one of them")
	}
	var d *client.Deployment
	if *cfg != "" {
		var err error
		if d, err = client.LoadDeployment(*cfg); err != nil {
			return err
		}
		if *proto == "" {
			*proto = d.Protocol
		} else if *proto != d.Protocol {
			return fmt.Errorf("provision: -protocol %s, but the deployment runs %s", *proto, d.Protocol)
		}
	}
	p, err := role.ParseProtocol(*proto)
	if err != nil {
		return fmt.Errorf("provision: -protocol: %w", err)
	}
	m, _, err := client.OpenModel(*modelDir)
	if err != nil {
		return err
	}
	dir := *out
	if dir == "" {
		if dir, err = os.MkdirTemp("", "mpcache-shares-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	start := time.Now()
	id, files, err := client.WriteShares(m, p, *frac, dir)
	if err != nil {
		return err
	}
	if *out != "" {
		fmt.Printf("model %s shared for %s in %.1f s; copy each party's directory into its share_dir:\n", id, p, time.Since(start).Seconds())
		for _, f := range files {
			fmt.Printf("  %s/  ->  %s's share_dir  (%s, %d bytes)\n", filepath.Join(dir, string(f.Role)), f.Role, f.Header.FileName, f.Header.Size)
		}
		return nil
	}
	c, err := client.Dial(d)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := c.Upload(ctx, files); err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	fmt.Printf("model %s provisioned to %d parties (%s) in %.1f s\n", id, len(files), p, time.Since(start).Seconds())
	return nil
}

func list(args []string) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	cfg := fs.String("config", "", "the client's deployment file; required")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfg == "" {
		return fmt.Errorf("list: -config is required")
	}
	d, err := client.LoadDeployment(*cfg)
	if err != nil {
		return err
	}
	c, err := client.Dial(d)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	held, err := c.List(ctx)
	for i, hs := range held {
		fmt.Printf("%s (%s):\n", c.Roles()[i], d.Parties[string(c.Roles()[i])])
		for _, h := range hs {
			fmt.Printf("  %s  %s  %d bytes  sha256 %x\n", h.ModelId, h.FileName, h.Size, h.Sha256)
		}
	}
	return err
}
