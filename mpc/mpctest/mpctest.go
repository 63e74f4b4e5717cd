// Package mpctest runs the parties of an MPC computation side by side for tests and
// benchmarks, over the in-memory network or over TCP on loopback.
package mpctest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
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

// Endpoints returns connected transports for the three parties of a session.
func Endpoints(ctx context.Context, nw Network) ([]transport.Transport, error) {
	if nw == Memory {
		return transport.NewMemory(3).Endpoints(), nil
	}
	lns := make([]net.Listener, 3)
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
	out := make([]transport.Transport, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s, err := transport.Mesh(ctx, transport.MeshConfig{Self: i, Parties: 3, Listener: lns[i], Peers: addrs, Session: session, Timeout: 10 * time.Second})
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
// returning the results indexed by party. An error from any party (or a setup failure) fails
// the test. The engines use the given config (zero value: defaults).
func Run[T any](tb testing.TB, p mpc.Protocol, nw Network, cfg mpc.Config, f func(e mpc.Engine) (T, error)) []T {
	tb.Helper()
	res, err := RunErr(p, nw, cfg, f)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// RunErr is Run returning the joined error instead of failing a test.
func RunErr[T any](p mpc.Protocol, nw Network, cfg mpc.Config, f func(e mpc.Engine) (T, error)) ([]T, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ts, err := Endpoints(ctx, nw)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, t := range ts {
			t.Close()
		}
	}()
	out := make([]T, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
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

// Reveal reconstructs the value behind the parties' shares (indexed by party).
func Reveal(tb testing.TB, p mpc.Protocol, shares []*mpc.Share) *mpc.Tensor {
	tb.Helper()
	t, err := mpc.Reconstruct(p, shares)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}
