// Package pki creates and loads the certificates of a deployment and builds its TLS 1.3
// mutual-authentication configurations.
//
// # Certificates
//
// A deployment has a name (e.g. "demo") and a certificate authority. Every process holds an ECDSA
// P-256 key and a certificate whose role is encoded twice: the Common Name is "<role>.<deployment>"
// (e.g. "p0.demo", for people) and a URI SAN "mpcache://<deployment>/<role>" (for programs; this is
// the one that counts). Certificates also carry DNS and IP SANs for the hosts a party is reached
// at, so standard tools can connect. Keys come from crypto/rand and are written with mode 0600.
//
// # Trust
//
// Parties pin each other: a party's configuration names, for every peer role, the peer's exact
// certificate (or its SHA-256 fingerprint), and a party accepts a peer connection only when the
// certificate presented is the one pinned (see Trust.Authorize). A certificate signed by the
// deployment CA with a party role but not pinned is refused, so a compromised CA cannot mint a
// party. Clients are accepted when their certificate chains to the deployment CA and has role
// client in this deployment. A party dialling a peer checks the peer's certificate against the pin
// for the role it meant to reach (PeerConfig); a client checks that a party's certificate chains
// to the CA and has the expected role (ClientConfig). Host names are not checked: a party is
// identified by deployment and role, which the pins and the CA bind more tightly than DNS does.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/privinfer/mpcache/parties/role"
)

// URIScheme is the scheme of the URI SAN that encodes a certificate's deployment and role.
const URIScheme = "mpcache"

// DefaultValidity is how long certificates made by NewCA and Issue are valid when no validity is
// given.
const DefaultValidity = 365 * 24 * time.Hour

// Identity is a certificate and its private key: a CA or the credentials of one process.
type Identity struct {
	Deployment string
	Role       role.Role // empty for a CA
	Cert       *x509.Certificate
	Key        crypto.Signer
	CertFile   string // where the certificate was loaded from or written to, for messages
	KeyFile    string
}

// TLSCertificate returns the identity as a tls.Certificate.
func (id *Identity) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{id.Cert.Raw}, PrivateKey: id.Key, Leaf: id.Cert}
}

// Fingerprint returns the fingerprint of the identity's certificate.
func (id *Identity) Fingerprint() Fingerprint { return FingerprintOf(id.Cert) }

// ValidDeployment reports whether name can name a deployment: 1 to 63 lower-case letters, digits,
// '-' and '.', starting with a letter or digit.
func ValidDeployment(name string) error {
	if name == "" || len(name) > 63 {
		return fmt.Errorf("pki: deployment name %q must have 1 to 63 characters", name)
	}
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (i > 0 && (c == '-' || c == '.'))
		if !ok {
			return fmt.Errorf("pki: deployment name %q may hold only a-z, 0-9, '-' and '.', starting with a letter or digit", name)
		}
	}
	return nil
}

// RoleURI returns the URI SAN that encodes deployment and r.
func RoleURI(deployment string, r role.Role) *url.URL {
	return &url.URL{Scheme: URIScheme, Host: deployment, Path: "/" + string(r)}
}

// ParseRoleURI parses a URI SAN of the form mpcache://<deployment>/<role>.
func ParseRoleURI(s string) (deployment string, r role.Role, err error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", "", fmt.Errorf("pki: role URI %q: %w", s, err)
	}
	if u.Scheme != URIScheme || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("pki: %q is not a role URI %s://<deployment>/<role>", s, URIScheme)
	}
	if err := ValidDeployment(u.Host); err != nil {
		return "", "", fmt.Errorf("pki: role URI %q: %w", s, err)
	}
	name, ok := strings.CutPrefix(u.Path, "/")
	if !ok || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("pki: role URI %q has no role", s)
	}
	r, err = role.Parse(name)
	if err != nil || string(r) != name {
		return "", "", fmt.Errorf("pki: role URI %q names an unknown role", s)
	}
	return u.Host, r, nil
}

// RoleOf returns the deployment and role encoded in cert's URI SAN. Exactly one role URI must be
// present.
func RoleOf(cert *x509.Certificate) (deployment string, r role.Role, err error) {
	if cert == nil {
		return "", "", errors.New("pki: no certificate")
	}
	found := 0
	for _, u := range cert.URIs {
		if u.Scheme != URIScheme {
			continue
		}
		found++
		deployment, r, err = ParseRoleURI(u.String())
		if err != nil {
			return "", "", fmt.Errorf("pki: certificate %q: %w", cert.Subject.CommonName, err)
		}
	}
	switch found {
	case 0:
		return "", "", fmt.Errorf("pki: certificate %q has no %s:// URI SAN naming its role", cert.Subject.CommonName, URIScheme)
	case 1:
		return deployment, r, nil
	}
	return "", "", fmt.Errorf("pki: certificate %q has %d role URIs; want one", cert.Subject.CommonName, found)
}

