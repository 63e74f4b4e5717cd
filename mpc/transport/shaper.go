package transport

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// Link is an emulated network link in one direction, between this party and one peer.
type Link struct {
	// Bandwidth is the link's rate in bits per second; 0 means unlimited.
	Bandwidth float64
	// Delay is the one-way propagation delay.
	Delay time.Duration
}

// Named network profiles. LAN and WAN are the settings SecretFlow SPU and its successors
// (MPCache included) benchmark with: 5 Gbit/s with 0.2 ms one way (0.4 ms round trip), and
// 400 Mbit/s with 20 ms one way (40 ms round trip).
var (
	LAN = Link{Bandwidth: 5e9, Delay: 200 * time.Microsecond}
	WAN = Link{Bandwidth: 400e6, Delay: 20 * time.Millisecond}
)

// Profile returns the named link: "lan", "wan", or "none" (no shaping).
func Profile(name string) (Link, error) {
	switch name {
	case "lan":
		return LAN, nil
	case "wan":
		return WAN, nil
	case "none", "":
		return Link{}, nil
	}
	return Link{}, fmt.Errorf("transport: unknown network profile %q (want lan, wan or none)", name)
}

// Shaped reports whether the link adds any delay.
func (l Link) Shaped() bool { return l.Bandwidth > 0 || l.Delay > 0 }

// TxTime is the time the link takes to put n bytes on the wire, 8n/Bandwidth (0 when the
// bandwidth is unlimited).
func (l Link) TxTime(n int) time.Duration {
	if l.Bandwidth <= 0 || math.IsInf(l.Bandwidth, 1) {
		return 0
	}
	return time.Duration(math.Round(8 * float64(n) / l.Bandwidth * 1e9))
}

// String formats the link as "400 Mbit/s, 20ms one way" ("unshaped" for the zero Link).
func (l Link) String() string {
	if !l.Shaped() {
		return "unshaped"
	}
	bw := "unlimited"
	if l.Bandwidth > 0 {
		bw = fmt.Sprintf("%g Mbit/s", l.Bandwidth/1e6)
	}
	return fmt.Sprintf("%s, %v one way", bw, l.Delay)
}

// schedule returns when a message of n bytes sent at now on link l is delivered, and when the
// link finishes transmitting it, given that the link is busy transmitting earlier messages
// until free. Transmission starts when the link is free, takes TxTime(n), and the last bit
// arrives Delay later.
func schedule(l Link, free, now time.Time, n int) (deliver, newFree time.Time) {
	start := now
	if free.After(now) {
		start = free
	}
	newFree = start.Add(l.TxTime(n))
	return newFree.Add(l.Delay), newFree
}

// Shaper is a Transport that emulates a network on this party's outgoing links: it hands a
// message of B bytes sent on a link of bandwidth bw and one-way delay d to the wrapped
// transport at
//
//	max(time of Send, end of the previous message's transmission) + 8B/bw + d,
//
// so messages on one link leave in order (FIFO) and a link transmits one message at a time
// (serialisation), while different links run in parallel. Wrapping every party's transport
// shapes every directed link; receiving is passed through. Send never waits for the emulated
// network. Unshaped links (the zero Link) pass messages straight through once earlier shaped
// messages have left.
//
// A Shaper also counts the messages and bytes sent on each link, which gives the per-link
// traffic that a network estimate needs. On Linux the waits use a timerfd on the runtime's
// poller with a self-calibrating lead, so delays of a fraction of a millisecond are kept to a
// few microseconds on average (Go timers wake about a millisecond late on an idle process);
// elsewhere they use Go timers.
type Shaper struct {
	inner Transport
	links [MaxParties]*shapedLink
	once  sync.Once
}

// NewShaper wraps inner, shaping every outgoing link as l.
func NewShaper(inner Transport, l Link) *Shaper {
	s := &Shaper{inner: inner}
	for p := range s.links {
		if p != inner.Self() {
			s.links[p] = &shapedLink{s: s, to: p, link: l, wake: make(chan struct{}, 1)}
		}
	}
	return s
}

// SetLink changes the emulated link to peer (all peers when peer < 0) for messages sent from
// now on; messages already queued keep their delivery times, and order is kept.
func (s *Shaper) SetLink(peer int, l Link) {
	for p, k := range s.links {
		if k != nil && (peer < 0 || p == peer) {
			k.mu.Lock()
			k.link = l
			k.mu.Unlock()
		}
	}
}

// Link returns the emulated link to peer.
func (s *Shaper) Link(peer int) Link {
	if peer < 0 || peer >= MaxParties || s.links[peer] == nil {
		return Link{}
	}
	k := s.links[peer]
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.link
}

// Sent returns the number of messages and bytes sent to peer so far (delivered or queued).
func (s *Shaper) Sent(peer int) (msgs, bytes int64) {
	if peer < 0 || peer >= MaxParties || s.links[peer] == nil {
		return 0, 0
	}
	k := s.links[peer]
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.msgs, k.bytes
}

// Self is the wrapped endpoint's party number.
func (s *Shaper) Self() int { return s.inner.Self() }

