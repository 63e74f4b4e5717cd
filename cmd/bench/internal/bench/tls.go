package bench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// tlsServerName is the DNS name in every party certificate of a benchmark session.
const tlsServerName = "mpcache-bench"

// TLSMaterial is one party's credentials for a benchmark session: a certificate issued by a
// throw-away certificate authority made for this execution alone, and that authority.
type TLSMaterial struct {
	CA   []byte `json:"ca"`   // PEM certificate of the session's authority
	Cert []byte `json:"cert"` // PEM certificate of this party
	Key  []byte `json:"key"`  // PEM PKCS #8 private key of this party
}

// newSessionPKI makes a fresh authority and a certificate for each party. Certificates name
// the party in their common name ("party0"); peers check it (see Config).
func newSessionPKI(parties int) ([]*TLSMaterial, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mpcache bench session CA"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	out := make([]*TLSMaterial, parties)
	for i := range out {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(i + 2)),
			Subject:      pkix.Name{CommonName: fmt.Sprintf("party%d", i)},
			DNSNames:     []string{tlsServerName},
			NotBefore:    now.Add(-time.Minute),
			NotAfter:     now.Add(48 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			return nil, err
		}
		pk, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		out[i] = &TLSMaterial{CA: caPEM,
			Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			Key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})}
	}
	return out, nil
}

// Config returns party self's mutual-TLS 1.3 configuration: both sides present certificates
// of the session's authority, and a peer must be another party of the session (its common
// name is "partyN" for N ≠ self).
func (m *TLSMaterial) Config(self int) (*tls.Config, error) {
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
			cn := cs.PeerCertificates[0].Subject.CommonName
			for p := range 3 {
				if p != self && cn == fmt.Sprintf("party%d", p) {
					return nil
				}
			}
			return fmt.Errorf("bench: peer certificate %q is not another party of this session", cn)
		},
	}, nil
}