// Fingerprint is the SHA-256 digest of a certificate's DER encoding.
type Fingerprint [sha256.Size]byte

// FingerprintOf returns cert's fingerprint.
func FingerprintOf(cert *x509.Certificate) Fingerprint { return sha256.Sum256(cert.Raw) }

// String formats f as "sha256:" and 64 hexadecimal digits.
func (f Fingerprint) String() string { return "sha256:" + hex.EncodeToString(f[:]) }

// short is the first 8 bytes of f, for messages.
func (f Fingerprint) short() string { return "sha256:" + hex.EncodeToString(f[:8]) + "…" }

// ParseFingerprint parses "sha256:<64 hex digits>" (the prefix is optional; colons between byte
// pairs are allowed, as openssl prints them).
func ParseFingerprint(s string) (Fingerprint, error) {
	var f Fingerprint
	h := strings.TrimSpace(s)
	if p, ok := strings.CutPrefix(strings.ToLower(h), "sha256:"); ok {
		h = p
	}
	h = strings.ReplaceAll(h, ":", "")
	if len(h) != 2*len(f) {
		return f, fmt.Errorf("pki: fingerprint %q: want sha256: and 64 hex digits", s)
	}
	if _, err := hex.Decode(f[:], []byte(h)); err != nil {
		return f, fmt.Errorf("pki: fingerprint %q: %w", s, err)
	}
	return f, nil
}

// NewCA creates the certificate authority of a deployment. validity 0 means DefaultValidity.
func NewCA(deployment string, validity time.Duration) (*Identity, error) {
	if err := ValidDeployment(deployment); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generating CA key: %w", err)
	}
	tmpl, err := template(deployment+" CA", validity)
	if err != nil {
		return nil, err
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.MaxPathLenZero = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: creating CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Identity{Deployment: deployment, Cert: cert, Key: key}, nil
}

// Issue creates a key and a certificate for role r, signed by ca (an identity made by NewCA or
// loaded with LoadIdentity). hosts are DNS names or IP addresses put in the SANs. validity 0 means
// DefaultValidity.
func Issue(ca *Identity, r role.Role, hosts []string, validity time.Duration) (*Identity, error) {
	if ca == nil || ca.Cert == nil || ca.Key == nil || !ca.Cert.IsCA {
		return nil, errors.New("pki: issuing needs a CA certificate and key")
	}
	if _, err := role.Parse(string(r)); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generating %s key: %w", r, err)
	}
	tmpl, err := template(string(r)+"."+ca.Deployment, validity)
	if err != nil {
		return nil, err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if r.IsParty() {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	tmpl.URIs = []*url.URL{RoleURI(ca.Deployment, r)}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: creating %s certificate: %w", r, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Identity{Deployment: ca.Deployment, Role: r, Cert: cert, Key: key}, nil
}

func template(cn string, validity time.Duration) (*x509.Certificate, error) {
	if validity <= 0 {
		validity = DefaultValidity
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: serial number: %w", err)
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"mpcache"}},
		NotBefore:    now.Add(-5 * time.Minute), // tolerate clock skew between hosts
		NotAfter:     now.Add(validity),
	}, nil
}

// Write stores the certificate (mode 0644) and key (mode 0600) as PEM files and records their
// paths in id.
func (id *Identity) Write(certFile, keyFile string) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(id.Key)
	if err != nil {
		return fmt.Errorf("pki: encoding key for %s: %w", keyFile, err)
	}
	if err := writeFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	if err := writeFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.Cert.Raw}), 0o644); err != nil {
		return err
	}
	id.CertFile, id.KeyFile = certFile, keyFile
	return nil
}

func writeFile(name string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	// The file may have existed with looser permissions.
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("pki: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("pki: writing %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("pki: writing %s: %w", name, err)
	}
	return nil
}

// LoadCertificate reads the first certificate of a PEM file.
func LoadCertificate(file string) (*x509.Certificate, error) {
	certs, err := LoadCertificates(file)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// LoadCertificates reads every certificate of a PEM file; there must be at least one.
func LoadCertificates(file string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("pki: reading certificate: %w", err)
	}
	certs, err := ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("pki: certificate file %s: %w", file, err)
	}
	return certs, nil
}

// ParseCertificatesPEM parses every CERTIFICATE block of data, ignoring other blocks.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return certs, nil
}

