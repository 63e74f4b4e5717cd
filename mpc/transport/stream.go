package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Streams is a Transport over one reliable byte stream per peer (TCP, TLS over TCP, or any
// net.Conn). Each message is framed as a 4-byte little-endian length and the payload. A writer
// goroutine per peer sends queued messages, so Send never waits for the peer to read (two parties
// exchanging large messages cannot deadlock); a reader goroutine per peer fills an inbound
// queue, and stops reading while more than InboundLimit bytes wait in it, so that a peer that
// runs ahead (the 2pc dealer) is held back by the connection's flow control instead of filling
// this process's memory. Messages are consumed in order, so the pause cannot deadlock.
type Streams struct {
	self  int
	conns [MaxParties]net.Conn
	out   [MaxParties]*queue
	in    [MaxParties]*queue
	errMu sync.Mutex
	errs  [MaxParties]error
	once  sync.Once
	wg    sync.WaitGroup
	// pending counts messages queued or being written, for Drain.
	pending atomic.Int64
	// limit is InboundLimit (smaller in tests).
	limit int64
}

// NewStreams starts a Transport for party self over the given connections, indexed by peer
// party. A nil entry means no link to that party.
func NewStreams(self int, conns [MaxParties]net.Conn) *Streams {
	return newStreams(self, conns, InboundLimit)
}

func newStreams(self int, conns [MaxParties]net.Conn, limit int64) *Streams {
	s := &Streams{self: self, conns: conns, limit: limit}
	for p, c := range conns {
		if c == nil || p == self {
			continue
		}
		s.out[p], s.in[p] = newQueue(), newQueue()
		s.wg.Add(2)
		go s.writeLoop(p)
		go s.readLoop(p)
	}
	return s
}

func (s *Streams) setErr(p int, err error) {
	s.errMu.Lock()
	if s.errs[p] == nil {
		s.errs[p] = err
	}
	s.errMu.Unlock()
}

func (s *Streams) peerErr(p int) error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.errs[p]
}

func (s *Streams) writeLoop(p int) {
	defer s.wg.Done()
	w := bufio.NewWriterSize(s.conns[p], 1<<16)
	var hdr [4]byte
	ctx := context.Background()
	for {
		m, err := s.out[p].pop(ctx)
		if err != nil {
			return
		}
		binary.LittleEndian.PutUint32(hdr[:], uint32(len(m)))
		if _, err = w.Write(hdr[:]); err == nil {
			_, err = w.Write(m)
		}
		if err == nil && s.out[p].empty() {
			err = w.Flush()
		}
		s.pending.Add(-1)
		if err != nil {
			s.setErr(p, err)
			s.in[p].close()
			s.out[p].close()
			return
		}
	}
}

func (s *Streams) readLoop(p int) {
	defer s.wg.Done()
	r := bufio.NewReaderSize(s.conns[p], 1<<16)
	var hdr [4]byte
	for {
		if !s.in[p].waitBelow(s.limit) {
			return
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("connection closed by peer: %w", ErrClosed)
			}
			s.setErr(p, err)
			s.in[p].close()
			return
		}
		n := binary.LittleEndian.Uint32(hdr[:])
		if n > MaxMessage {
			s.setErr(p, fmt.Errorf("peer announced a %d-byte message, over the %d-byte limit", n, MaxMessage))
			s.in[p].close()
			return
		}
		m, err := readFrame(r, int(n))
		if err != nil {
			s.setErr(p, fmt.Errorf("truncated message (%d bytes announced): %w", n, err))
			s.in[p].close()
			return
		}
		if s.in[p].push(m) != nil {
			return
		}
	}
}

// Self is this endpoint's party number.
func (s *Streams) Self() int { return s.self }

// Send queues msg for party to.
func (s *Streams) Send(ctx context.Context, to int, msg []byte) error {
	if err := checkPeer(s.self, to); err != nil || s.out[to] == nil {
		return &PeerError{"send", s.self, to, errNoLink(err)}
	}
	if len(msg) > MaxMessage {
		return &PeerError{"send", s.self, to, errTooLarge(len(msg))}
	}
	if err := ctx.Err(); err != nil {
		return &PeerError{"send", s.self, to, err}
	}
	s.pending.Add(1)
	if err := s.out[to].push(msg); err != nil {
		s.pending.Add(-1)
		if perr := s.peerErr(to); perr != nil {
			err = perr
		}
		return &PeerError{"send", s.self, to, err}
	}
	return nil
}

// Backlog is the number of bytes queued for party to and not yet written to its connection.
func (s *Streams) Backlog(to int) int64 {
	if to < 0 || to >= MaxParties || s.out[to] == nil {
		return 0
	}
	return s.out[to].backlog()
}

// Recv returns the next message from party from.
func (s *Streams) Recv(ctx context.Context, from int) ([]byte, error) {
	if err := checkPeer(s.self, from); err != nil || s.in[from] == nil {
		return nil, &PeerError{"recv", s.self, from, errNoLink(err)}
	}
	m, err := s.in[from].pop(ctx)
	if err != nil {
		if perr := s.peerErr(from); perr != nil && errors.Is(err, ErrClosed) {
			err = perr
		}
		return nil, &PeerError{"recv", s.self, from, err}
	}
	return m, nil
}

// Close flushes nothing further, closes every connection and waits for the goroutines to end.
func (s *Streams) Close() error {
	s.once.Do(func() {
		for p, c := range s.conns {
			if c == nil || p == s.self {
				continue
			}
			s.out[p].close()
			s.in[p].close()
			_ = c.SetDeadline(time.Now())
			_ = c.Close()
		}
		s.wg.Wait()
	})
	return nil
}

// Drain waits until every queued outbound message has been handed to the connection (or a link
// failed) or ctx ends. Callers use it before Close when the last messages matter.
func (s *Streams) Drain(ctx context.Context) error {
	for s.pending.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// frameChunk is the most readFrame allocates ahead of a message's bytes: 16 MiB, more than most
// messages (material comes in batches of a few MiB), so that they are read in place without
// regrowing; larger ones double as they arrive.
const frameChunk = 16 << 20

// readFrame reads an n-byte payload. It allocates at most frameChunk before the bytes arrive
// and grows the buffer as they do, so that a peer announcing a huge message cannot make this
// party allocate much memory it never sends.
func readFrame(r io.Reader, n int) ([]byte, error) {
	const chunk = 1 << 20
	m := make([]byte, 0, min(n, frameChunk))
	for len(m) < n {
		k := min(n-len(m), chunk)
		if cap(m)-len(m) < k {
			m = slices.Grow(m, max(k, len(m)))
		}
		if _, err := io.ReadFull(r, m[len(m):len(m)+k]); err != nil {
			return nil, err
		}
		m = m[:len(m)+k]
	}
	return m, nil
}
