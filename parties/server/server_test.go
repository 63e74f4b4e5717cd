package server

import (
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/privinfer/mpcache/parties/link"
	"github.com/privinfer/mpcache/parties/metrics"
	"github.com/privinfer/mpcache/parties/pki"
	"github.com/privinfer/mpcache/parties/role"
)

type party struct {
	srv  *Server
	node *link.Node
	addr string
}

// start runs a 2pc deployment's three parties on loopback with mutual TLS.
func start(t *testing.T) ([]*party, *pki.Identity, *x509.CertPool) {
	t.Helper()
	proto := role.TwoPC
	ca, err := pki.NewCA("demo", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[role.Role]*pki.Identity{}
	for _, r := range append(proto.Roles(), role.Client) {
		if ids[r], err = pki.Issue(ca, r, []string{"127.0.0.1"}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	lis := make([]net.Listener, 3)
	for i := range lis {
		if lis[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	ps := make([]*party, 3)
	for i, r := range proto.Roles() {
		trust := &pki.Trust{Deployment: "demo", ClientCAs: pool, Logger: quiet}
		peers := map[int]link.Peer{}
		for j, pr := range proto.Roles() {
			if j == i {
				continue
			}
			pin, err := pki.PinCertificate("demo", pr, ids[pr].Cert, string(pr)+".pem")
			if err != nil {
				t.Fatal(err)
			}
			trust.Pins = append(trust.Pins, pin)
			peers[j] = link.Peer{Addr: lis[j].Addr().String(), TLS: pki.PeerConfig(ids[r], pin)}
		}
		node, err := link.New(link.Config{Self: i, Protocol: proto, Peers: peers, PeerParty: trust.PeerParty(proto), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		srv := New(node, Options{TLS: pki.ServerConfig(ids[r], trust), Logger: quiet})
		go srv.Serve(lis[i])
		t.Cleanup(srv.Stop)
		ps[i] = &party{srv: srv, node: node, addr: lis[i].Addr().String()}
	}
	return ps, ids[role.Client], pool
}

func TestHealthAndShutdown(t *testing.T) {
	ps, client, pool := start(t)
	cc, err := grpc.NewClient(ps[0].addr, grpc.WithTransportCredentials(credentials.NewTLS(pki.ClientConfig(client, pool, "demo", role.P0))))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hc := healthpb.NewHealthClient(cc)
	for _, svc := range []string{"", "mpcache.link.v1.Link"} {
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health of %q: %v, %v", svc, resp, err)
		}
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watch, err := hc.Watch(watchCtx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := watch.Recv(); err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("watch: %v, %v", resp, err)
	}

	// A session is running when party 0 shuts down: the others' sessions abort at once.
	id, _ := link.NewSessionID()
	var ss []*link.Session
	for _, p := range ps {
		s, err := p.node.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, s)
	}
	if err := ss[0].WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	sdCtx, sdCancel := context.WithTimeout(ctx, 5*time.Second)
	defer sdCancel()
	done := make(chan error, 1)
	go func() { done <- ps[0].srv.Shutdown(sdCtx) }()
	if resp, err := watch.Recv(); err != nil || resp.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("watch after shutdown: %v, %v", resp, err)
	}
	stopWatch() // the last call in flight; Shutdown now completes without waiting for its deadline
	start := time.Now()
	if _, err := ss[1].Recv(ctx, 0); err == nil || !strings.Contains(err.Error(), "party 0 (p0)") {
		t.Fatalf("party 1 Recv: %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("party 1 noticed after %v", time.Since(start))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Shutdown took %v", d)
	}
}

func TestLinkMetrics(t *testing.T) {
	ps, _, _ := start(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewLinkCollector(ps[0].node, role.TwoPC))
	ms, err := metrics.Listen("127.0.0.1:0", reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, _ := link.NewSessionID()
	var ss []*link.Session
	for _, p := range ps {
		s, err := p.node.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, s)
	}
	if err := ss[0].Send(ctx, 2, make([]byte, 1234)); err != nil {
		t.Fatal(err)
	}
	if _, err := ss[2].Recv(ctx, 0); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ms.Addr()+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"mpcache_link_sessions_opened_total 1",
		"mpcache_link_sessions_open 1",
		`mpcache_link_sent_bytes_total{peer="dealer"} 1234`,
		`mpcache_link_sent_messages_total{peer="p1"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}