// LoadIdentity reads a certificate and its private key. The certificate must carry a role URI (a
// CA's need not); the key must match the certificate. A key file readable by group or others is
// loaded with a warning.
func LoadIdentity(certFile, keyFile string) (*Identity, error) {
	cert, err := LoadCertificate(certFile)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("pki: reading key: %w", err)
	}
	if st, err := os.Stat(keyFile); err == nil && st.Mode().Perm()&0o077 != 0 {
		slog.Warn("pki: private key file is readable by other users; chmod 600 it", "file", keyFile, "mode", st.Mode().Perm().String())
	}
	key, err := parseKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("pki: key file %s: %w", keyFile, err)
	}
	if !publicKeysEqual(key.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("pki: key file %s does not belong to certificate %s (%q)", keyFile, certFile, cert.Subject.CommonName)
	}
	id := &Identity{Cert: cert, Key: key, CertFile: certFile, KeyFile: keyFile}
	if cert.IsCA {
		id.Deployment = strings.TrimSuffix(cert.Subject.CommonName, " CA")
		return id, nil
	}
	id.Deployment, id.Role, err = RoleOf(cert)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", certFile, err)
	}
	return id, nil
}

func parseKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no PEM private key block")
		}
		switch b.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, err
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("unsupported key type %T", k)
			}
			return s, nil
		case "EC PRIVATE KEY":
			return x509.ParseECPrivateKey(b.Bytes)
		}
	}
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	x, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && x.Equal(b)
}

// LoadCAPool reads the deployment CA's certificates into a pool.
func LoadCAPool(file string) (*x509.CertPool, error) {
	certs, err := LoadCertificates(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// Files returns the conventional certificate and key file names of role r (or of the CA when r
// is empty) in dir, as CreateDeployment writes them.
func Files(dir string, r role.Role) (certFile, keyFile string) {
	name := string(r)
	if r == "" {
		name = "ca"
	}
	return filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
}

// CreateDeployment writes a new CA and a certificate for every role (p0, p1, p2, dealer and
// client) into dir, named as Files says. hosts gives each role's DNS names and IP addresses; a
// role missing from it gets "localhost" and 127.0.0.1. It is meant for trying the system out and
// for tests; real deployments may bring their own PKI.
func CreateDeployment(dir, deployment string, hosts map[role.Role][]string, validity time.Duration) error {
	ca, err := NewCA(deployment, validity)
	if err != nil {
		return err
	}
	if err := ca.Write(Files(dir, "")); err != nil {
		return err
	}
	for _, r := range []role.Role{role.P0, role.P1, role.P2, role.Dealer, role.Client} {
		h, ok := hosts[r]
		if !ok {
			h = []string{"localhost", "127.0.0.1"}
		}
		id, err := Issue(ca, r, h, validity)
		if err != nil {
			return err
		}
		if err := id.Write(Files(dir, r)); err != nil {
			return err
		}
	}
	return nil
}

// Pin is the certificate a party accepts for one peer role.
type Pin struct {
	Role        role.Role
	Fingerprint Fingerprint
	Source      string // the file or setting the pin came from, for messages
}

// PinCertificate pins cert for role r, checking that the certificate's role URI names r in
// deployment. source names the file it came from.
func PinCertificate(deployment string, r role.Role, cert *x509.Certificate, source string) (Pin, error) {
	dep, got, err := RoleOf(cert)
	if err != nil {
		return Pin{}, fmt.Errorf("pki: pinned certificate for %s (%s): %w", r, source, err)
	}
	if got != r || dep != deployment {
		return Pin{}, fmt.Errorf("pki: certificate %s pinned for %s of deployment %q is the certificate of %s in deployment %q", source, r, deployment, got, dep)
	}
	return Pin{Role: r, Fingerprint: FingerprintOf(cert), Source: source}, nil
}

// Trust is what a party accepts on its listening port: the pinned peers and the clients of its
// deployment.
type Trust struct {
	Deployment string
	Pins       []Pin            // one per peer role
	ClientCAs  *x509.CertPool   // nil refuses every client
	CAFile     string           // for messages
	Now        func() time.Time // clock for validity checks; nil means time.Now
	Logger     *slog.Logger     // where ServerConfig logs refusals; nil means slog.Default()
}

func (t *Trust) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// Authorize returns the role of the process that presented certs (leaf first), or an error that
// says why it is refused.
func (t *Trust) Authorize(certs []*x509.Certificate) (role.Role, error) {
	if len(certs) == 0 || certs[0] == nil {
		return "", errors.New("pki: the peer presented no certificate")
	}
	leaf := certs[0]
	fp := FingerprintOf(leaf)
	now := t.now()
	for _, p := range t.Pins {
		if p.Fingerprint != fp {
			continue
		}
		if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
			return "", fmt.Errorf("pki: the pinned %s certificate (%s) is not valid now (valid %s to %s)",
				p.Role, p.Source, leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
		}
		return p.Role, nil
	}
	who := describe(leaf)
	dep, r, err := RoleOf(leaf)
	if err != nil {
		return "", fmt.Errorf("pki: refusing %s: %w", who, err)
	}
	if r.IsParty() {
		for _, p := range t.Pins {
			if p.Role == r {
				return "", fmt.Errorf("pki: refusing %s: it is not the certificate pinned for %s (%s from %s)", who, r, p.Fingerprint.short(), p.Source)
			}
		}
		return "", fmt.Errorf("pki: refusing %s: no certificate is pinned for role %s here (pinned: %s)", who, r, t.pinnedRoles())
	}
	if t.ClientCAs == nil {
		return "", fmt.Errorf("pki: refusing %s: this endpoint accepts no clients", who)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots: t.ClientCAs, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return "", fmt.Errorf("pki: refusing %s: not signed by the deployment CA (%s): %w", who, t.CAFile, err)
	}
	if dep != t.Deployment {
		return "", fmt.Errorf("pki: refusing %s: it belongs to deployment %q, not %q", who, dep, t.Deployment)
	}
	return r, nil
}

func (t *Trust) pinnedRoles() string {
	var names []string
	for _, p := range t.Pins {
		names = append(names, string(p.Role))
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func describe(c *x509.Certificate) string {
	return fmt.Sprintf("certificate %q (%s)", c.Subject.CommonName, FingerprintOf(c).short())
}

// ServerConfig is the TLS 1.3 configuration of a party's listening port: it presents self and
// admits only what t authorizes.
func ServerConfig(self *Identity, t *Trust) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{self.TLSCertificate()},
		ClientAuth:   tls.RequireAnyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := t.Authorize(cs.PeerCertificates)
			if err != nil {
				log := t.Logger
				if log == nil {
					log = slog.Default()
				}
				log.Warn("pki: refused a TLS peer", "err", err)
			}
			return err
		},
	}
}

// PeerConfig is the TLS 1.3 configuration a party uses to dial the peer pinned by pin: it
// presents self and accepts only the pinned certificate.
func PeerConfig(self *Identity, pin Pin) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{self.TLSCertificate()},
		// The standard chain and host-name checks are replaced by the pin check below.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("pki: the %s peer presented no certificate", pin.Role)
			}
			leaf := cs.PeerCertificates[0]
			if FingerprintOf(leaf) != pin.Fingerprint {
				return fmt.Errorf("pki: the server answering for %s presented %s, not the certificate pinned for %s (%s from %s)",
					pin.Role, describe(leaf), pin.Role, pin.Fingerprint.short(), pin.Source)
			}
			if now := time.Now(); now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
				return fmt.Errorf("pki: the pinned %s certificate (%s) is not valid now", pin.Role, pin.Source)
			}
			return nil
		},
	}
}

