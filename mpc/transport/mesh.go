package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"time"
)

// helloMagic starts the first frame on every mesh connection.
var helloMagic = [4]byte{'M', 'P', 'C', '1'}

// helloLen is the size of the hello frame: magic, party number, session id.
const helloLen = 4 + 1 + 16

// MeshConfig describes how one party joins a session mesh over TCP.
type MeshConfig struct {
	Self     int                                                      // this party's number
	Parties  int                                                      // 2 or 3
	Listener net.Listener                                             // accepts connections from higher-numbered parties
	Peers    map[int]string                                           // address of every lower-numbered party, dialled by this one
	TLS      *tls.Config                                              // mutual-TLS settings; nil means plain TCP (tests only)
	Session  [16]byte                                                 // session identifier, checked on both sides
	Timeout  time.Duration                                            // bound on connecting the whole mesh (default 30 s)
	Dialer   func(ctx context.Context, addr string) (net.Conn, error) // optional custom dialer
}

// Mesh connects party cfg.Self to every other party of the session and returns the Transport.
// Party i dials every party j < i and accepts a connection from every party j > i; the first
// frame on each connection names the dialling party and the session, and a connection that
// names an unexpected party or another session is refused with an error.
func Mesh(ctx context.Context, cfg MeshConfig) (*Streams, error) {
	if cfg.Parties < 2 || cfg.Parties > MaxParties || cfg.Self < 0 || cfg.Self >= cfg.Parties {
		return nil, fmt.Errorf("transport: mesh: party %d of %d is not valid", cfg.Self, cfg.Parties)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var conns [MaxParties]net.Conn
	fail := func(err error) (*Streams, error) {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
		return nil, err
	}
	for j := 0; j < cfg.Self; j++ {
		addr, ok := cfg.Peers[j]
		if !ok {
			return fail(fmt.Errorf("transport: mesh: party %d has no address for party %d", cfg.Self, j))
		}
		c, err := dialPeer(ctx, cfg, addr)
		if err != nil {
			return fail(fmt.Errorf("transport: mesh: party %d dialling party %d at %s: %w", cfg.Self, j, addr, err))
		}
		conns[j] = c
	}
	for n := cfg.Self + 1; n < cfg.Parties; n++ {
		if cfg.Listener == nil {
			return fail(fmt.Errorf("transport: mesh: party %d needs a listener for party %d", cfg.Self, n))
		}
		c, peer, err := acceptPeer(ctx, cfg)
		if err != nil {
			return fail(fmt.Errorf("transport: mesh: party %d accepting: %w", cfg.Self, err))
		}
		if peer <= cfg.Self || peer >= cfg.Parties || conns[peer] != nil {
			c.Close()
			return fail(fmt.Errorf("transport: mesh: party %d refused a connection announcing party %d", cfg.Self, peer))
		}
		conns[peer] = c
	}
	return NewStreams(cfg.Self, conns), nil
}

func dialPeer(ctx context.Context, cfg MeshConfig, addr string) (net.Conn, error) {
	var c net.Conn
	var err error
	for {
		if cfg.Dialer != nil {
			c, err = cfg.Dialer(ctx, addr)
		} else {
			var d net.Dialer
			c, err = d.DialContext(ctx, "tcp", addr)
		}
		if err == nil {
			break
		}
		// The peer may not listen yet: retry until the mesh deadline.
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%v (last error: %w)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if cfg.TLS != nil {
		tc := tls.Client(c, cfg.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		c = tc
	}
	var hello [helloLen]byte
	copy(hello[:4], helloMagic[:])
	hello[4] = byte(cfg.Self)
	copy(hello[5:], cfg.Session[:])
	if _, err := c.Write(hello[:]); err != nil {
		c.Close()
		return nil, err
	}
	var ack [1]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil || ack[0] != 1 {
		c.Close()
		return nil, fmt.Errorf("peer did not accept this party into session %x", cfg.Session[:4])
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

func acceptPeer(ctx context.Context, cfg MeshConfig) (net.Conn, int, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := cfg.Listener.Accept()
		ch <- result{c, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		if dl, ok := cfg.Listener.(interface{ SetDeadline(time.Time) error }); ok {
			_ = dl.SetDeadline(time.Now())
		}
		return nil, -1, ctx.Err()
	}
	if r.err != nil {
		return nil, -1, r.err
	}
	c := r.c
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if cfg.TLS != nil {
		tc := tls.Server(c, cfg.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, -1, fmt.Errorf("TLS handshake: %w", err)
		}
		c = tc
	}
	var hello [helloLen]byte
	if _, err := io.ReadFull(c, hello[:]); err != nil {
		c.Close()
		return nil, -1, fmt.Errorf("reading hello: %w", err)
	}
	if !bytes.Equal(hello[:4], helloMagic[:]) {
		c.Close()
		return nil, -1, fmt.Errorf("peer spoke an unknown protocol (hello %x)", hello[:4])
	}
	if !bytes.Equal(hello[5:], cfg.Session[:]) {
		c.Close()
		return nil, -1, fmt.Errorf("peer joined session %x, want %x", hello[5:9], cfg.Session[:4])
	}
	if _, err := c.Write([]byte{1}); err != nil {
		c.Close()
		return nil, -1, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, int(hello[4]), nil
}
