// Package client is the client side of a deployment: it reaches the parties over TLS with a
// client certificate of the deployment, uploads the model owner's share files (Provision), and
// runs private generations (Generate): it secret-shares the one-hot rows of the prompt, sends
// each party its share, streams back each party's shares of the generated tokens and
// reconstructs them as they arrive. Only the client ever sees a token.
package client

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/privinfer/mpcache/parties/pki"
	"github.com/privinfer/mpcache/parties/role"
)

// Deployment is what a client knows of a deployment: its name and protocol, where each party
// listens, and the client's credentials. It is read from a TOML file such as
//
//	deployment = "demo"
//	protocol   = "3pc"
//	preprocessing = "dealer-free"  # 2pc only: no dealer (default "dealer")
//
//	[tls]
//	ca   = "ca.pem"          # the deployment CA: party certificates must chain to it
//	cert = "client.pem"      # this client's certificate (role client) ...
//	key  = "client-key.pem"  # ... and key
//
//	[parties]
//	p0 = "p0.example.com:7000"
//	p1 = "p1.example.com:7000"
//	p2 = "p2.example.com:7000"   # dealer = "..." in 2pc
//
// Relative file names are relative to the file.
type Deployment struct {
	Name     string `toml:"deployment"`
	Protocol string `toml:"protocol"`
	// Preprocessing is "dealer-free" for a 2pc deployment without a dealer ("" or "dealer":
	// with one).
	Preprocessing string            `toml:"preprocessing"`
	TLS           TLS               `toml:"tls"`
	Parties       map[string]string `toml:"parties"`

	// File is where the deployment was read from, for messages.
	File string `toml:"-"`
}

// TLS names the client's credentials and the deployment CA.
type TLS struct {
	CA   string `toml:"ca"`
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
}

// LoadDeployment reads and checks a deployment file.
func LoadDeployment(path string) (*Deployment, error) {
	var d Deployment
	md, err := toml.DecodeFile(path, &d)
	if err != nil {
		return nil, fmt.Errorf("client: %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("client: %s: unknown setting %s", path, und[0])
	}
	d.File = path
	dir := filepath.Dir(path)
	for _, p := range []*string{&d.TLS.CA, &d.TLS.Cert, &d.TLS.Key} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

// Validate checks the deployment, reporting every problem.
func (d *Deployment) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		where := "client: "
		if d.File != "" {
			where += d.File + ": "
		}
		errs = append(errs, fmt.Errorf("%s%s: %s", where, key, fmt.Sprintf(format, args...)))
	}
	if err := pki.ValidDeployment(d.Name); err != nil {
		add("deployment", "%v", strings.TrimPrefix(err.Error(), "pki: "))
	}
	proto, err := role.ParseProtocol(d.Protocol)
	if err != nil {
		add("protocol", "%q is not 2pc or 3pc", d.Protocol)
	}
	pre, perr := role.ParsePreprocessing(d.Preprocessing)
	if perr != nil {
		add("preprocessing", "%q is not %s or %s", d.Preprocessing, role.FromDealer, role.DealerFree)
	} else if err == nil {
		if perr = pre.Check(proto); perr != nil {
			add("preprocessing", "%s is for 2pc only, not %s", pre, proto)
		}
	}
	if perr != nil {
		pre = role.FromDealer
	}
	for k, v := range map[string]string{"tls.ca": d.TLS.CA, "tls.cert": d.TLS.Cert, "tls.key": d.TLS.Key} {
		if v == "" {
			add(k, "missing")
		}
	}
	if err == nil {
		roles := proto.RolesWith(pre)
		for _, r := range roles {
			addr, ok := d.Parties[string(r)]
			if !ok {
				add("parties."+string(r), "missing: a %s deployment needs the address of %s", proto.Describe(pre), r)
				continue
			}
			if h, p, err := net.SplitHostPort(addr); err != nil || h == "" || p == "" {
				add("parties."+string(r), "%q is not host:port", addr)
			}
		}
		for k := range d.Parties {
			if !slices.Contains(roles, role.Role(k)) {
				add("parties."+k, "a %s deployment has no party %s", proto.Describe(pre), k)
			}
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// Roles returns the deployment's party roles, by party number.
func (d *Deployment) Roles() []role.Role { return role.Protocol(d.Protocol).RolesWith(d.Pre()) }

// Pre is the deployment's preprocessing (role.FromDealer unless it says dealer-free).
func (d *Deployment) Pre() role.Preprocessing {
	p, err := role.ParsePreprocessing(d.Preprocessing)
	if err != nil {
		return role.FromDealer
	}
	return p
}

// Write stores the deployment as TOML at path, with file names relative to path's directory
// where they lie below it.
func (d *Deployment) Write(path string) error {
	rel := func(p string) string {
		if r, err := filepath.Rel(filepath.Dir(path), p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
		return p
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# The client's view of deployment %s: the parties' addresses and the client's credentials.\n", d.Name)
	fmt.Fprintf(&b, "deployment = %q\nprotocol   = %q\n", d.Name, d.Protocol)
	if d.Pre() == role.DealerFree {
		fmt.Fprintf(&b, "preprocessing = %q\n", role.DealerFree)
	}
	fmt.Fprintf(&b, "\n[tls]\nca   = %q\ncert = %q\nkey  = %q\n\n[parties]\n", rel(d.TLS.CA), rel(d.TLS.Cert), rel(d.TLS.Key))
	for _, r := range d.Roles() {
		fmt.Fprintf(&b, "%-6s = %q\n", r, d.Parties[string(r)])
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return nil
}