// Backlog is the number of bytes sent to party to and not yet delivered: those the shaper still
// holds, plus the wrapped transport's backlog when it tells (Backlogger), so that a dealer paces
// itself through a shaped link as through the bare one.
func (s *Shaper) Backlog(to int) int64 {
	if to < 0 || to >= MaxParties || s.links[to] == nil {
		return 0
	}
	k := s.links[to]
	k.mu.Lock()
	n := k.queued
	k.mu.Unlock()
	if b, ok := s.inner.(Backlogger); ok {
		n += b.Backlog(to)
	}
	return n
}

// Send queues msg for delivery to party to after the emulated transmission and delay.
func (s *Shaper) Send(ctx context.Context, to int, msg []byte) error {
	self := s.inner.Self()
	if err := checkPeer(self, to); err != nil || s.links[to] == nil {
		return &PeerError{"send", self, to, errNoLink(err)}
	}
	if len(msg) > MaxMessage {
		return &PeerError{"send", self, to, errTooLarge(len(msg))}
	}
	if err := ctx.Err(); err != nil {
		return &PeerError{"send", self, to, err}
	}
	return s.links[to].send(ctx, msg)
}

// Recv returns the next message from party from, as the wrapped transport delivers it.
func (s *Shaper) Recv(ctx context.Context, from int) ([]byte, error) {
	return s.inner.Recv(ctx, from)
}

// Flush waits until every queued message has been handed to the wrapped transport, or ctx
// ends.
func (s *Shaper) Flush(ctx context.Context) error {
	if !WaitUntil(ctx.Done(), s.idle) {
		return ctx.Err()
	}
	return nil
}

// idle reports whether no link holds or is handing over a message.
func (s *Shaper) idle() bool {
	for _, k := range s.links {
		if k != nil {
			k.mu.Lock()
			busy := k.inflight > 0
			k.mu.Unlock()
			if busy {
				return false
			}
		}
	}
	return true
}

// Close delivers the messages still queued (with their emulated delays), then closes the
// wrapped transport.
func (s *Shaper) Close() error {
	var err error
	s.once.Do(func() {
		for _, k := range s.links {
			if k != nil {
				k.close()
			}
		}
		err = s.inner.Close()
	})
	return err
}

// shapedLink is one outgoing link: a FIFO of messages with their delivery times, drained by a
// forwarder goroutine started at the first shaped message.
type shapedLink struct {
	s  *Shaper
	to int

	mu       sync.Mutex
	link     Link
	free     time.Time // when the link finishes transmitting what it has accepted
	queue    []pending
	inflight int   // queued or being handed over
	queued   int64 // bytes of the queued messages
	msgs     int64
	bytes    int64
	err      error // the wrapped transport's first failure on this link
	closed   bool
	started  bool
	wake     chan struct{} // signalled when a message is queued or the link closes
	done     chan struct{} // closed when the forwarder exits
}

type pending struct {
	msg []byte
	at  time.Time
}

func (k *shapedLink) send(ctx context.Context, msg []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	self := k.s.inner.Self()
	switch {
	case k.err != nil:
		return &PeerError{"send", self, k.to, k.err}
	case k.closed:
		return &PeerError{"send", self, k.to, ErrClosed}
	}
	k.msgs++
	k.bytes += int64(len(msg))
	if !k.link.Shaped() && k.inflight == 0 {
		// Nothing shaped is pending, so sending directly keeps the order.
		return k.s.inner.Send(ctx, k.to, msg)
	}
	now := time.Now()
	at, free := schedule(k.link, k.free, now, len(msg))
	k.free = free
	k.queue = append(k.queue, pending{msg, at})
	k.queued += int64(len(msg))
	k.inflight++
	if !k.started {
		k.started = true
		k.done = make(chan struct{})
		go k.forward()
	}
	select {
	case k.wake <- struct{}{}:
	default:
	}
	return nil
}

// forward hands queued messages to the wrapped transport at their delivery times, in order.
func (k *shapedLink) forward() {
	defer close(k.done)
	w := newWaiter()
	defer w.close()
	for {
		k.mu.Lock()
		for len(k.queue) == 0 {
			if k.closed {
				k.mu.Unlock()
				return
			}
			k.mu.Unlock()
			<-k.wake
			k.mu.Lock()
		}
		p := k.queue[0]
		k.queue[0] = pending{}
		k.queue = k.queue[1:]
		k.queued -= int64(len(p.msg))
		failed := k.err != nil
		k.mu.Unlock()

		if !failed {
			w.until(p.at)
			if err := k.s.inner.Send(context.Background(), k.to, p.msg); err != nil {
				k.mu.Lock()
				if k.err == nil {
					k.err = err
				}
				k.mu.Unlock()
			}
		}
		k.mu.Lock()
		k.inflight--
		k.mu.Unlock()
	}
}

// close stops accepting messages and waits until the queued ones have been delivered.
func (k *shapedLink) close() {
	k.mu.Lock()
	k.closed = true
	started := k.started
	k.mu.Unlock()
	if !started {
		return
	}
	select {
	case k.wake <- struct{}{}:
	default:
	}
	<-k.done
}
