package link

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// freezer is a TCP proxy that can stop forwarding without closing anything, as a crashed host or
// a cut cable does.
type freezer struct {
	lis    net.Listener
	target string
	mu     sync.Mutex
	frozen bool
	thaw   chan struct{}
}

func newFreezer(t testing.TB, target string) *freezer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{lis: lis, target: target, thaw: make(chan struct{})}
	t.Cleanup(func() {
		lis.Close()
		f.mu.Lock()
		if f.frozen {
			close(f.thaw)
			f.frozen = false
		}
		f.mu.Unlock()
	})
	go f.serve()
	return f
}

func (f *freezer) addr() string { return f.lis.Addr().String() }

func (f *freezer) freeze() {
	f.mu.Lock()
	f.frozen = true
	f.mu.Unlock()
}

func (f *freezer) wait() {
	f.mu.Lock()
	frozen, thaw := f.frozen, f.thaw
	f.mu.Unlock()
	if frozen {
		<-thaw
	}
}

func (f *freezer) serve() {
	for {
		c, err := f.lis.Accept()
		if err != nil {
			return
		}
		d, err := net.Dial("tcp", f.target)
		if err != nil {
			c.Close()
			continue
		}
		go f.pipe(c, d)
		go f.pipe(d, c)
	}
}

func (f *freezer) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		f.wait()
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				src.Close()
			}
			return
		}
	}
}

// TestSilentPeer: when the network between two parties goes silent (no FIN, no RST), keepalive
// detects it and the session fails within seconds instead of hanging.
func TestSilentPeer(t *testing.T) {
	var proxies [2]*freezer
	ms := newCluster(t, clusterOpts{
		keepalive: Keepalive{ServerTime: time.Second, Timeout: time.Second},
		dial: func(i, j int, addr string) string {
			if i == 2 || j == 2 {
				return addr
			}
			// Party i reaches party j through proxies[j]; created lazily below.
			return proxyFor(t, &proxies, j, addr)
		},
	})
	ss := openAll(t, ms, newID(t))
	ctx := ctxTimeout(t, 30*time.Second)
	if err := exchange(ctx, ss, 9, []int{1000}); err != nil {
		t.Fatal(err)
	}
	for _, p := range proxies {
		p.freeze()
	}
	start := time.Now()
	_, err := ss[0].Recv(ctx, 1)
	elapsed := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "party 1 (p1)") {
		t.Fatalf("Recv: %v", err)
	}
	if elapsed > 8*time.Second {
		t.Fatalf("detected after %v", elapsed)
	}
	t.Logf("after %v: %v", elapsed.Round(time.Millisecond), err)
}

func proxyFor(t *testing.T, proxies *[2]*freezer, j int, addr string) string {
	if proxies[j] == nil {
		proxies[j] = newFreezer(t, addr)
	}
	return proxies[j].addr()
}
