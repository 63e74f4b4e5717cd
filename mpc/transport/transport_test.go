package transport

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func exchangeAll(t *testing.T, ts []Transport) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 9)
	big := bytes.Repeat([]byte{7}, 3<<20)
	for i, tr := range ts {
		wg.Add(1)
		go func(i int, tr Transport) {
			defer wg.Done()
			for j := range ts {
				if j != i {
					// Large messages both ways at once must not deadlock.
					if err := tr.Send(ctx, j, append([]byte{byte(i)}, big...)); err != nil {
						errs <- err
						return
					}
				}
			}
			for j := range ts {
				if j == i {
					continue
				}
				m, err := tr.Recv(ctx, j)
				if err != nil {
					errs <- err
					return
				}
				if m[0] != byte(j) || len(m) != len(big)+1 {
					errs <- errors.New("wrong message")
				}
			}
		}(i, tr)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestMemory(t *testing.T) {
	exchangeAll(t, NewMemory(3).Endpoints())
}

func listeners(t testing.TB, n int) ([]net.Listener, map[int]string) {
	lns := make([]net.Listener, n)
	addrs := map[int]string{}
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		lns[i], addrs[i] = ln, ln.Addr().String()
	}
	return lns, addrs
}

func mesh(t testing.TB, cfgs []MeshConfig) ([]Transport, []error) {
	out := make([]Transport, len(cfgs))
	errs := make([]error, len(cfgs))
	var wg sync.WaitGroup
	for i := range cfgs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s, err := Mesh(context.Background(), cfgs[i])
			if err == nil {
				out[i] = s
				t.Cleanup(func() { s.Close() })
			}
			errs[i] = err
		}(i)
	}
	wg.Wait()
	return out, errs
}

func TestMeshTCP(t *testing.T) {
	lns, addrs := listeners(t, 3)
	var cfgs []MeshConfig
	for i := 0; i < 3; i++ {
		cfgs = append(cfgs, MeshConfig{Self: i, Parties: 3, Listener: lns[i], Peers: addrs, Timeout: 5 * time.Second})
	}
	ts, errs := mesh(t, cfgs)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	exchangeAll(t, ts)
}

func TestMeshWrongSession(t *testing.T) {
	lns, addrs := listeners(t, 2)
	cfgs := []MeshConfig{
		{Self: 0, Parties: 2, Listener: lns[0], Peers: addrs, Session: [16]byte{1}, Timeout: 2 * time.Second},
		{Self: 1, Parties: 2, Listener: lns[1], Peers: addrs, Session: [16]byte{2}, Timeout: 2 * time.Second},
	}
	_, errs := mesh(t, cfgs)
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "session") {
		t.Fatalf("party 0 accepted a peer of another session: %v", errs[0])
	}
	if errs[1] == nil {
		t.Fatal("party 1 joined a mesh of another session")
	}
}

// testPKI makes a CA and a leaf certificate per name.
func testPKI(t testing.TB, names ...string) (*x509.CertPool, map[string]tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	out := map[string]tls.Certificate{}
	for i, n := range names {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), Subject: pkix.Name{CommonName: n},
			DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	return pool, out
}

func tlsConfig(pool *x509.CertPool, cert tls.Certificate) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, RootCAs: pool,
		ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, ServerName: "localhost"}
}

func TestMeshMutualTLS(t *testing.T) {
	pool, certs := testPKI(t, "p0", "p1")
	otherPool, other := testPKI(t, "p1")
	_ = otherPool
	cases := []struct {
		name   string
		p1cert tls.Certificate
		ok     bool
	}{
		{"valid", certs["p1"], true},
		{"certificate-of-another-CA", other["p1"], false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lns, addrs := listeners(t, 2)
			cfgs := []MeshConfig{
				{Self: 0, Parties: 2, Listener: lns[0], Peers: addrs, TLS: tlsConfig(pool, certs["p0"]), Timeout: 3 * time.Second},
				{Self: 1, Parties: 2, Listener: lns[1], Peers: addrs, TLS: tlsConfig(pool, c.p1cert), Timeout: 3 * time.Second},
			}
			ts, errs := mesh(t, cfgs)
			if c.ok {
				if errs[0] != nil || errs[1] != nil {
					t.Fatal(errs)
				}
				exchangeAll(t, ts)
				return
			}
			if errs[0] == nil || errs[1] == nil {
				t.Fatalf("a peer with a foreign certificate got in: %v", errs)
			}
		})
	}
}

func TestStreamsPeerDies(t *testing.T) {
	a, b := net.Pipe()
	sa := NewStreams(0, [MaxParties]net.Conn{1: a})
	defer sa.Close()
	b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err := sa.Recv(ctx, 1)
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("recv from a dead peer: err %v after %v", err, time.Since(start))
	}
	var pe *PeerError
	if !errors.As(err, &pe) || pe.Peer != 1 {
		t.Fatalf("error does not name the peer: %v", err)
	}
}

