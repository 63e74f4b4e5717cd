// Package deploy writes the files of a new deployment: a certificate authority, a certificate
// for every party and for the client, each party's configuration file, and the client's
// deployment file, arranged so that each host gets one self-contained directory:
//
//	<dir>/pki/          the CA (ca.pem, and ca-key.pem: keep it offline) and every certificate
//	<dir>/<role>/       one per party: <role>.toml, ca.pem, its certificate and key, the peers'
//	                    certificates (pinned by the configuration)
//	<dir>/client/       client.toml, ca.pem, client.pem, client-key.pem
//
// It serves `client certs` (real hosts) and `client local` (loopback); real deployments may bring
// their own PKI and write the same files by hand (see docs/DEPLOY.md).
package deploy

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/privinfer/mpcache/parties/client"
	"github.com/privinfer/mpcache/parties/pki"
	"github.com/privinfer/mpcache/parties/role"
)

// Plan describes a deployment to write.
type Plan struct {
	Name     string
	Protocol role.Protocol
	// Preprocessing is where a 2pc deployment's material comes from: role.DealerFree writes
	// p0 and p1 only, with preprocessing = "dealer-free" in every file ("": the dealer).
	Preprocessing role.Preprocessing
	// Addrs is where each party is reached (host:port), by role.
	Addrs map[role.Role]string
	// Listen is each party's listen address; missing roles listen on all interfaces at the port
	// of their Addrs entry.
	Listen map[role.Role]string
	// Metrics is each party's Prometheus address; missing roles serve no metrics.
	Metrics map[role.Role]string
	// ShareDir is each party's share directory; missing roles use "shares" next to the config.
	ShareDir map[role.Role]string
	// Hosts are extra DNS names or IPs for each role's certificate (the host of Addrs is always
	// included).
	Hosts map[role.Role][]string
	// Validity of the certificates (0: pki.DefaultValidity).
	Validity time.Duration
	// Extra is TOML appended to every party's configuration (e.g. a [sessions] section).
	Extra string
}

// Files says where Write put things.
type Files struct {
	Dir    string
	Config map[role.Role]string // each party's configuration file
	Client string               // the client's deployment file
}

// Write creates the deployment's files under dir, which must not hold a deployment already.
func Write(dir string, p Plan) (*Files, error) {
	if _, err := role.ParseProtocol(string(p.Protocol)); err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	if err := pki.ValidDeployment(p.Name); err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	pre := p.Preprocessing.OrDealer()
	if err := pre.Check(p.Protocol); err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	roles := p.Protocol.RolesWith(pre)
	hosts := map[role.Role][]string{role.Client: {"localhost", "127.0.0.1"}}
	for _, r := range roles {
		addr, ok := p.Addrs[r]
		if !ok {
			return nil, fmt.Errorf("deploy: no address for %s (want --party %s=host:port)", r, r)
		}
		h, _, err := net.SplitHostPort(addr)
		if err != nil || h == "" {
			return nil, fmt.Errorf("deploy: address of %s %q is not host:port", r, addr)
		}
		hosts[r] = append([]string{h}, p.Hosts[r]...)
	}
	pkiDir := filepath.Join(dir, "pki")
	if _, err := os.Stat(filepath.Join(pkiDir, "ca.pem")); err == nil {
		return nil, fmt.Errorf("deploy: %s already holds a CA; choose another directory", pkiDir)
	}
	if err := pki.CreateDeployment(pkiDir, p.Name, hosts, p.Validity); err != nil {
		return nil, err
	}
	caCert, _ := pki.Files(pkiDir, "")
	f := &Files{Dir: dir, Config: map[role.Role]string{}}
	for _, r := range roles {
		rd := filepath.Join(dir, string(r))
		if err := copyCert(caCert, filepath.Join(rd, "ca.pem")); err != nil {
			return nil, err
		}
		cert, key := pki.Files(pkiDir, r)
		if err := copyFile(cert, filepath.Join(rd, string(r)+".pem"), 0o644); err != nil {
			return nil, err
		}
		if err := copyFile(key, filepath.Join(rd, string(r)+"-key.pem"), 0o600); err != nil {
			return nil, err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "# Party %s of deployment %q (%s). Relative paths are relative to this file.\n", r, p.Name, p.Protocol.Describe(pre))
		fmt.Fprintf(&b, "deployment = %q\nprotocol   = %q\nrole       = %q\n", p.Name, p.Protocol, r)
		if pre == role.DealerFree {
			fmt.Fprintf(&b, "preprocessing = %q\n", pre)
		}
		listen := p.Listen[r]
		if listen == "" {
			_, port, _ := net.SplitHostPort(p.Addrs[r])
			listen = net.JoinHostPort("0.0.0.0", port)
		}
		fmt.Fprintf(&b, "listen     = %q\n", listen)
		if m := p.Metrics[r]; m != "" {
			fmt.Fprintf(&b, "metrics    = %q\n", m)
		}
		share := p.ShareDir[r]
		if share == "" {
			share = "shares"
		}
		fmt.Fprintf(&b, "share_dir  = %q\n\n[tls]\nca   = \"ca.pem\"\ncert = %q\nkey  = %q\n", share, string(r)+".pem", string(r)+"-key.pem")
		for _, peer := range roles {
			if peer == r {
				continue
			}
			pc, _ := pki.Files(pkiDir, peer)
			if err := copyFile(pc, filepath.Join(rd, string(peer)+".pem"), 0o644); err != nil {
				return nil, err
			}
			fmt.Fprintf(&b, "\n[peers.%s]\naddress = %q\ncert    = %q\n", peer, p.Addrs[peer], string(peer)+".pem")
		}
		fmt.Fprintf(&b, "\n[log]\nlevel  = \"info\"\nformat = \"text\"\n")
		if p.Extra != "" {
			fmt.Fprintf(&b, "\n%s\n", strings.TrimSpace(p.Extra))
		}
		path := filepath.Join(rd, string(r)+".toml")
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			return nil, fmt.Errorf("deploy: %w", err)
		}
		f.Config[r] = path
	}
	cd := filepath.Join(dir, "client")
	if err := copyCert(caCert, filepath.Join(cd, "ca.pem")); err != nil {
		return nil, err
	}
	cert, key := pki.Files(pkiDir, role.Client)
	if err := copyFile(cert, filepath.Join(cd, "client.pem"), 0o644); err != nil {
		return nil, err
	}
	if err := copyFile(key, filepath.Join(cd, "client-key.pem"), 0o600); err != nil {
		return nil, err
	}
	d := &client.Deployment{Name: p.Name, Protocol: string(p.Protocol), Parties: map[string]string{},
		Preprocessing: pre.Field(),
		TLS:           client.TLS{CA: filepath.Join(cd, "ca.pem"), Cert: filepath.Join(cd, "client.pem"), Key: filepath.Join(cd, "client-key.pem")}}
	for _, r := range roles {
		d.Parties[string(r)] = p.Addrs[r]
	}
	f.Client = filepath.Join(cd, "client.toml")
	if err := d.Write(f.Client); err != nil {
		return nil, err
	}
	return f, nil
}

func copyCert(src, dst string) error { return copyFile(src, dst, 0o644) }

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	return os.Chmod(dst, mode)
}