// ClientConfig is the TLS 1.3 configuration a client uses to reach the party of role want: it
// presents self (nil for no client certificate) and accepts a certificate that chains to roots
// and has role want in deployment.
func ClientConfig(self *Identity, roots *x509.CertPool, deployment string, want role.Role) *tls.Config {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The chain is verified below; the host name is replaced by the role check.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("pki: party %s presented no certificate", want)
			}
			leaf := cs.PeerCertificates[0]
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{
				Roots: roots, Intermediates: inter,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			}); err != nil {
				return fmt.Errorf("pki: party %s presented %s, not signed by the deployment CA: %w", want, describe(leaf), err)
			}
			dep, r, err := RoleOf(leaf)
			if err != nil {
				return err
			}
			if r != want || dep != deployment {
				return fmt.Errorf("pki: expected party %s of deployment %q, but the server is %s of deployment %q", want, deployment, r, dep)
			}
			return nil
		},
	}
	if self != nil {
		cfg.Certificates = []tls.Certificate{self.TLSCertificate()}
	}
	return cfg
}

// RoleOfConn returns the role t authorizes for the peer of an established TLS connection.
func (t *Trust) RoleOfConn(cs *tls.ConnectionState) (role.Role, error) {
	if cs == nil {
		return "", errors.New("pki: the connection is not TLS")
	}
	return t.Authorize(cs.PeerCertificates)
}

// PeerParty returns a function that maps the TLS connection of an incoming party link to the
// peer's party number under proto, refusing clients and whatever Authorize refuses. It is what
// link.Config.PeerParty wants.
func (t *Trust) PeerParty(proto role.Protocol) func(cs *tls.ConnectionState) (int, error) {
	return func(cs *tls.ConnectionState) (int, error) {
		r, err := t.RoleOfConn(cs)
		if err != nil {
			return -1, err
		}
		if !r.IsParty() {
			return -1, fmt.Errorf("pki: a %s certificate may not open party links", r)
		}
		return proto.Party(r)
	}
}
