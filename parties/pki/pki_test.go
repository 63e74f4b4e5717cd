package pki

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/privinfer/mpcache/parties/role"
)

// deployment is a CA and every role's identity, made once per test binary (key generation is
// cheap, but the tests read better with names).
type deployment struct {
	name string
	ca   *Identity
	ids  map[role.Role]*Identity
}

func newDeployment(t *testing.T, name string) *deployment {
	t.Helper()
	ca, err := NewCA(name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	d := &deployment{name: name, ca: ca, ids: map[role.Role]*Identity{}}
	for _, r := range []role.Role{role.P0, role.P1, role.P2, role.Dealer, role.Client} {
		id, err := Issue(ca, r, []string{"localhost", "127.0.0.1"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		d.ids[r] = id
	}
	return d
}

func (d *deployment) pin(t *testing.T, r role.Role) Pin {
	t.Helper()
	p, err := PinCertificate(d.name, r, d.ids[r].Cert, string(r)+".pem")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (d *deployment) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(d.ca.Cert)
	return p
}

// trustFor is what party self of a protocol accepts.
func (d *deployment) trustFor(t *testing.T, proto role.Protocol, self role.Role) *Trust {
	tr := &Trust{Deployment: d.name, ClientCAs: d.pool(), CAFile: "ca.pem", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, r := range proto.Roles() {
		if r != self {
			tr.Pins = append(tr.Pins, d.pin(t, r))
		}
	}
	return tr
}

// handshake runs a TLS handshake over an in-memory pipe and returns each side's error. The
// client reads one byte after its handshake, so a refusal by the server (which TLS 1.3 reports
// after the client's handshake returns) shows up on the client too.
func handshake(t *testing.T, server, client *tls.Config) (serverErr, clientErr error) {
	t.Helper()
	a, b := net.Pipe()
	deadline := time.Now().Add(5 * time.Second)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	done := make(chan error, 1)
	go func() {
		s := tls.Server(a, server)
		err := s.Handshake()
		if err == nil {
			_, err = s.Write([]byte{1})
		}
		a.Close()
		done <- err
	}()
	c := tls.Client(b, client)
	clientErr = c.Handshake()
	if clientErr == nil {
		var buf [1]byte
		_, clientErr = c.Read(buf[:])
	}
	b.Close()
	return <-done, clientErr
}

func TestPeerHandshake(t *testing.T) {
	d := newDeployment(t, "demo")
	other := newDeployment(t, "demo") // same name, different CA
	tests := []struct {
		name       string
		proto      role.Protocol
		server     role.Role
		dialer     *Identity // identity presented by the dialling party
		dialerPin  Pin       // what the dialler pins for the server
		serverID   *Identity // identity the server presents (default d.ids[server])
		wantServer string    // substring of the server's error; "" means success
		wantClient string    // substring of the dialler's error; "" means success
	}{
		{name: "2pc p1 to p0", proto: role.TwoPC, server: role.P0, dialer: d.ids[role.P1], dialerPin: d.pin(t, role.P0)},
		{name: "2pc dealer to p1", proto: role.TwoPC, server: role.P1, dialer: d.ids[role.Dealer], dialerPin: d.pin(t, role.P1)},
		{name: "3pc p2 to p0", proto: role.ThreePC, server: role.P0, dialer: d.ids[role.P2], dialerPin: d.pin(t, role.P0)},
		{name: "p1 from another CA", proto: role.TwoPC, server: role.P0, dialer: other.ids[role.P1], dialerPin: d.pin(t, role.P0),
			wantServer: "not the certificate pinned for p1", wantClient: "bad certificate"},
		{name: "dealer in a 3pc deployment", proto: role.ThreePC, server: role.P0, dialer: d.ids[role.Dealer], dialerPin: d.pin(t, role.P0),
			wantServer: "no certificate is pinned for role dealer", wantClient: "bad certificate"},
		{name: "p2 posing as p1 to the dialler", proto: role.ThreePC, server: role.P1, serverID: d.ids[role.P2], dialer: d.ids[role.P0], dialerPin: d.pin(t, role.P1),
			wantServer: "bad certificate", wantClient: "not the certificate pinned for p1"},
		{name: "server from another CA", proto: role.TwoPC, server: role.P1, serverID: other.ids[role.P1], dialer: d.ids[role.P0], dialerPin: d.pin(t, role.P1),
			wantServer: "bad certificate", wantClient: "not the certificate pinned for p1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sid := tt.serverID
			if sid == nil {
				sid = d.ids[tt.server]
			}
			srv := ServerConfig(sid, d.trustFor(t, tt.proto, tt.server))
			cli := PeerConfig(tt.dialer, tt.dialerPin)
			serr, cerr := handshake(t, srv, cli)
			check(t, "server", serr, tt.wantServer)
			check(t, "dialler", cerr, tt.wantClient)
		})
	}
}

func TestClientHandshake(t *testing.T) {
	d := newDeployment(t, "demo")
	other := newDeployment(t, "demo")
	elsewhere := newDeployment(t, "elsewhere")
	tests := []struct {
		name       string
		client     *Identity
		roots      *x509.CertPool
		want       role.Role
		wantServer string
		wantClient string
	}{
		{name: "client", client: d.ids[role.Client], roots: d.pool(), want: role.P0},
		{name: "no client certificate", client: nil, roots: d.pool(), want: role.P0,
			wantServer: "didn't provide a certificate", wantClient: "certificate required"},
		{name: "client of another CA", client: other.ids[role.Client], roots: d.pool(), want: role.P0,
			wantServer: "not signed by the deployment CA", wantClient: "bad certificate"},
		{name: "client of another deployment", client: elsewhere.ids[role.Client], roots: d.pool(), want: role.P0,
			wantServer: "not signed by the deployment CA", wantClient: "bad certificate"},
		{name: "client expects another role", client: d.ids[role.Client], roots: d.pool(), want: role.P1,
			wantServer: "bad certificate", wantClient: "expected party p1"},
		{name: "client trusts another CA", client: d.ids[role.Client], roots: other.pool(), want: role.P0,
			wantServer: "bad certificate", wantClient: "not signed by the deployment CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := ServerConfig(d.ids[role.P0], d.trustFor(t, role.TwoPC, role.P0))
			cli := ClientConfig(tt.client, tt.roots, "demo", tt.want)
			serr, cerr := handshake(t, srv, cli)
			check(t, "server", serr, tt.wantServer)
			check(t, "client", cerr, tt.wantClient)
		})
	}
}

func check(t *testing.T, side string, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("%s: unexpected error: %v", side, err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: error %v, want one containing %q", side, err, want)
	}
}

func TestAuthorize(t *testing.T) {
	d := newDeployment(t, "demo")
	tr := d.trustFor(t, role.ThreePC, role.P0)
	got, err := tr.Authorize([]*x509.Certificate{d.ids[role.P2].Cert})
	if err != nil || got != role.P2 {
		t.Fatalf("Authorize(p2) = %q, %v", got, err)
	}
	if _, err := tr.Authorize(nil); err == nil {
		t.Fatal("Authorize accepted no certificate")
	}
	tr.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, err := tr.Authorize([]*x509.Certificate{d.ids[role.P2].Cert}); err == nil || !strings.Contains(err.Error(), "not valid now") {
		t.Fatalf("expired pinned certificate: %v", err)
	}
	noClients := &Trust{Deployment: "demo", Pins: tr.Pins}
	if _, err := noClients.Authorize([]*x509.Certificate{d.ids[role.Client].Cert}); err == nil || !strings.Contains(err.Error(), "accepts no clients") {
		t.Fatalf("client without ClientCAs: %v", err)
	}
}

func TestPinCertificate(t *testing.T) {
	d := newDeployment(t, "demo")
	if _, err := PinCertificate("demo", role.P1, d.ids[role.P0].Cert, "peers/p1.pem"); err == nil ||
		!strings.Contains(err.Error(), "peers/p1.pem pinned for p1") || !strings.Contains(err.Error(), "certificate of p0") {
		t.Fatalf("pinning p0's certificate for p1: %v", err)
	}
	if _, err := PinCertificate("prod", role.P0, d.ids[role.P0].Cert, "p0.pem"); err == nil {
		t.Fatal("pinned a certificate of another deployment")
	}
	if _, err := PinCertificate("demo", role.P0, d.ca.Cert, "ca.pem"); err == nil {
		t.Fatal("pinned the CA certificate")
	}
}

func TestFilesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if err := CreateDeployment(dir, "demo", map[role.Role][]string{role.P0: {"p0.example.com", "10.0.0.1"}}, time.Hour); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := Files(dir, role.P0)
	st, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v, want 0600", st.Mode().Perm())
	}
	id, err := LoadIdentity(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if id.Role != role.P0 || id.Deployment != "demo" || id.Cert.Subject.CommonName != "p0.demo" {
		t.Fatalf("loaded %q of %q, CN %q", id.Role, id.Deployment, id.Cert.Subject.CommonName)
	}
	if len(id.Cert.DNSNames) != 1 || id.Cert.DNSNames[0] != "p0.example.com" || len(id.Cert.IPAddresses) != 1 {
		t.Fatalf("SANs %v %v", id.Cert.DNSNames, id.Cert.IPAddresses)
	}
	ca, err := LoadIdentity(Files(dir, ""))
	if err != nil || !ca.Cert.IsCA || ca.Deployment != "demo" {
		t.Fatalf("CA: %v", err)
	}
	if _, err := id.Cert.Verify(x509.VerifyOptions{Roots: mustPool(t, filepath.Join(dir, "ca.pem")), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatal(err)
	}
	// A key that does not match the certificate is refused, naming both files.
	_, p1Key := Files(dir, role.P1)
	if _, err := LoadIdentity(certFile, p1Key); err == nil || !strings.Contains(err.Error(), p1Key) || !strings.Contains(err.Error(), certFile) {
		t.Fatalf("mismatched key: %v", err)
	}
	missing := filepath.Join(dir, "nope.pem")
	if _, err := LoadIdentity(missing, keyFile); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing certificate: %v", err)
	}
	if _, err := LoadCertificate(keyFile); err == nil || !strings.Contains(err.Error(), "no PEM CERTIFICATE") {
		t.Fatalf("key file as certificate: %v", err)
	}
	// Issue refuses a non-CA signer.
	if _, err := Issue(id, role.P1, nil, 0); err == nil {
		t.Fatal("issued with a leaf")
	}
}

func mustPool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	p, err := LoadCAPool(file)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseRoleURI(t *testing.T) {
	tests := []struct {
		in      string
		dep     string
		role    role.Role
		wantErr bool
	}{
		{"mpcache://demo/p0", "demo", role.P0, false},
		{"mpcache://prod-1.eu/dealer", "prod-1.eu", role.Dealer, false},
		{"mpcache://demo/P0", "", "", true},
		{"mpcache://demo/p0/x", "", "", true},
		{"mpcache://demo/", "", "", true},
		{"https://demo/p0", "", "", true},
		{"mpcache://Demo/p0", "", "", true},
		{"mpcache://u@demo/p0", "", "", true},
		{"mpcache:demo/p0", "", "", true},
		{"mpcache://demo/p0?x=1", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			dep, r, err := ParseRoleURI(tt.in)
			if (err != nil) != tt.wantErr || dep != tt.dep || r != tt.role {
				t.Fatalf("ParseRoleURI(%q) = %q, %q, %v", tt.in, dep, r, err)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	d := newDeployment(t, "demo")
	f := d.ids[role.P0].Fingerprint()
	for _, s := range []string{f.String(), strings.TrimPrefix(f.String(), "sha256:"), strings.ToUpper(f.String())} {
		g, err := ParseFingerprint(s)
		if err != nil || g != f {
			t.Fatalf("ParseFingerprint(%q) = %v, %v", s, g, err)
		}
	}
	for _, s := range []string{"", "sha256:00", "sha256:" + strings.Repeat("zz", 32)} {
		if _, err := ParseFingerprint(s); err == nil {
			t.Fatalf("ParseFingerprint(%q) succeeded", s)
		}
	}
}

// FuzzParseRoleURI checks that the parser of the role URI SAN, which arrives in certificates from
// the network, never panics and that what it accepts round-trips.
func FuzzParseRoleURI(f *testing.F) {
	for _, s := range []string{"mpcache://demo/p0", "mpcache://a/client", "mpcache://x/../p0", "mpcache://%41/p0", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dep, r, err := ParseRoleURI(s)
		if err != nil {
			return
		}
		if got := RoleURI(dep, r).String(); got != s {
			// Accepted forms must be canonical.
			d2, r2, err := ParseRoleURI(got)
			if err != nil || d2 != dep || r2 != r {
				t.Fatalf("%q parsed to %q %q, which re-parses to %q %q %v", s, dep, r, d2, r2, err)
			}
		}
	})
}
