package link

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/privinfer/mpcache/mpc/transport"
	"github.com/privinfer/mpcache/proto/linkpb"
)

// MaxLabel is the longest message label, in bytes.
const MaxLabel = 256

// SessionError says why a session's link failed or ended. It matches transport.ErrClosed with
// errors.Is.
type SessionError struct {
	Session SessionID
	Peer    int    // the peer party at the origin of the failure, or -1
	Reason  string // what happened, naming the peer, e.g. "party 1 (p1) at 10.0.0.2:7000 went away"
	Err     error  // the underlying error, if any
}

// Error names the session and says what happened.
func (e *SessionError) Error() string {
	return fmt.Sprintf("link: session %s: %s", e.Session, e.brief())
}

// brief is the error without the session id.
func (e *SessionError) brief() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

// Unwrap returns the underlying error.
func (e *SessionError) Unwrap() error { return e.Err }

// Is reports that every SessionError means the link is closed.
func (e *SessionError) Is(target error) bool { return target == transport.ErrClosed }

type outMsg struct {
	label string
	data  []byte
}

type inMsg struct {
	label string
	data  []byte
}

// peerLink is a session's pair of directed links with one peer.
type peerLink struct {
	party    int
	name     string // "party 1 (p1) at host:port"
	client   linkpb.LinkClient
	out      *queue[outMsg]
	in       *queue[inMsg]
	accepted chan struct{} // closed when the peer accepted our stream
	acceptMu sync.Once
	finished chan struct{} // closed when the writer has stopped (queue delivered, or nothing more can be)
	attached atomic.Bool   // the peer's stream to us has arrived

	bytesSent, bytesRecv, msgsSent, msgsRecv atomic.Uint64
	// queued is the number of bytes handed to Send and not yet written to the stream.
	queued atomic.Int64
	// unread is the number of bytes received from the peer and not yet taken by Recv; the
	// reader pauses while it exceeds transport.InboundLimit, so gRPC's flow control holds a
	// peer that runs ahead (the 2pc dealer) instead of this process's memory.
	unread atomic.Int64
}

func (p *peerLink) markAccepted() { p.acceptMu.Do(func() { close(p.accepted) }) }

// Session is one party's transport.Transport for one session. It is safe for concurrent use;
// messages on each directed link keep their order.
type Session struct {
	node   *Node
	id     SessionID
	self   int
	ctx    context.Context // ends when the session ends; bounds every stream
	cancel context.CancelFunc
	peers  [transport.MaxParties]*peerLink
	wg     sync.WaitGroup // writer and watcher goroutines

	mu      sync.Mutex
	closing bool
	err     *SessionError // why the session ended; nil while it runs
	aborted bool
	done    chan struct{} // closed when the session ends
}

// abortGrace is how long an aborted session keeps its outbound streams before resetting them.
const abortGrace = 200 * time.Millisecond

// errDrained ends an outbound queue on Close: the writer delivers what is queued and stops.
var errDrained = errors.New("link: session is closing")

func newSession(n *Node, id SessionID) *Session {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Session{node: n, id: id, self: n.cfg.Self, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	for p, peer := range n.cfg.Peers {
		s.peers[p] = &peerLink{
			party:    p,
			name:     fmt.Sprintf("%s at %s", n.cfg.name(p), peer.Addr),
			client:   n.clients[p],
			out:      newQueue[outMsg](),
			in:       newQueue[inMsg](),
			accepted: make(chan struct{}),
			finished: make(chan struct{}),
		}
	}
	return s
}

func (s *Session) start() {
	for _, p := range s.peers {
		if p != nil {
			s.wg.Add(1)
			go s.runOutbound(p)
		}
	}
}

// ID is the session's id.
func (s *Session) ID() SessionID { return s.id }

// Self is this party's number.
func (s *Session) Self() int { return s.self }

// Done is closed when the session has ended (closed or aborted).
func (s *Session) Done() <-chan struct{} { return s.done }

// Err is why the session ended, or nil while it runs.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		return nil
	}
	return s.err
}

