package config

import (
	"flag"
	"fmt"
	"strings"
)

// Flags are command-line overrides of a configuration file. Only flags given on the command line
// override; file names given by flag are relative to the working directory.
type Flags struct {
	set        map[string]bool
	deployment string
	protocol   string
	role       string
	listen     string
	metrics    string
	shareDir   string
	ca         string
	cert       string
	key        string
	peers      peerAddrs
	logLevel   string
}

// peerAddrs collects repeated -peer role=host:port flags.
type peerAddrs map[string]string

func (p peerAddrs) String() string {
	var parts []string
	for r, a := range p {
		parts = append(parts, r+"="+a)
	}
	return strings.Join(parts, ",")
}

func (p peerAddrs) Set(v string) error {
	r, addr, ok := strings.Cut(v, "=")
	if !ok || r == "" || addr == "" {
		return fmt.Errorf("want role=host:port, got %q", v)
	}
	p[r] = addr
	return nil
}

// BindFlags defines the override flags on fs.
func BindFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{peers: peerAddrs{}}
	fs.StringVar(&f.deployment, "deployment", "", "deployment name (overrides the config file)")
	fs.StringVar(&f.protocol, "protocol", "", "protocol, 2pc or 3pc (overrides the config file)")
	fs.StringVar(&f.role, "role", "", "this party's role: p0, p1, p2 or dealer (overrides the config file)")
	fs.StringVar(&f.listen, "listen", "", "listen address host:port (overrides the config file)")
	fs.StringVar(&f.metrics, "metrics", "", "Prometheus metrics address host:port (overrides the config file)")
	fs.StringVar(&f.shareDir, "share-dir", "", "model-share directory (overrides the config file)")
	fs.StringVar(&f.ca, "tls-ca", "", "deployment CA certificate file (overrides the config file)")
	fs.StringVar(&f.cert, "tls-cert", "", "this party's certificate file (overrides the config file)")
	fs.StringVar(&f.key, "tls-key", "", "this party's key file (overrides the config file)")
	fs.Var(f.peers, "peer", "a peer's address as role=host:port; repeatable (overrides the config file)")
	fs.StringVar(&f.logLevel, "log-level", "", "log level: debug, info, warn or error (overrides the config file)")
	f.set = map[string]bool{}
	return f
}

// Apply writes the flags given on fs's command line into c and validates the result. Call it
// after fs.Parse.
func (f *Flags) Apply(fs *flag.FlagSet, c *Config) error {
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	str := func(name string, dst *string, v string) {
		if f.set[name] {
			*dst = v
		}
	}
	str("deployment", &c.Deployment, f.deployment)
	str("protocol", &c.Protocol, f.protocol)
	str("role", &c.Role, f.role)
	str("listen", &c.Listen, f.listen)
	str("metrics", &c.Metrics, f.metrics)
	str("share-dir", &c.ShareDir, f.shareDir)
	str("tls-ca", &c.TLS.CA, f.ca)
	str("tls-cert", &c.TLS.Cert, f.cert)
	str("tls-key", &c.TLS.Key, f.key)
	str("log-level", &c.Log.Level, f.logLevel)
	if len(f.peers) > 0 && c.Peers == nil {
		c.Peers = map[string]Peer{}
	}
	for r, addr := range f.peers {
		p := c.Peers[r]
		p.Address = addr
		c.Peers[r] = p
	}
	return c.Validate()
}
