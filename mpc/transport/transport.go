// Package transport moves byte messages between the parties of one MPC session.
//
// A session has up to three parties, numbered 0, 1 and 2 (P0, P1, and either P2 in 3pc or the
// dealer in 2pc). Every directed link delivers messages in order, exactly once. Send does not
// wait for the receiver to call Recv (it may block for flow control); Recv waits for the next
// message until its context ends. Implementations: an in-memory network (tests and
// single-process runs), TCP streams with optional TLS (see Dial and Listen), and a shaper that
// adds bandwidth and delay to any transport for LAN/WAN emulation.
package transport

import (
	"context"
	"errors"
	"fmt"
)

// MaxParties is the largest number of parties in a session.
const MaxParties = 3

// MaxMessage is the largest message a transport accepts, in bytes (1 GiB). Larger payloads are a
// bug in the caller (or a malicious peer) and are refused with an error.
const MaxMessage = 1 << 30

// Transport is one party's endpoint in a session.
type Transport interface {
	// Self is this endpoint's party number.
	Self() int
	// Send delivers msg to party to. The transport owns msg after the call.
	Send(ctx context.Context, to int, msg []byte) error
	// Recv returns the next message from party from, waiting until ctx ends.
	Recv(ctx context.Context, from int) ([]byte, error)
	// Close releases the endpoint; pending and later calls return ErrClosed.
	Close() error
}

// Backlogger is implemented by transports that can tell how many bytes are queued for a peer
// and not yet delivered (handed to the network, or, in memory, taken by the receiver). A sender
// that never waits for anything, such as the 2pc dealer, uses it to keep its lead bounded.
type Backlogger interface {
	Backlog(to int) int64
}

// ErrClosed is returned by calls on a closed endpoint or after the peer went away.
var ErrClosed = errors.New("transport: closed")

// PeerError names the peer and operation behind a transport failure.
type PeerError struct {
	Op   string // "send" or "recv"
	Self int
	Peer int
	Err  error
}

func (e *PeerError) Error() string {
	return fmt.Sprintf("transport: party %d %s party %d: %v", e.Self, e.Op, e.Peer, e.Err)
}

func (e *PeerError) Unwrap() error { return e.Err }

func checkPeer(self, peer int) error {
	if peer < 0 || peer >= MaxParties || peer == self {
		return fmt.Errorf("transport: party %d cannot talk to party %d", self, peer)
	}
	return nil
}

func errNoLink(err error) error {
	if err != nil {
		return err
	}
	return errors.New("no such link")
}

func errTooLarge(n int) error {
	return fmt.Errorf("message of %d bytes exceeds the %d-byte limit", n, MaxMessage)
}