func (s *Session) peer(op string, p int) (*peerLink, error) {
	if p < 0 || p >= transport.MaxParties || p == s.self || s.peers[p] == nil {
		return nil, &transport.PeerError{Op: op, Self: s.self, Peer: p,
			Err: fmt.Errorf("link: session %s: party %d has no link to party %d", s.id, s.self, p)}
	}
	return s.peers[p], nil
}

// Send queues msg for party to and returns without waiting for it to be delivered.
func (s *Session) Send(ctx context.Context, to int, msg []byte) error {
	return s.SendLabeled(ctx, to, "", msg)
}

// SendLabeled is Send with a label that travels with the message (for logs and debugging).
func (s *Session) SendLabeled(ctx context.Context, to int, label string, msg []byte) error {
	p, err := s.peer("send", to)
	if err != nil {
		return err
	}
	fail := func(err error) error { return &transport.PeerError{Op: "send", Self: s.self, Peer: to, Err: err} }
	switch {
	case len(msg) > transport.MaxMessage:
		return fail(fmt.Errorf("link: session %s: message of %d bytes exceeds the %d-byte limit", s.id, len(msg), transport.MaxMessage))
	case len(label) > MaxLabel:
		return fail(fmt.Errorf("link: session %s: label of %d bytes exceeds %d", s.id, len(label), MaxLabel))
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	p.queued.Add(int64(len(msg)))
	if err := p.out.push(outMsg{label, msg}); err != nil {
		p.queued.Add(-int64(len(msg)))
		if errors.Is(err, errDrained) {
			err = &SessionError{Session: s.id, Peer: -1, Reason: "Send after Close"}
		}
		return fail(err)
	}
	return nil
}

// Backlog is the number of bytes queued for party to and not yet written to its stream
// (transport.Backlogger): gRPC flow control holds them back while the peer is behind.
func (s *Session) Backlog(to int) int64 {
	if to < 0 || to >= transport.MaxParties || to == s.self || s.peers[to] == nil {
		return 0
	}
	return s.peers[to].queued.Load()
}

// Recv returns the next message from party from, waiting until one arrives, the session fails or
// ctx ends.
func (s *Session) Recv(ctx context.Context, from int) ([]byte, error) {
	_, m, err := s.RecvLabeled(ctx, from)
	return m, err
}

// RecvLabeled is Recv that also returns the message's label.
func (s *Session) RecvLabeled(ctx context.Context, from int) (label string, msg []byte, err error) {
	p, err := s.peer("recv", from)
	if err != nil {
		return "", nil, err
	}
	m, err := p.in.pop(ctx)
	if err == nil {
		p.unread.Add(-int64(len(m.data)))
	}
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, transport.ErrClosed) {
			err = fmt.Errorf("link: session %s: waiting for a message from %s: %w", s.id, p.name, err)
		}
		return "", nil, &transport.PeerError{Op: "recv", Self: s.self, Peer: from, Err: err}
	}
	return m.label, m.data, nil
}

// WaitReady waits until every peer has accepted this party's stream, that is until the session
// is open at every party, or until the session fails or ctx ends.
func (s *Session) WaitReady(ctx context.Context) error {
	for _, p := range s.peers {
		if p == nil {
			continue
		}
		select {
		case <-p.accepted:
		case <-s.done:
			return s.Err()
		case <-ctx.Done():
			return fmt.Errorf("link: session %s: %s has not accepted the session: %w", s.id, p.name, ctx.Err())
		}
	}
	return nil
}

// Close delivers the messages already sent (for up to Config.Linger), ends the session's streams
// and releases it. Pending and later calls fail with an error matching transport.ErrClosed. Close
// returns an error when queued messages could not all be delivered.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closing || s.err != nil {
		s.mu.Unlock()
		s.wait(s.node.cfg.Linger)
		return nil
	}
	s.closing = true
	s.mu.Unlock()
	for _, p := range s.peers {
		if p != nil {
			p.out.close(errDrained)
		}
	}
	var err error
	timer := time.NewTimer(s.node.cfg.Linger)
	defer timer.Stop()
	for _, p := range s.peers {
		if p == nil {
			continue
		}
		select {
		case <-p.finished:
		case <-s.done:
		case <-timer.C:
			err = &SessionError{Session: s.id, Peer: p.party,
				Reason: fmt.Sprintf("closed before %s received every message (waited %s)", p.name, s.node.cfg.Linger)}
		}
		if err != nil {
			break
		}
	}
	s.end(&SessionError{Session: s.id, Peer: -1, Reason: "closed by " + s.node.cfg.name(s.self)}, false)
	s.wait(s.node.cfg.Linger)
	if err == nil {
		if e := s.Err(); e != nil && s.wasAborted() {
			err = e
		}
	}
	return err
}

