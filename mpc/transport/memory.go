package transport

import (
	"context"
	"sync"
)

// queue is a FIFO of messages on one directed link (unbounded; readers of network links
// pause while it holds more than InboundLimit bytes).
type queue struct {
	mu     sync.Mutex
	msgs   [][]byte
	bytes  int64         // total length of msgs
	ready  chan struct{} // signalled (non-blocking) when a message arrives or the link closes
	closed bool
}

func newQueue() *queue { return &queue{ready: make(chan struct{}, 1)} }

func (q *queue) push(m []byte) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	q.msgs = append(q.msgs, m)
	q.bytes += int64(len(m))
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return nil
}

func (q *queue) pop(ctx context.Context) ([]byte, error) {
	for {
		q.mu.Lock()
		if len(q.msgs) > 0 {
			m := q.msgs[0]
			q.msgs[0] = nil
			q.msgs = q.msgs[1:]
			q.bytes -= int64(len(m))
			q.mu.Unlock()
			return m, nil
		}
		if q.closed {
			q.mu.Unlock()
			return nil, ErrClosed
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Memory is an in-memory network between n parties in one process. Links are unbounded FIFOs, so
// a fast sender (the dealer) never blocks.
type Memory struct {
	n     int
	links [MaxParties][MaxParties]*queue
}

// NewMemory returns an in-memory network of n parties (2 or 3).
func NewMemory(n int) *Memory {
	m := &Memory{n: n}
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if i != j {
				m.links[i][j] = newQueue()
			}
		}
	}
	return m
}

// Endpoint returns party i's endpoint.
func (m *Memory) Endpoint(i int) Transport { return &memEndpoint{net: m, self: i} }

// Endpoints returns all parties' endpoints, indexed by party.
func (m *Memory) Endpoints() []Transport {
	out := make([]Transport, m.n)
	for i := range out {
		out[i] = m.Endpoint(i)
	}
	return out
}

type memEndpoint struct {
	net  *Memory
	self int
}

func (e *memEndpoint) Self() int { return e.self }

func (e *memEndpoint) link(from, to int) *queue {
	if from < 0 || to < 0 || from >= e.net.n || to >= e.net.n {
		return nil
	}
	return e.net.links[from][to]
}

func (e *memEndpoint) Send(ctx context.Context, to int, msg []byte) error {
	q := e.link(e.self, to)
	if err := checkPeer(e.self, to); err != nil || q == nil {
		return &PeerError{"send", e.self, to, errNoLink(err)}
	}
	if len(msg) > MaxMessage {
		return &PeerError{"send", e.self, to, errTooLarge(len(msg))}
	}
	if err := ctx.Err(); err != nil {
		return &PeerError{"send", e.self, to, err}
	}
	if err := q.push(msg); err != nil {
		return &PeerError{"send", e.self, to, err}
	}
	return nil
}

// Backlog is the number of bytes sent to party to that it has not received yet.
func (e *memEndpoint) Backlog(to int) int64 {
	if q := e.link(e.self, to); q != nil && to != e.self {
		return q.backlog()
	}
	return 0
}

func (e *memEndpoint) Recv(ctx context.Context, from int) ([]byte, error) {
	q := e.link(from, e.self)
	if err := checkPeer(e.self, from); err != nil || q == nil {
		return nil, &PeerError{"recv", e.self, from, errNoLink(err)}
	}
	m, err := q.pop(ctx)
	if err != nil {
		return nil, &PeerError{"recv", e.self, from, err}
	}
	return m, nil
}

// Close closes every link into and out of this endpoint, so the peers see ErrClosed instead of
// waiting for their deadline.
func (e *memEndpoint) Close() error {
	for j := 0; j < e.net.n; j++ {
		if j == e.self {
			continue
		}
		e.net.links[e.self][j].close()
		e.net.links[j][e.self].close()
	}
	return nil
}

// InboundLimit is how many bytes of received messages a network transport holds for a peer
// before it stops reading from that peer's connection (256 MiB); one message may exceed it.
const InboundLimit = 256 << 20

// waitBelow waits while more than limit bytes are queued, and reports false if the queue was
// closed meanwhile.
func (q *queue) waitBelow(limit int64) bool {
	closed := false
	WaitUntil(nil, func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		closed = q.closed
		return closed || q.bytes <= limit
	})
	return !closed
}

func (q *queue) backlog() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

func (q *queue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs) == 0
}