// FuzzStreamsFrames feeds arbitrary bytes to a Streams reader: it must deliver well-formed
// frames and fail cleanly (never panic or hang) on anything else.
func FuzzStreamsFrames(f *testing.F) {
	frame := func(p []byte) []byte {
		b := binary.LittleEndian.AppendUint32(nil, uint32(len(p)))
		return append(b, p...)
	}
	f.Add(frame([]byte("hello")))
	f.Add(append(frame(nil), frame([]byte{1, 2, 3})...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Add([]byte{5, 0, 0, 0, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := net.Pipe()
		s := NewStreams(0, [MaxParties]net.Conn{1: a})
		defer s.Close()
		go func() {
			b.Write(data)
			b.Close()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for {
			m, err := s.Recv(ctx, 1)
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					t.Fatal("reader hung")
				}
				return
			}
			if len(m) > len(data) {
				t.Fatalf("frame of %d bytes from %d input bytes", len(m), len(data))
			}
		}
	})
}

// FuzzMeshHello feeds arbitrary bytes as a dialling peer's hello: the accepting party must
// refuse or accept cleanly.
func FuzzMeshHello(f *testing.F) {
	good := append(append([]byte("MPC1"), 1), make([]byte, 16)...)
	f.Add(good)
	f.Add([]byte("MPC1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Skip(err)
		}
		defer ln.Close()
		go func() {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				return
			}
			c.Write(data)
			time.Sleep(50 * time.Millisecond)
			c.Close()
		}()
		s, err := Mesh(context.Background(), MeshConfig{Self: 0, Parties: 2, Listener: ln, Timeout: time.Second})
		if err == nil {
			s.Close()
		}
	})
}

// TestStreamsInboundLimit checks the reader's back-pressure: while the receiver reads nothing,
// at most the limit plus one message waits in its memory, the rest stays with the sender (its
// Backlog grows), and every message still arrives, in order, once the receiver reads.
func TestStreamsInboundLimit(t *testing.T) {
	const limit, size, count = 1 << 20, 256 << 10, 96
	lns, _ := listeners(t, 1)
	done := make(chan net.Conn, 1)
	go func() {
		c, err := lns[0].Accept()
		if err != nil {
			t.Error(err)
		}
		done <- c
	}()
	ca, err := net.Dial("tcp", lns[0].Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cb := <-done
	sender := NewStreams(0, [MaxParties]net.Conn{1: ca})
	defer sender.Close()
	receiver := newStreams(1, [MaxParties]net.Conn{0: cb}, limit)
	defer receiver.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range count {
		m := make([]byte, size)
		m[0] = byte(i)
		if err := sender.Send(ctx, 1, m); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until the sender cannot hand more to the connection.
	for prev := int64(-1); ; {
		time.Sleep(50 * time.Millisecond)
		b := sender.Backlog(1)
		if b == prev || ctx.Err() != nil {
			break
		}
		prev = b
	}
	if held := receiver.in[0].backlog(); held > limit+size {
		t.Fatalf("the receiver holds %d bytes unread, limit %d", held, limit)
	}
	if sender.Backlog(1) == 0 {
		t.Fatalf("the sender's backlog is empty: nothing was held back (%d bytes sent)", size*count)
	}
	for i := range count {
		m, err := receiver.Recv(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != size || m[0] != byte(i) {
			t.Fatalf("message %d: %d bytes starting %d", i, len(m), m[0])
		}
	}
}

// BenchmarkRoundTrip is one round between two parties: P0 sends a message, P1 receives it and
// sends one back of the same size, in memory and over loopback TCP with mutual TLS 1.3 (what
// the party processes of cmd/bench use); ns/op is the round trip.
func BenchmarkRoundTrip(b *testing.B) {
	pool, certs := testPKI(b, "p0", "p1")
	for _, size := range []int{8, 64 << 10, 4 << 20} {
		for _, kind := range []string{"memory", "tls"} {
			b.Run(fmt.Sprintf("%s/%dB", kind, size), func(b *testing.B) {
				var ts []Transport
				if kind == "memory" {
					ts = NewMemory(2).Endpoints()
				} else {
					lns, addrs := listeners(b, 2)
					var errs []error
					ts, errs = mesh(b, []MeshConfig{
						{Self: 0, Parties: 2, Listener: lns[0], Peers: addrs, TLS: tlsConfig(pool, certs["p0"]), Timeout: 3 * time.Second},
						{Self: 1, Parties: 2, Listener: lns[1], Peers: addrs, TLS: tlsConfig(pool, certs["p1"]), Timeout: 3 * time.Second},
					})
					if errs[0] != nil || errs[1] != nil {
						b.Fatal(errs)
					}
				}
				ctx := context.Background()
				done := make(chan error, 1)
				go func() {
					for {
						m, err := ts[1].Recv(ctx, 0)
						if err != nil || len(m) == 0 {
							done <- err
							return
						}
						if err := ts[1].Send(ctx, 0, m); err != nil {
							done <- err
							return
						}
					}
				}()
				b.SetBytes(int64(2 * size))
				for b.Loop() {
					if err := ts[0].Send(ctx, 1, make([]byte, size)); err != nil {
						b.Fatal(err)
					}
					if _, err := ts[0].Recv(ctx, 1); err != nil {
						b.Fatal(err)
					}
				}
				ts[0].Send(ctx, 1, nil) // stops the echo
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}
