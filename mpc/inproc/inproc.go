// Package inproc runs every party of an MPC computation in this process, side by side, over the
// in-memory network or over TCP on loopback: for demos, single-process benchmarks and tests.
package inproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/transport"
)

// Network selects how the parties talk.
type Network int

const (
	Memory   Network = iota // in-memory queues
	Loopback                // TCP on 127.0.0.1 (plain, no TLS)
)

// Endpoints returns connected transports for the n parties (2 or 3) of a session.
func Endpoints(ctx context.Context, nw Network, n int) ([]transport.Transport, error) {
	if nw == Memory {
		return transport.NewMemory(n).Endpoints(), nil
	}
	lns := make([]net.Listener, n)
	addrs := map[int]string{}
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns[i] = ln
		addrs[i] = ln.Addr().String()
	}
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var session [16]byte
	copy(session[:], "mpctest-session!")
	out := make([]transport.Transport, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s, err := transport.Mesh(ctx, transport.MeshConfig{Self: i, Parties: n, Listener: lns[i], Peers: addrs, Session: session, Timeout: 10 * time.Second})
			out[i], errs[i] = s, err
		}(i)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// Run sets up the engines of protocol p on network nw and runs f once per party concurrently,
// returning the results indexed by party and the joined error of every party. A 2pc config
// with a Material source (dealer-free) runs two parties; every other setting runs three.
func Run[T any](p mpc.Protocol, nw Network, cfg mpc.Config, f func(e mpc.Engine) (T, error)) ([]T, error) {
	return RunWrapped(p, nw, cfg, nil, f)
}

// RunWrapped is Run with each party's transport passed through wrap (when not nil), e.g. to
// record what a party receives.
func RunWrapped[T any](p mpc.Protocol, nw Network, cfg mpc.Config, wrap func(party int, t transport.Transport) transport.Transport, f func(e mpc.Engine) (T, error)) ([]T, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	n := 3
	if p == mpc.TwoPC && cfg.Material != nil {
		n = 2
	}
	ts, err := Endpoints(ctx, nw, n)
	if err != nil {
		return nil, err
	}
	if wrap != nil {
		for i := range ts {
			ts[i] = wrap(i, ts[i])
		}
	}
	defer func() {
		for _, t := range ts {
			t.Close()
		}
	}()
	out := make([]T, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			e, err := mpc.New(ctx, p, ts[i], cfg)
			if err != nil {
				errs[i] = err
				cancel()
				return
			}
			out[i], errs[i] = f(e)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("party %d: %w", i, errs[i])
				cancel()
			}
		}(i)
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// Recorder is a Transport that keeps a copy of every message its party receives.
type Recorder struct {
	transport.Transport
	mu       sync.Mutex
	Received [][]byte
}

// Recv records and returns the next message.
func (r *Recorder) Recv(ctx context.Context, from int) ([]byte, error) {
	b, err := r.Transport.Recv(ctx, from)
	if err == nil {
		r.mu.Lock()
		r.Received = append(r.Received, append([]byte(nil), b...))
		r.mu.Unlock()
	}
	return b, err
}
