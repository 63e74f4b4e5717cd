package link

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privinfer/mpcache/mpc/transport"
	"github.com/privinfer/mpcache/parties/role"
)

var _ transport.Transport = (*Session)(nil)

// payload is a deterministic message, distinct per (session, from, to, index).
func payload(tag uint64, from, to, i, size int) []byte {
	r := rand.New(rand.NewPCG(tag, uint64(from<<40|to<<32|i)))
	b := make([]byte, size)
	for k := range b {
		b[k] = byte(r.Uint32())
	}
	return b
}

// exchange has every party send msgs messages to every other party, then receive and check them.
func exchange(ctx context.Context, ss []*Session, tag uint64, sizes []int) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(ss)*len(ss))
	for i, s := range ss {
		for j := range ss {
			if i == j {
				continue
			}
			wg.Add(2)
			go func() {
				defer wg.Done()
				for k, n := range sizes {
					if err := s.SendLabeled(ctx, j, fmt.Sprintf("msg%d", k), payload(tag, i, j, k, n)); err != nil {
						errs <- err
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				for k, n := range sizes {
					label, got, err := ss[j].RecvLabeled(ctx, i)
					if err != nil {
						errs <- err
						return
					}
					if want := payload(tag, i, j, k, n); !bytes.Equal(got, want) || label != fmt.Sprintf("msg%d", k) {
						errs <- fmt.Errorf("party %d got message %d from party %d wrong: %d bytes label %q, want %d bytes", j, k, i, len(got), label, len(want))
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func TestExchange(t *testing.T) {
	const chunk = 64 << 10
	sizes := []int{0, 1, 1000, chunk - 1, chunk, chunk + 1, 3*chunk + 5, 0, 17}
	for _, proto := range []role.Protocol{role.TwoPC, role.ThreePC} {
		t.Run(string(proto), func(t *testing.T) {
			ms := newCluster(t, clusterOpts{proto: proto, chunk: chunk})
			ss := openAll(t, ms, newID(t))
			ctx := ctxTimeout(t, 20*time.Second)
			for _, s := range ss {
				if err := s.WaitReady(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if err := exchange(ctx, ss, 1, sizes); err != nil {
				t.Fatal(err)
			}
			st := ss[0].Stats()
			var want uint64
			for _, n := range sizes {
				want += uint64(n)
			}
			if st.BytesSent[1] != want || st.BytesReceived[1] != want || st.MessagesReceived[2] != uint64(len(sizes)) {
				t.Fatalf("stats %+v, want %d bytes each way", st, want)
			}
		})
	}
}

// TestNoDeadlock: both parties send large messages before either receives.
func TestNoDeadlock(t *testing.T) {
	ms := newCluster(t, clusterOpts{})
	ss := openAll(t, ms, newID(t))
	ctx := ctxTimeout(t, 30*time.Second)
	const size = 24 << 20
	a, b := payload(2, 0, 1, 0, size), payload(2, 1, 0, 0, size)
	for range 2 {
		if err := ss[0].Send(ctx, 1, a); err != nil {
			t.Fatal(err)
		}
		if err := ss[1].Send(ctx, 0, b); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		got, err := ss[0].Recv(ctx, 1)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("party 0: %d bytes, %v", len(got), err)
		}
		got, err = ss[1].Recv(ctx, 0)
		if err != nil || !bytes.Equal(got, a) {
			t.Fatalf("party 1: %d bytes, %v", len(got), err)
		}
	}
}

func TestConcurrentSessions(t *testing.T) {
	ms := newCluster(t, clusterOpts{proto: role.ThreePC, chunk: 32 << 10})
	ctx := ctxTimeout(t, 30*time.Second)
	const sessions = 8
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for k := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := newID(t)
			ss := make([]*Session, len(ms))
			for i, m := range ms {
				// Parties open the session in different orders, as they would under load.
				time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
				s, err := m.node.Open(id)
				if err != nil {
					errs <- err
					return
				}
				ss[i] = s
			}
			defer func() {
				for _, s := range ss {
					s.Close()
				}
			}()
			for round := range 5 {
				sizes := []int{rand.IntN(200 << 10), 8, rand.IntN(100)}
				if err := exchange(ctx, ss, uint64(k*100+round), sizes); err != nil {
					errs <- fmt.Errorf("session %d round %d: %w", k, round, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every session is gone from every node once closed.
	for _, m := range ms {
		if st := m.node.Stats(); st.SessionsOpen != 0 || st.SessionsOpened != sessions || st.SessionsAborted != 0 {
			t.Errorf("party %d: %+v", m.party, st)
		}
	}
}

// TestPeerDies kills a party mid-session: the others' Recv fail within seconds, naming it, even
// when they wait on a live party; after a restart, a new session works.
func TestPeerDies(t *testing.T) {
	c, _ := testCreds()
	o := clusterOpts{proto: role.ThreePC}
	ms := newCluster(t, o)
	ss := openAll(t, ms, newID(t))
	ctx := ctxTimeout(t, 30*time.Second)
	if err := exchange(ctx, ss, 3, []int{10, 100000}); err != nil {
		t.Fatal(err)
	}
	type result struct {
		err     error
		elapsed time.Duration
	}
	results := make(chan result, 2)
	start := time.Now()
	for _, w := range []struct{ party, from int }{{0, 2}, {1, 0}} {
		go func() {
			_, err := ss[w.party].Recv(ctx, w.from)
			results <- result{err, time.Since(start)}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	ms[2].stop()
	for range 2 {
		r := <-results
		if r.err == nil {
			t.Fatal("Recv succeeded after the peer died")
		}
		if r.elapsed > 5*time.Second {
			t.Errorf("Recv failed after %v", r.elapsed)
		}
		if !errors.Is(r.err, transport.ErrClosed) || !strings.Contains(r.err.Error(), ss[0].ID().String()) {
			t.Errorf("error %v does not match ErrClosed or name the session", r.err)
		}
		t.Logf("after %v: %v", r.elapsed.Round(time.Millisecond), r.err)
	}
	// Party 0 waited on party 2 itself: its error names party 2.
	if err := ss[0].Err(); err == nil || !strings.Contains(err.Error(), "party 2 (p2)") {
		t.Errorf("party 0's session error %v does not name party 2", err)
	}
	if err := ss[1].Send(ctx, 0, []byte{1}); err == nil {
		t.Error("Send on an aborted session succeeded")
	}

	// Restart party 2 on the same address; the others reconnect for a new session.
	lis, err := net.Listen("tcp", ms[2].addr)
	if err != nil {
		t.Skipf("cannot listen again on %s: %v", ms[2].addr, err)
	}
	ms[2].lis = lis
	startMember(t, c, o, ms, 2)
	ss2 := openAll(t, ms, newID(t))
	if err := exchange(ctx, ss2, 4, []int{5, 70000}); err != nil {
		t.Fatal(err)
	}
}

// TestCloseDelivers: messages sent just before Close arrive; then the peer's Recv reports the
// close.
func TestCloseDelivers(t *testing.T) {
	ms := newCluster(t, clusterOpts{chunk: 16 << 10})
	ss := openAll(t, ms, newID(t))
	ctx := ctxTimeout(t, 20*time.Second)
	msgs := [][]byte{payload(5, 0, 1, 0, 100), payload(5, 0, 1, 1, 1<<20)}
	for _, m := range msgs {
		if err := ss[0].Send(ctx, 1, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := ss[0].Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, want := range msgs {
		got, err := ss[1].Recv(ctx, 0)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("message %d: %d bytes, %v", i, len(got), err)
		}
	}
	start := time.Now()
	_, err := ss[1].Recv(ctx, 0)
	if err == nil || !errors.Is(err, transport.ErrClosed) || !strings.Contains(err.Error(), "closed the session") {
		t.Fatalf("Recv after the peer closed: %v", err)
	}
	if time.Since(start) > time.Second {
		t.Fatalf("Recv took %v", time.Since(start))
	}
	// A closed session cannot send, and its id cannot be reused.
	if err := ss[0].Send(ctx, 1, []byte{1}); err == nil {
		t.Fatal("Send after Close succeeded")
	}
	if _, err := ms[0].node.Open(ss[0].ID()); err == nil || !strings.Contains(err.Error(), "single-use") {
		t.Fatalf("reopening a closed session: %v", err)
	}
}

func TestRecvDeadline(t *testing.T) {
	ms := newCluster(t, clusterOpts{})
	ss := openAll(t, ms, newID(t))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := ss[0].Recv(ctx, 1)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "party 1 (p1)") {
		t.Fatalf("Recv: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Recv returned after %v", d)
	}
	// The session survives a Recv timeout.
	if err := exchange(ctxTimeout(t, 10*time.Second), ss, 6, []int{3}); err != nil {
		t.Fatal(err)
	}
}

func TestSendErrors(t *testing.T) {
	ms := newCluster(t, clusterOpts{})
	ss := openAll(t, ms, newID(t))
	ctx := ctxTimeout(t, 5*time.Second)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name  string
		ctx   context.Context
		to    int
		label string
		want  string
	}{
		{"self", ctx, 0, "", "no link to party 0"},
		{"no such party", ctx, 3, "", "no link to party 3"},
		{"negative", ctx, -1, "", "no link to party -1"},
		{"long label", ctx, 1, strings.Repeat("x", MaxLabel+1), "label"},
		{"cancelled", cancelled, 1, "", "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ss[0].SendLabeled(tt.ctx, tt.to, tt.label, []byte{1})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := ss[0].Recv(ctx, 0); err == nil {
		t.Fatal("Recv from self succeeded")
	}
	if _, err := ms[0].node.Open(ss[0].ID()); err == nil || !strings.Contains(err.Error(), "already open") {
		t.Fatalf("opening an open session: %v", err)
	}
}

// TestSessionNotOpened: a peer that never opens the session makes it fail, naming the peer.
func TestSessionNotOpened(t *testing.T) {
	ms := newCluster(t, clusterOpts{accept: 300 * time.Millisecond})
	s, err := ms[0].node.Open(newID(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := ctxTimeout(t, 10*time.Second)
	_, err = s.Recv(ctx, 1)
	if err == nil || !strings.Contains(err.Error(), "was not opened at party ") {
		t.Fatalf("Recv: %v", err)
	}
}

func TestProtocolMismatch(t *testing.T) {
	ms := newCluster(t, clusterOpts{protocol: map[int]role.Protocol{1: role.ThreePC}})
	ss := openAll(t, ms, newID(t))
	ctx := ctxTimeout(t, 10*time.Second)
	err := ss[0].WaitReady(ctx)
	// Party 0 hears either party 1's refusal of its stream, or the dealer's abort after party 1
	// (running 3pc) refused the dealer, whose role 3pc lacks.
	if err == nil || !containsAny(err.Error(), []string{`protocol mismatch: party 0 (p0) runs "2pc", party 1 (p1) runs "3pc"`, `a 3pc deployment has no role "dealer"`}) {
		t.Fatalf("WaitReady: %v", err)
	}
}

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"bad self", Config{Self: 3, Peers: map[int]Peer{0: {Addr: "x:1"}}}, "party number 3"},
		{"no peers", Config{Self: 0}, "no peers"},
		{"self as peer", Config{Self: 0, Peers: map[int]Peer{0: {Addr: "x:1"}}}, "cannot have party 0"},
		{"no address", Config{Self: 0, Protocol: role.TwoPC, Peers: map[int]Peer{2: {}}}, "party 2 (dealer) has no address"},
		{"chunk", Config{Self: 0, Peers: map[int]Peer{1: {Addr: "x:1"}}, ChunkSize: MaxChunkSize + 1}, "chunk size"},
		{"protocol", Config{Self: 0, Protocol: "5pc", Peers: map[int]Peer{1: {Addr: "x:1"}}}, "unknown protocol"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestLargeMessage sends a message larger than the receiver's up-front reservation, so its
// buffer grows as chunks arrive.
func TestLargeMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 200 MiB; skipped with -short")
	}
	ms := newCluster(t, clusterOpts{})
	ss := openAll(t, ms, newID(t))
	ctx := ctxTimeout(t, 2*time.Minute)
	msg := payload(8, 0, 1, 0, 200<<20)
	if err := ss[0].Send(ctx, 1, msg); err != nil {
		t.Fatal(err)
	}
	got, err := ss[1].Recv(ctx, 0)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("received %d bytes, %v", len(got), err)
	}
}