func (s *Session) wasAborted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.aborted
}

// abort ends the session because of a failure.
func (s *Session) abort(e *SessionError) { s.end(e, true) }

// end ends the session once: it records why, fails every queue, resets the streams and
// unregisters the session.
func (s *Session) end(e *SessionError, aborted bool) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err, s.aborted = e, aborted
	close(s.done)
	s.mu.Unlock()
	for _, p := range s.peers {
		if p != nil {
			p.out.abort(e)
			p.in.abort(e)
		}
	}
	if aborted {
		// The peers' streams to us now end with an Aborted status that carries the reason. Reset
		// our streams to them a moment later, so that they learn the reason first rather than
		// only that a stream was reset.
		time.AfterFunc(abortGrace, s.cancel)
	} else {
		s.cancel()
	}
	s.node.forget(s, e.brief(), aborted)
	if aborted {
		s.node.log.Warn("link: session aborted", "session", s.id.String(), "err", e.Error())
	} else {
		s.node.log.Debug("link: session closed", "session", s.id.String())
	}
}

// wait waits up to d for the session's goroutines to end.
func (s *Session) wait(d time.Duration) {
	ch := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(ch)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
		s.node.log.Warn("link: session goroutines still running after close", "session", s.id.String())
	}
}

// SessionStats counts one session's traffic.
type SessionStats struct {
	// Per peer party: payload bytes and messages delivered to the stream and received.
	BytesSent, BytesReceived       [transport.MaxParties]uint64
	MessagesSent, MessagesReceived [transport.MaxParties]uint64
}

// Stats returns the session's counters.
func (s *Session) Stats() SessionStats {
	var st SessionStats
	for i, p := range s.peers {
		if p != nil {
			st.BytesSent[i], st.BytesReceived[i] = p.bytesSent.Load(), p.bytesRecv.Load()
			st.MessagesSent[i], st.MessagesReceived[i] = p.msgsSent.Load(), p.msgsRecv.Load()
		}
	}
	return st
}

// describe turns a stream error into a SessionError naming the peer.
func (s *Session) describe(p *peerLink, err error, inbound bool) *SessionError {
	e := &SessionError{Session: s.id, Peer: p.party, Err: err}
	st, ok := status.FromError(err)
	switch {
	case ok && st.Code() == codes.Aborted:
		e.Reason, e.Err = p.name+" aborted the session", errors.New(st.Message())
	case ok && (st.Code() == codes.NotFound || st.Code() == codes.FailedPrecondition ||
		st.Code() == codes.PermissionDenied || st.Code() == codes.InvalidArgument || st.Code() == codes.AlreadyExists):
		e.Reason, e.Err = p.name+" refused the stream", errors.New(st.Message())
	case inbound && ok && st.Code() == codes.Canceled:
		e.Reason, e.Err = "the stream from "+p.name+" was reset (the party went away or aborted the session)", nil
	default:
		e.Reason = p.name + " went away"
	}
	return e
}

// openStream opens the directed link to p, retrying while the connection comes up. It reports
// whether it gave up because of the deadline.
func (s *Session) openStream(p *peerLink, deadline time.Time) (st linkpb.Link_StreamClient, timedOut bool, err error) {
	delay := 50 * time.Millisecond
	for {
		st, err := p.client.Stream(s.ctx, grpc.CallContentSubtype(codecName))
		if err == nil {
			return st, false, nil
		}
		if handshakeFailed(err) {
			return nil, false, err
		}
		left := time.Until(deadline)
		if s.ctx.Err() != nil || left <= 0 {
			return nil, left <= 0, err
		}
		t := time.NewTimer(min(delay, left))
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return nil, false, err
		}
		delay = min(2*delay, time.Second)
	}
}

