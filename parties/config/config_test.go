package config

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/privinfer/mpcache/parties/link"
	"github.com/privinfer/mpcache/parties/pki"
	"github.com/privinfer/mpcache/parties/role"
)

// writeDeployment makes certificates in dir/certs and returns dir.
func writeDeployment(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := pki.CreateDeployment(filepath.Join(dir, "certs"), "demo", nil, time.Hour); err != nil {
		t.Fatal(err)
	}
	return dir
}

// configText is a valid configuration of role self in proto, with peers at addrs.
func configText(proto role.Protocol, self role.Role, listen string, addrs map[role.Role]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "deployment = \"demo\"\nprotocol = %q\nrole = %q\nlisten = %q\nshare_dir = \"shares\"\n", proto, self, listen)
	fmt.Fprintf(&b, "[tls]\nca = \"certs/ca.pem\"\ncert = \"certs/%s.pem\"\nkey = \"certs/%s-key.pem\"\n", self, self)
	for _, r := range proto.Roles() {
		if r == self {
			continue
		}
		addr := addrs[r]
		if addr == "" {
			addr = "127.0.0.1:7000"
		}
		fmt.Fprintf(&b, "[peers.%s]\naddress = %q\ncert = \"certs/%s.pem\"\n", r, addr, r)
	}
	fmt.Fprintf(&b, "[link]\nopen_timeout = \"3s\"\nlinger = \"2s\"\n[log]\nlevel = \"warn\"\n")
	return b.String()
}

