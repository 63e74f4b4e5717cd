package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/privinfer/mpcache/parties/deploy"
	"github.com/privinfer/mpcache/parties/pki"
	"github.com/privinfer/mpcache/parties/role"
)

// roleMap collects repeated role=value flags.
type roleMap map[role.Role]string

func (m roleMap) String() string {
	var s []string
	for r, v := range m {
		s = append(s, string(r)+"="+v)
	}
	return strings.Join(s, ",")
}

func (m roleMap) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	r, err := role.Parse(k)
	if !ok || err != nil || !r.IsParty() || val == "" {
		return fmt.Errorf("want role=value with role p0, p1, p2 or dealer, got %q", v)
	}
	m[r] = val
	return nil
}

func certs(args []string) error {
	fs := flag.NewFlagSet("certs", flag.ContinueOnError)
	dir := fs.String("dir", "", "the directory to write the deployment's files into (required; must not hold one already)")
	name := fs.String("deployment", "demo", "the deployment's name (in every certificate)")
	proto := fs.String("protocol", "2pc", "2pc (p0, p1, dealer) or 3pc (p0, p1, p2)")
	prep := fs.String("preprocessing", "dealer", "2pc's material: dealer, or dealer-free (p0 and p1 make it between themselves; no dealer)")
	addrs, hosts, metrics, shares := roleMap{}, roleMap{}, roleMap{}, roleMap{}
	fs.Var(addrs, "party", "where a party is reached, role=host:port; one for each party (required)")
	fs.Var(hosts, "host", "extra names or IPs for a party's certificate, role=name[,name...]; repeatable")
	fs.Var(metrics, "metrics", "a party's Prometheus address, role=host:port (default none)")
	fs.Var(shares, "share-dir", "a party's share directory, role=path (default \"shares\" next to its configuration)")
	validity := fs.Duration("validity", pki.DefaultValidity, "how long the certificates are valid")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("certs: -dir is required")
	}
	p, err := role.ParseProtocol(*proto)
	if err != nil {
		return err
	}
	pre, err := role.ParsePreprocessing(*prep)
	if err != nil {
		return fmt.Errorf("certs: -preprocessing: %w", err)
	}
	if err := pre.Check(p); err != nil {
		return fmt.Errorf("certs: -preprocessing: %w", err)
	}
	plan := deploy.Plan{Name: *name, Protocol: p, Preprocessing: pre, Addrs: map[role.Role]string{}, Metrics: map[role.Role]string{},
		ShareDir: map[role.Role]string{}, Hosts: map[role.Role][]string{}, Validity: *validity}
	for r, a := range addrs {
		plan.Addrs[r] = a
	}
	for r, m := range metrics {
		plan.Metrics[r] = m
	}
	for r, s := range shares {
		plan.ShareDir[r] = s
	}
	for r, h := range hosts {
		plan.Hosts[r] = strings.Split(h, ",")
	}
	files, err := deploy.Write(*dir, plan)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "deployment %q (%s) written to %s:\n", *name, p.Describe(pre), *dir)
	fmt.Fprintf(os.Stdout, "  %-8s the CA and every certificate; keep %s offline\n", "pki/", filepath.Join("pki", "ca-key.pem"))
	for _, r := range p.RolesWith(pre) {
		id, err := pki.LoadIdentity(pki.Files(filepath.Join(*dir, "pki"), r))
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stdout, "  %-8s copy to %s's host, run: party -config %s.toml   (certificate %s)\n",
			string(r)+"/", r, r, id.Fingerprint())
	}
	fmt.Fprintf(os.Stdout, "  %-8s the client's: client generate -config %s\n", "client/", files.Client)
	return nil
}
