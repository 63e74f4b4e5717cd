package link

import (
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/privinfer/mpcache/parties/pki"
	"github.com/privinfer/mpcache/parties/role"
)

// creds holds a test deployment's identities, made once per test binary.
type creds struct {
	name string
	ids  map[role.Role]*pki.Identity
	ca   *pki.Identity
}

var (
	credsOnce  sync.Once
	mainCreds  *creds
	otherCreds *creds // same deployment name, another CA
)

func newCreds(name string) *creds {
	ca, err := pki.NewCA(name, time.Hour)
	if err != nil {
		panic(err)
	}
	c := &creds{name: name, ca: ca, ids: map[role.Role]*pki.Identity{}}
	for _, r := range []role.Role{role.P0, role.P1, role.P2, role.Dealer, role.Client} {
		id, err := pki.Issue(ca, r, []string{"localhost", "127.0.0.1"}, time.Hour)
		if err != nil {
			panic(err)
		}
		c.ids[r] = id
	}
	return c
}

func testCreds() (*creds, *creds) {
	credsOnce.Do(func() {
		mainCreds = newCreds("demo")
		otherCreds = newCreds("demo")
	})
	return mainCreds, otherCreds
}

// quietLogger drops logs below Error, so expected refusals do not clutter test output.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// member is one party of a test cluster.
type member struct {
	party  int
	role   role.Role
	addr   string
	lis    net.Listener
	server *grpc.Server
	node   *Node
}

// stop kills the party abruptly: its server and connections close at once.
func (m *member) stop() {
	m.server.Stop()
	m.node.Close()
}

// clusterOpts tweaks a test cluster.
type clusterOpts struct {
	proto  role.Protocol
	chunk  int
	accept time.Duration
	// identity overrides the certificate a party presents (by party number).
	identity map[int]*pki.Identity
	// protocol overrides the protocol a party runs (by party number).
	protocol map[int]role.Protocol
	// dial rewrites the address party i uses to reach party j (for proxies).
	dial      func(i, j int, addr string) string
	keepalive Keepalive
}

func newCluster(t testing.TB, o clusterOpts) []*member {
	t.Helper()
	c, _ := testCreds()
	if o.proto == "" {
		o.proto = role.TwoPC
	}
	roles := o.proto.Roles()
	ms := make([]*member, len(roles))
	for i, r := range roles {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ms[i] = &member{party: i, role: r, addr: lis.Addr().String(), lis: lis}
	}
	for i := range ms {
		startMember(t, c, o, ms, i)
	}
	t.Cleanup(func() {
		for _, m := range ms {
			m.stop()
		}
	})
	return ms
}

// startMember starts party i on ms[i].lis.
func startMember(t testing.TB, c *creds, o clusterOpts, ms []*member, i int) {
	t.Helper()
	m := ms[i]
	proto := o.proto
	if p, ok := o.protocol[i]; ok {
		proto = p
	}
	self := c.ids[m.role]
	if id, ok := o.identity[i]; ok {
		self = id
	}
	trust := &pki.Trust{Deployment: c.name, CAFile: "ca.pem", Logger: quietLogger()}
	trust.ClientCAs = certPool(c.ca)
	peers := map[int]Peer{}
	for j, pm := range ms {
		if j == i {
			continue
		}
		pin, err := pki.PinCertificate(c.name, pm.role, c.ids[pm.role].Cert, string(pm.role)+".pem")
		if err != nil {
			t.Fatal(err)
		}
		trust.Pins = append(trust.Pins, pin)
		addr := pm.addr
		if o.dial != nil {
			addr = o.dial(i, j, addr)
		}
		peers[j] = Peer{Addr: addr, TLS: pki.PeerConfig(self, pin)}
	}
	node, err := New(Config{
		Self: i, Protocol: proto, Peers: peers, PeerParty: trust.PeerParty(proto),
		ChunkSize: o.chunk, AcceptTimeout: o.accept, OpenTimeout: 5 * time.Second,
		Keepalive: o.keepalive, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := append(ServerOptions(o.keepalive), grpc.Creds(credentials.NewTLS(pki.ServerConfig(self, trust))))
	srv := grpc.NewServer(opts...)
	node.Register(srv)
	go srv.Serve(m.lis)
	m.server, m.node = srv, node
}

func certPool(ca *pki.Identity) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// openAll opens session id at every member.
func openAll(t testing.TB, ms []*member, id SessionID) []*Session {
	t.Helper()
	ss := make([]*Session, len(ms))
	for i, m := range ms {
		s, err := m.node.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		ss[i] = s
	}
	t.Cleanup(func() {
		for _, s := range ss {
			s.Close()
		}
	})
	return ss
}

func newID(t testing.TB) SessionID {
	t.Helper()
	id, err := NewSessionID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