// handshakeFailed reports whether err is a TLS refusal, by either side, which retrying will not
// cure. gRPC reports these only as text within an Unavailable status.
func handshakeFailed(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "authentication handshake failed") || strings.Contains(msg, "remote error: tls:")
}

// runOutbound opens the stream to p, waits for the peer to accept it, and then writes p's queued
// messages to it.
func (s *Session) runOutbound(p *peerLink) {
	defer s.wg.Done()
	defer close(p.finished)
	st, watched, ok := s.connect(p)
	if !ok {
		return
	}
	// waitWatch returns how the peer ended the stream, bounded so a wedged peer cannot hold us.
	waitWatch := func() (error, bool) {
		t := time.NewTimer(s.node.cfg.Linger)
		defer t.Stop()
		select {
		case err := <-watched:
			return err, true
		case <-s.ctx.Done():
			return s.ctx.Err(), false
		case <-t.C:
			return nil, false
		}
	}
	var seq uint64
	chunk := s.node.cfg.ChunkSize
	for {
		m, err := p.out.pop(s.ctx)
		if err != nil {
			if errors.Is(err, errDrained) {
				// Close: everything queued went out; end our side and wait for the peer to end its.
				if err := st.CloseSend(); err == nil {
					waitWatch()
				}
			}
			return
		}
		err = chunks(s.id, s.self, seq, m.label, m.data, chunk, st.Send)
		p.queued.Add(-int64(len(m.data)))
		if err != nil {
			// Send reports only that the stream is gone; the watcher knows why.
			werr, ok := waitWatch()
			switch {
			case ok && werr == nil:
				s.abort(&SessionError{Session: s.id, Peer: p.party, Reason: p.name + " closed the session before receiving every message"})
			case !ok:
				s.abort(s.describe(p, err, false))
			}
			return
		}
		seq++
		n := uint64(len(m.data))
		s.node.stats.bytesSent[p.party].Add(n)
		s.node.stats.msgsSent[p.party].Add(1)
		p.bytesSent.Add(n)
		p.msgsSent.Add(1)
	}
}

// connect opens the stream to p and waits until the peer accepts it. No data is sent before the
// ACCEPT, so a stream that fails before it (a connection that died just before the session
// started, say) is simply opened again, until Config.OpenTimeout. On failure it aborts the
// session and returns false.
func (s *Session) connect(p *peerLink) (linkpb.Link_StreamClient, <-chan error, bool) {
	cfg := &s.node.cfg
	deadline := time.Now().Add(cfg.OpenTimeout)
	acceptBy := time.NewTimer(cfg.AcceptTimeout + cfg.OpenTimeout)
	defer acceptBy.Stop()
	open := &linkpb.Frame{Kind: linkpb.Kind_KIND_OPEN, Session: s.id[:], From: uint32(s.self), To: uint32(p.party),
		Protocol: string(cfg.Protocol)}
	for {
		st, timedOut, err := s.openStream(p, deadline)
		if err != nil {
			if s.ctx.Err() == nil {
				reason := "could not open a stream to " + p.name
				if timedOut {
					reason += fmt.Sprintf(" within %s", cfg.OpenTimeout)
				}
				s.abort(&SessionError{Session: s.id, Peer: p.party, Err: err, Reason: reason})
			}
			return nil, nil, false
		}
		watched := make(chan error, 1)
		s.wg.Add(1)
		go s.watch(p, st, watched)
		_ = st.Send(open) // a failure shows on the watcher
		select {
		case <-p.accepted:
			return st, watched, true
		case err := <-watched:
			if status.Code(err) == codes.Unavailable && !handshakeFailed(err) && time.Now().Before(deadline) {
				s.node.log.Debug("link: stream failed before the peer accepted it; opening another",
					"session", s.id.String(), "peer", p.party, "err", err)
				continue
			}
			if s.ctx.Err() == nil {
				if err == nil {
					err = errors.New("the peer ended the stream before accepting it")
				}
				s.abort(s.describe(p, err, false))
			}
			return nil, nil, false
		case <-acceptBy.C:
			s.abort(&SessionError{Session: s.id, Peer: p.party,
				Reason: fmt.Sprintf("%s did not accept the session within %s", p.name, cfg.AcceptTimeout+cfg.OpenTimeout)})
			return nil, nil, false
		case <-s.ctx.Done():
			return nil, nil, false
		}
	}
}