func writeConfig(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoad(t *testing.T) {
	dir := writeDeployment(t)
	for _, tt := range []struct {
		proto role.Protocol
		self  role.Role
		party int
	}{{role.TwoPC, role.Dealer, 2}, {role.ThreePC, role.P2, 2}, {role.TwoPC, role.P1, 1}} {
		t.Run(string(tt.proto)+"/"+string(tt.self), func(t *testing.T) {
			path := writeConfig(t, dir, "party.toml", configText(tt.proto, tt.self, ":7000", nil))
			c, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if c.Party() != tt.party || c.ShareDir != filepath.Join(dir, "shares") || c.Link.OpenTimeout != 3*time.Second {
				t.Fatalf("party %d, share dir %q, open timeout %v", c.Party(), c.ShareDir, c.Link.OpenTimeout)
			}
			sec, err := c.LoadSecurity()
			if err != nil {
				t.Fatal(err)
			}
			lc := c.LinkConfig(sec, nil)
			if lc.Self != tt.party || len(lc.Peers) != 2 || lc.Peers[(tt.party+1)%3].Addr != "127.0.0.1:7000" {
				t.Fatalf("link config %+v", lc)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	good := configText(role.TwoPC, role.P0, ":7000", nil)
	tests := []struct {
		name string
		edit func(string) string
		want string
	}{
		{"bad protocol", repl(`protocol = "2pc"`, `protocol = "4pc"`), `protocol: "4pc" is not 2pc or 3pc`},
		{"bad role", repl(`role = "p0"`, `role = "client"`), `role: "client" is not a party role`},
		{"p2 in 2pc", repl(`role = "p0"`, `role = "p2"`), "a 2pc deployment has no p2"},
		{"bad listen", repl(`listen = ":7000"`, `listen = "7000"`), `listen: "7000" is not host:port`},
		{"no listen", repl(`listen = ":7000"`, ``), "listen: missing"},
		{"bad deployment", repl(`deployment = "demo"`, `deployment = "Demo!"`), "deployment:"},
		{"no share dir", repl(`share_dir = "shares"`, ``), "share_dir: missing"},
		{"no key", repl(`key = "certs/p0-key.pem"`, ``), "tls.key: missing"},
		{"missing peer", repl("[peers.dealer]\naddress = \"127.0.0.1:7000\"\ncert = \"certs/dealer.pem\"\n", ""), "peers.dealer: missing"},
		{"unknown peer", repl("[peers.dealer]", "[peers.p2]"), "p2 is not a peer of p0 in a 2pc deployment"},
		{"peer without host", repl(`address = "127.0.0.1:7000"`, `address = ":7000"`), `has no host`},
		{"peer without pin", repl(`cert = "certs/p1.pem"`, ``), "peers.p1: needs cert"},
		{"bad fingerprint", repl(`cert = "certs/p1.pem"`, `fingerprint = "sha256:abc"`), "peers.p1.fingerprint"},
		{"unknown key", repl(`share_dir`, `shares_dir`), "unknown settings: shares_dir"},
		{"negative duration", repl(`linger = "2s"`, `linger = "-2s"`), "link.linger: negative"},
		{"short keepalive", repl(`linger = "2s"`, `keepalive_client = "1s"`), "below gRPC's 10s minimum"},
		{"huge chunk", repl(`linger = "2s"`, `chunk_size = 100000000`), "link.chunk_size"},
		{"log level", repl(`level = "warn"`, `level = "loud"`), "log.level"},
		{"syntax", repl(`[tls]`, `[tls`), "toml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Load(writeConfig(t, dir, "p0.toml", tt.edit(good)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load: %v\nwant an error containing %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "p0.toml") {
				t.Fatalf("error %v does not name the file", err)
			}
		})
	}
}

func repl(old, new string) func(string) string {
	return func(s string) string {
		if !strings.Contains(s, old) {
			panic("test edit does not apply: " + old)
		}
		return strings.Replace(s, old, new, 1)
	}
}

func TestLoadSecurityErrors(t *testing.T) {
	dir := writeDeployment(t)
	good := configText(role.TwoPC, role.P0, ":7000", nil)
	p1, err := pki.LoadCertificate(filepath.Join(dir, "certs", "p1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	fp := pki.FingerprintOf(p1).String()
	tests := []struct {
		name string
		edit func(string) string
		want string // "" means success
	}{
		{"own certificate of another role", repl(`cert = "certs/p0.pem"`, `cert = "certs/p1.pem"`), "key file"},
		{"own certificate and key of another role", func(s string) string {
			return repl(`key = "certs/p0-key.pem"`, `key = "certs/p1-key.pem"`)(repl(`cert = "certs/p0.pem"`, `cert = "certs/p1.pem"`)(s))
		}, "is the certificate of p1"},
		{"missing own certificate", repl(`cert = "certs/p0.pem"`, `cert = "certs/nope.pem"`), "nope.pem"},
		{"missing CA", repl(`ca = "certs/ca.pem"`, `ca = "certs/none.pem"`), "tls.ca"},
		{"peer certificate of another role", repl(`cert = "certs/p1.pem"`, `cert = "certs/dealer.pem"`), "pinned for p1"},
		{"missing peer certificate", repl(`cert = "certs/p1.pem"`, `cert = "certs/gone.pem"`), "peers.p1.cert: p1's certificate"},
		{"pin by fingerprint", repl(`cert = "certs/p1.pem"`, `fingerprint = "`+fp+`"`), ""},
		{"fingerprint and certificate agree", repl(`cert = "certs/p1.pem"`, `cert = "certs/p1.pem"`+"\n"+`fingerprint = "`+fp+`"`), ""},
		{"fingerprint and certificate disagree", repl(`cert = "certs/dealer.pem"`, `cert = "certs/dealer.pem"`+"\n"+`fingerprint = "`+fp+`"`), "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(writeConfig(t, dir, "p0.toml", tt.edit(good)))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.LoadSecurity()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadSecurity: %v\nwant an error containing %q", err, tt.want)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	dir := writeDeployment(t)
	c, err := Load(writeConfig(t, dir, "p0.toml", configText(role.TwoPC, role.P0, ":7000", nil)))
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("party", flag.ContinueOnError)
	f := BindFlags(fs)
	if err := fs.Parse([]string{"-listen", "127.0.0.1:9000", "-peer", "p1=10.0.0.2:7000", "-log-level", "debug"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Apply(fs, c); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9000" || c.Peers["p1"].Address != "10.0.0.2:7000" || c.Peers["dealer"].Address != "127.0.0.1:7000" ||
		c.Log.Level != "debug" || c.ShareDir != filepath.Join(dir, "shares") {
		t.Fatalf("after flags: %+v", c)
	}
	fs = flag.NewFlagSet("party", flag.ContinueOnError)
	f = BindFlags(fs)
	fs.SetOutput(io.Discard)
	if err := fs.Parse([]string{"-peer", "p1"}); err == nil {
		t.Fatal("accepted -peer without an address")
	}
	if err := fs.Parse([]string{"-role", "p2"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Apply(fs, c); err == nil || !strings.Contains(err.Error(), "no p2") {
		t.Fatalf("Apply -role p2: %v", err)
	}
}

// TestConfigsConnect starts three parties from their configuration files, as cmd/party will, and
// runs a session between them over mutual TLS.
func TestConfigsConnect(t *testing.T) {
	dir := writeDeployment(t)
	proto := role.ThreePC
	roles := proto.Roles()
	lis := map[role.Role]net.Listener{}
	addrs := map[role.Role]string{}
	for _, r := range roles {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lis[r], addrs[r] = l, l.Addr().String()
	}
	sessions := make([]*link.Session, len(roles))
	id, _ := link.NewSessionID()
	for i, r := range roles {
		c, err := Load(writeConfig(t, dir, string(r)+".toml", configText(proto, r, addrs[r], addrs)))
		if err != nil {
			t.Fatal(err)
		}
		sec, err := c.LoadSecurity()
		if err != nil {
			t.Fatal(err)
		}
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		sec.Trust.Logger = log
		node, err := link.New(c.LinkConfig(sec, log))
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer(append(link.ServerOptions(c.Keepalive()), grpc.Creds(credentials.NewTLS(sec.Server)))...)
		node.Register(srv)
		go srv.Serve(lis[r])
		t.Cleanup(func() {
			node.Close()
			srv.Stop()
		})
		if sessions[i], err = node.Open(id); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, s := range sessions {
		for j := range sessions {
			if i != j {
				if err := s.Send(ctx, j, []byte{byte(i), byte(j)}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for i, s := range sessions {
		for j := range sessions {
			if i == j {
				continue
			}
			m, err := s.Recv(ctx, j)
			if err != nil || len(m) != 2 || m[0] != byte(j) || m[1] != byte(i) {
				t.Fatalf("party %d from %d: %v %v", i, j, m, err)
			}
		}
	}
	for _, s := range sessions {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParse(t *testing.T) {
	c, err := Parse(strings.NewReader(configText(role.ThreePC, role.P1, "127.0.0.1:7001", nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Party() != 1 || c.TLS.Cert != "certs/p1.pem" || c.Peers["p2"].Cert != "certs/p2.pem" {
		t.Fatalf("parsed %+v", c)
	}
	if _, err := Parse(strings.NewReader("listen = 7")); err == nil {
		t.Fatal("parsed a number as listen address")
	}
	if _, err := Parse(strings.NewReader("bogus = 1")); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("unknown key: %v", err)
	}
}
