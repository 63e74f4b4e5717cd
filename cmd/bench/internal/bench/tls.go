package bench

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/parties/pki"
	partyrole "github.com/privinfer/mpcache/parties/role"
)

const (
	// tlsDeployment is the pki deployment name of every benchmark session.
	tlsDeployment = "mpcache-bench"
	// tlsServerName is the DNS name in every party certificate of a benchmark session.
	tlsServerName = "mpcache-bench"
	// tlsValidity bounds the life of a session's certificates.
	tlsValidity = 48 * time.Hour
)

// TLSMaterial is one party's credentials for a benchmark session: a certificate issued by a
// throw-away certificate authority made for this execution alone, and that authority.
type TLSMaterial struct {
	CA   []byte `json:"ca"`   // PEM certificate of the session's authority
	Cert []byte `json:"cert"` // PEM certificate of this party
	Key  []byte `json:"key"`  // PEM PKCS #8 private key of this party
}

// newSessionPKI makes a fresh authority (pki.NewCA) and a certificate for each party of proto
// (pki.Issue), indexed by party number. Certificates carry the party's role (see pki.RoleOf);
// peers check it (see Config).
func newSessionPKI(proto mpc.Protocol) ([]*TLSMaterial, error) {
	ca, err := pki.NewCA(tlsDeployment, tlsValidity)
	if err != nil {
		return nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
	roles := partyrole.Protocol(proto).Roles()
	out := make([]*TLSMaterial, len(roles))
	for i, r := range roles {
		id, err := pki.Issue(ca, r, []string{tlsServerName}, tlsValidity)
		if err != nil {
			return nil, err
		}
		key, err := x509.MarshalPKCS8PrivateKey(id.Key)
		if err != nil {
			return nil, err
		}
		out[i] = &TLSMaterial{CA: caPEM,
			Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.Cert.Raw}),
			Key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})}
	}
	return out, nil
}

// Config returns the mutual-TLS 1.3 configuration of party self of proto: both sides present
// certificates of the session's authority, and a peer must be another party of the session
// (its certificate's role, pki.RoleOf, is a party of proto other than self).
func (m *TLSMaterial) Config(proto mpc.Protocol, self int) (*tls.Config, error) {
	cert, err := tls.X509KeyPair(m.Cert, m.Key)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(m.CA) {
		return nil, errors.New("bench: no session CA certificate")
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ServerName:   tlsServerName,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("bench: peer sent no certificate")
			}
			dep, r, err := pki.RoleOf(cs.PeerCertificates[0])
			if err != nil {
				return err
			}
			if p, err := partyrole.Protocol(proto).Party(r); err != nil || dep != tlsDeployment || p == self {
				return fmt.Errorf("bench: peer certificate of %s in %q is not another party of this session", r, dep)
			}
			return nil
		},
	}, nil
}