// watch reads the peer's answers on our stream to p: the ACCEPT frame, then the end of the call.
// It sends nil on result when the peer ended the call cleanly, else the error. Failures after the
// ACCEPT abort the session; those before it are left to connect.
func (s *Session) watch(p *peerLink, st linkpb.Link_StreamClient, result chan<- error) {
	defer s.wg.Done()
	accepted := false
	for {
		f, err := st.Recv()
		if err == io.EOF && accepted {
			// The peer closed the session: nothing more can be delivered to it.
			p.out.abort(&SessionError{Session: s.id, Peer: p.party, Reason: p.name + " closed the session"})
			result <- nil
			return
		}
		if err != nil {
			if accepted && s.ctx.Err() == nil {
				s.abort(s.describe(p, err, false))
			}
			if err == io.EOF {
				err = nil
			}
			result <- err
			return
		}
		if f.Kind != linkpb.Kind_KIND_ACCEPT || string(f.Session) != string(s.id[:]) || accepted {
			e := &SessionError{Session: s.id, Peer: p.party, Reason: p.name + " answered with a bad frame",
				Err: frameErr("%v frame for session %x", f.Kind, f.Session)}
			s.abort(e)
			result <- e
			return
		}
		accepted = true
		p.markAccepted()
	}
}

// serve runs the directed link from party `from` to this party on srv, until the peer ends it or
// the session ends.
func (s *Session) serve(srv linkpb.Link_StreamServer, from int) error {
	p := s.peers[from]
	if !p.attached.CompareAndSwap(false, true) {
		return status.Errorf(codes.AlreadyExists, "session %s already has a stream from %s", s.id, s.node.cfg.name(from))
	}
	if err := srv.Send(&linkpb.Frame{Kind: linkpb.Kind_KIND_ACCEPT, Session: s.id[:], From: uint32(s.self), To: uint32(from)}); err != nil {
		s.abort(s.describe(p, err, true))
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- s.readLoop(srv, p) }()
	select {
	case err := <-errc:
		return err
	case <-s.done:
		if s.wasAborted() {
			s.mu.Lock()
			why := s.err.brief()
			s.mu.Unlock()
			return status.Error(codes.Aborted, why)
		}
		return nil
	}
}

func (s *Session) readLoop(srv linkpb.Link_StreamServer, p *peerLink) error {
	asm := newAssembler(s.id, p.party)
	for {
		if !transport.WaitUntil(s.done, func() bool { return p.unread.Load() <= transport.InboundLimit }) {
			return nil
		}
		f, err := srv.Recv()
		if err == io.EOF {
			p.in.close(&SessionError{Session: s.id, Peer: p.party, Reason: p.name + " closed the session"})
			return nil
		}
		if err != nil {
			if s.ctx.Err() == nil {
				s.abort(s.describe(p, err, true))
			}
			return err
		}
		msg, label, done, err := asm.add(f)
		if err != nil {
			e := &SessionError{Session: s.id, Peer: p.party, Reason: p.name + " sent a bad frame", Err: err}
			s.abort(e)
			return status.Error(codes.InvalidArgument, e.Error())
		}
		if done {
			s.node.stats.bytesRecv[p.party].Add(uint64(len(msg)))
			s.node.stats.msgsRecv[p.party].Add(1)
			p.bytesRecv.Add(uint64(len(msg)))
			p.msgsRecv.Add(1)
			p.unread.Add(int64(len(msg)))
			if p.in.push(inMsg{label, msg}) != nil {
				return nil // the session ended
			}
		}
	}
}
