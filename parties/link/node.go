// Package link is the production transport.Transport: share messages between the parties of MPC
// sessions over gRPC streams with mutual TLS.
//
// # Layout
//
// Every party process runs one Node. The Node serves the Link gRPC service on the party's port and
// holds one gRPC client connection (one HTTP/2 connection over TLS 1.3) to every peer. A session
// is opened at every party with the same SessionID (Node.Open); the returned *Session is the
// session's transport.Transport.
//
// # Multiplexing
//
// Each session has one gRPC stream per directed link: party i sends to party j on a stream that i
// opens on j's Link service, over i's connection to j. Many sessions therefore share a party pair's
// two connections, each with its own HTTP/2 streams, flow control and frame sequence, so a slow or
// broken session does not stall the others. The first frame of a stream (OPEN) names the session,
// the sender, the receiver and the protocol; the receiver checks the sender against the TLS
// certificate it authenticated, waits up to Config.AcceptTimeout for the session to be opened
// locally (parties may open a session in any order) and answers ACCEPT. Only then do messages
// follow, as DATA frames of at most Config.ChunkSize payload bytes, reassembled in order by the
// receiver; a stream that fails before its ACCEPT (a connection that died just before the
// session) is opened again, within Config.OpenTimeout.
//
// # Sending, receiving and failures
//
// Send appends to an unbounded per-peer queue that a writer goroutine drains into the stream, so
// Send never waits for the peer (two parties exchanging large messages cannot deadlock). Received
// messages go to an unbounded per-peer queue that Recv reads, honouring its context. A session is
// all-or-nothing: when any of its streams breaks (the peer died, its connection was cut, keepalive
// timed out, it sent a bad frame or aborted), the session aborts, every pending and later Send and
// Recv fails at once with a *SessionError naming the session and the peer, and the session's
// other streams are reset so the remaining parties abort too. Close delivers what was queued (for
// up to Config.Linger), then ends the session's streams cleanly; a peer then sees its Recv drain
// the messages already received and fail with "closed the session".
//
// Both queues are unbounded by design (the transport contract forbids Send from waiting on the
// peer): memory is bounded by what the protocol sends ahead of what its peers consume. A message
// may be up to transport.MaxMessage (1 GiB); a receiver reserves at most 64 MiB before a large
// message's chunks arrive.
//
// # Wire format
//
// Frames are protobuf messages (proto/linkpb), carried with a gRPC codec of their own (content
// subtype "mpclink") that hands payloads to gRPC without copying them and decodes them with one
// copy fewer than the standard codec; the bytes are still plain protobuf. gRPC messages are
// limited to MaxFrameSize (16 MiB); DATA frames carry at most Config.ChunkSize (default 1 MiB) of
// payload, which on loopback was as fast as 4 MiB one way and faster when both directions are busy.
package link

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/privinfer/mpcache/mpc/transport"
	"github.com/privinfer/mpcache/parties/role"
	"github.com/privinfer/mpcache/proto/linkpb"
)

// Defaults of Config's durations.
const (
	DefaultOpenTimeout   = 10 * time.Second
	DefaultAcceptTimeout = 30 * time.Second
	DefaultLinger        = 10 * time.Second
)

// Peer is how to reach one peer party.
type Peer struct {
	// Addr is the peer's Link address, host:port.
	Addr string
	// TLS dials the peer; it should accept only the certificate pinned for the peer (see
	// pki.PeerConfig). Nil dials without TLS, for tests only.
	TLS *tls.Config
}

// Keepalive tunes how fast a silent peer (a crashed host, a cut cable) is detected. The zero
// value means 10 s between client pings (the gRPC minimum) and 5 s between server pings, each
// waiting 5 s for an answer.
type Keepalive struct {
	ClientTime    time.Duration // idle time before the dialling side pings (at least 10 s)
	ServerTime    time.Duration // idle time before the accepting side pings (at least 1 s)
	Timeout       time.Duration // how long a ping may go unanswered before the connection is closed
	MinClientTime time.Duration // the fastest client pings the server tolerates (default 5 s)
}

func (k Keepalive) withDefaults() Keepalive {
	if k.ClientTime <= 0 {
		k.ClientTime = 10 * time.Second
	}
	if k.ServerTime <= 0 {
		k.ServerTime = 5 * time.Second
	}
	if k.Timeout <= 0 {
		k.Timeout = 5 * time.Second
	}
	if k.MinClientTime <= 0 {
		k.MinClientTime = 5 * time.Second
	}
	return k
}

// Window sizes of HTTP/2 flow control: large enough to keep a WAN link full (40 ms at 1 Gbit/s
// is 5 MB in flight).
const (
	streamWindow = 16 << 20
	connWindow   = 64 << 20
	bufferSize   = 1 << 20
)

// ServerOptions returns the gRPC server options the Link service needs (message size limits,
// flow-control windows and keepalive); add grpc.Creds with the party's TLS configuration. They
// apply to every service on the server: other services must keep their messages under
// MaxFrameSize too (stream large uploads in chunks).
func ServerOptions(k Keepalive) []grpc.ServerOption {
	k = k.withDefaults()
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxFrameSize),
		grpc.MaxSendMsgSize(MaxFrameSize),
		grpc.InitialWindowSize(streamWindow),
		grpc.InitialConnWindowSize(connWindow),
		grpc.ReadBufferSize(bufferSize),
		grpc.WriteBufferSize(bufferSize),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: k.ServerTime, Timeout: k.Timeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: k.MinClientTime, PermitWithoutStream: true}),
	}
}

// Config configures a Node.
type Config struct {
	// Self is this party's number: 0, 1 or 2 (2 is the dealer in 2pc, P2 in 3pc).
	Self int
	// Protocol is the deployment's protocol; a peer announcing another one is refused. It also
	// names the parties in messages.
	Protocol role.Protocol
	// Peers holds every peer party this one exchanges messages with, by party number.
	Peers map[int]Peer
	// PeerParty returns the party number authenticated by the TLS connection of an incoming
	// stream (see pki.Trust), or an error to refuse it. Nil trusts the party named in the stream's
	// first frame, for tests without TLS only.
	PeerParty func(cs *tls.ConnectionState) (int, error)
	// ChunkSize is the payload of one DATA frame (default DefaultChunkSize, at most MaxChunkSize).
	ChunkSize int
	// OpenTimeout bounds connecting to a peer and opening a session's stream (default 10 s).
	OpenTimeout time.Duration
	// AcceptTimeout is how long a stream from a peer waits for its session to be opened here, and
	// how long this party waits for a peer to accept its stream (default 30 s).
	AcceptTimeout time.Duration
	// Linger bounds how long Close waits for queued messages to be delivered (default 10 s).
	Linger time.Duration
	// Keepalive tunes the detection of silent peers.
	Keepalive Keepalive
	// Logger receives the node's logs; nil means slog.Default().
	Logger *slog.Logger
	// DialOptions are added to every peer connection's options.
	DialOptions []grpc.DialOption
}

func (c *Config) validate() error {
	if c.Self < 0 || c.Self >= transport.MaxParties {
		return fmt.Errorf("link: party number %d is not 0, 1 or 2", c.Self)
	}
	if c.Protocol != "" {
		if _, err := role.ParseProtocol(string(c.Protocol)); err != nil {
			return fmt.Errorf("link: %w", err)
		}
	}
	if len(c.Peers) == 0 {
		return errors.New("link: no peers configured")
	}
	for p, peer := range c.Peers {
		if p < 0 || p >= transport.MaxParties || p == c.Self {
			return fmt.Errorf("link: party %d cannot have party %d as a peer", c.Self, p)
		}
		if peer.Addr == "" {
			return fmt.Errorf("link: %s has no address", c.name(p))
		}
	}
	if c.ChunkSize < 0 || c.ChunkSize > MaxChunkSize {
		return fmt.Errorf("link: chunk size %d is not between 1 and %d", c.ChunkSize, MaxChunkSize)
	}
	return nil
}

// name is how messages call party i: "party 1 (p1)".
func (c *Config) name(i int) string {
	if r, err := c.Protocol.Role(i); err == nil {
		return fmt.Sprintf("party %d (%s)", i, r)
	}
	return fmt.Sprintf("party %d", i)
}

// Stats counts a node's traffic since it started.
type Stats struct {
	SessionsOpen    int    // sessions open now
	SessionsOpened  uint64 // sessions ever opened
	SessionsAborted uint64 // sessions that ended by an abort
	StreamsWaiting  int    // peers' streams waiting for their session to be opened here
	// Per peer party: payload bytes and messages sent and received.
	BytesSent, BytesReceived       [transport.MaxParties]uint64
	MessagesSent, MessagesReceived [transport.MaxParties]uint64
}

type counters struct {
	opened, aborted      atomic.Uint64
	bytesSent, bytesRecv [transport.MaxParties]atomic.Uint64
	msgsSent, msgsRecv   [transport.MaxParties]atomic.Uint64
}

// Node is one party's end of the Link service: it accepts peers' streams and opens sessions.
type Node struct {
	linkpb.UnimplementedLinkServer

	cfg     Config
	log     *slog.Logger
	conns   [transport.MaxParties]*grpc.ClientConn
	clients [transport.MaxParties]linkpb.LinkClient
	stats   counters

	mu       sync.Mutex
	sessions map[SessionID]*Session
	closed   map[SessionID]ended // recently ended sessions, so late streams are refused at once
	changed  chan struct{}       // closed and replaced whenever a session is opened
	shut     bool
	pending  int // streams waiting for their session to be opened here
}

// maxPending bounds the streams that may wait for their session to be opened at this party. They
// hold no data: a sender sends nothing before the ACCEPT.
const maxPending = 128

// closedMemory is how long an ended session's id is remembered.
const closedMemory = 10 * time.Minute

// New creates a Node. Peer connections are made lazily and re-made after failures, so peers need
// not be up yet; register the node on a gRPC server (Register) to accept peers' streams.
func New(cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = DefaultChunkSize
	}
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = DefaultOpenTimeout
	}
	if cfg.AcceptTimeout <= 0 {
		cfg.AcceptTimeout = DefaultAcceptTimeout
	}
	if cfg.Linger <= 0 {
		cfg.Linger = DefaultLinger
	}
	cfg.Keepalive = cfg.Keepalive.withDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	n := &Node{
		cfg:      cfg,
		log:      log.With("party", cfg.Self),
		sessions: map[SessionID]*Session{},
		closed:   map[SessionID]ended{},
		changed:  make(chan struct{}),
	}
	for p, peer := range cfg.Peers {
		creds := insecure.NewCredentials()
		if peer.TLS != nil {
			creds = credentials.NewTLS(peer.TLS)
		}
		opts := []grpc.DialOption{
			grpc.WithTransportCredentials(creds),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxFrameSize), grpc.MaxCallSendMsgSize(MaxFrameSize)),
			grpc.WithInitialWindowSize(streamWindow),
			grpc.WithInitialConnWindowSize(connWindow),
			grpc.WithReadBufferSize(bufferSize),
			grpc.WithWriteBufferSize(bufferSize),
			grpc.WithKeepaliveParams(keepalive.ClientParameters{
				Time: cfg.Keepalive.ClientTime, Timeout: cfg.Keepalive.Timeout, PermitWithoutStream: true,
			}),
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
				MinConnectTimeout: cfg.OpenTimeout,
			}),
		}
		opts = append(opts, cfg.DialOptions...)
		cc, err := grpc.NewClient(peer.Addr, opts...)
		if err != nil {
			n.closeConns()
			return nil, fmt.Errorf("link: %s at %s: %w", cfg.name(p), peer.Addr, err)
		}
		n.conns[p] = cc
		n.clients[p] = linkpb.NewLinkClient(cc)
	}
	return n, nil
}

// Register adds the Link service to s. The server should be made with ServerOptions.
func (n *Node) Register(s grpc.ServiceRegistrar) { linkpb.RegisterLinkServer(s, n) }

// Self is this node's party number.
func (n *Node) Self() int { return n.cfg.Self }

// Open starts session id at this party and returns its transport. It does not wait for the
// peers: their streams are set up in the background, and Session.WaitReady waits for them.
// Opening an id that is open, or that ended less than ten minutes ago, is an error.
func (n *Node) Open(id SessionID) (*Session, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.shut {
		return nil, fmt.Errorf("link: session %s: %s is shutting down", id, n.cfg.name(n.cfg.Self))
	}
	if _, ok := n.sessions[id]; ok {
		return nil, fmt.Errorf("link: session %s is already open at %s", id, n.cfg.name(n.cfg.Self))
	}
	now := time.Now()
	for old, e := range n.closed {
		if now.Sub(e.at) > closedMemory {
			delete(n.closed, old)
		}
	}
	if _, ok := n.closed[id]; ok {
		return nil, fmt.Errorf("link: session %s has already run at %s; session ids are single-use", id, n.cfg.name(n.cfg.Self))
	}
	s := newSession(n, id)
	n.sessions[id] = s
	close(n.changed)
	n.changed = make(chan struct{})
	n.stats.opened.Add(1)
	s.start()
	n.log.Debug("link: session opened", "session", id.String())
	return s, nil
}

// ended is what a node remembers of a session that ended.
type ended struct {
	at  time.Time
	why string
}

// forget removes an ended session.
func (n *Node) forget(s *Session, why string, aborted bool) {
	n.mu.Lock()
	if n.sessions[s.id] == s {
		delete(n.sessions, s.id)
		n.closed[s.id] = ended{time.Now(), why}
	}
	n.mu.Unlock()
	if aborted {
		n.stats.aborted.Add(1)
	}
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	var st Stats
	n.mu.Lock()
	st.SessionsOpen = len(n.sessions)
	st.StreamsWaiting = n.pending
	n.mu.Unlock()
	st.SessionsOpened = n.stats.opened.Load()
	st.SessionsAborted = n.stats.aborted.Load()
	for i := range transport.MaxParties {
		st.BytesSent[i] = n.stats.bytesSent[i].Load()
		st.BytesReceived[i] = n.stats.bytesRecv[i].Load()
		st.MessagesSent[i] = n.stats.msgsSent[i].Load()
		st.MessagesReceived[i] = n.stats.msgsRecv[i].Load()
	}
	return st
}

// Close aborts every open session and closes the peer connections. Stop the gRPC server after
// it (its streams then end at once).
func (n *Node) Close() error {
	n.mu.Lock()
	if n.shut {
		n.mu.Unlock()
		return nil
	}
	n.shut = true
	open := make([]*Session, 0, len(n.sessions))
	for _, s := range n.sessions {
		open = append(open, s)
	}
	close(n.changed)
	n.changed = make(chan struct{})
	n.mu.Unlock()
	for _, s := range open {
		s.abort(&SessionError{Session: s.id, Peer: -1, Reason: n.cfg.name(n.cfg.Self) + " is shutting down"})
	}
	for _, s := range open {
		s.wait(n.cfg.Linger)
	}
	n.closeConns()
	return nil
}

func (n *Node) closeConns() {
	for _, cc := range n.conns {
		if cc != nil {
			_ = cc.Close()
		}
	}
}

// Stream serves one peer's directed link of one session (the Link service's only method).
func (n *Node) Stream(srv linkpb.Link_StreamServer) error {
	ctx := srv.Context()
	party := -1
	if n.cfg.PeerParty != nil {
		var cs *tls.ConnectionState
		if p, ok := peer.FromContext(ctx); ok {
			if info, ok := p.AuthInfo.(credentials.TLSInfo); ok {
				cs = &info.State
			}
		}
		var err error
		if party, err = n.cfg.PeerParty(cs); err != nil {
			n.log.Warn("link: refused a stream", "err", err)
			return status.Errorf(codes.PermissionDenied, "%s refuses the stream: %v", n.cfg.name(n.cfg.Self), err)
		}
	}
	first, err := recvTimeout(srv, n.cfg.OpenTimeout)
	if err != nil {
		return err
	}
	o, err := parseOpen(first)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	switch {
	case party >= 0 && o.from != party:
		return status.Errorf(codes.PermissionDenied, "the stream announces party %d but its certificate is %s's", o.from, n.cfg.name(party))
	case o.to != n.cfg.Self:
		return status.Errorf(codes.InvalidArgument, "a stream for party %d reached %s", o.to, n.cfg.name(n.cfg.Self))
	case o.protocol != string(n.cfg.Protocol):
		return status.Errorf(codes.FailedPrecondition, "protocol mismatch: %s runs %q, %s runs %q",
			n.cfg.name(o.from), o.protocol, n.cfg.name(n.cfg.Self), string(n.cfg.Protocol))
	}
	if _, ok := n.cfg.Peers[o.from]; !ok {
		return status.Errorf(codes.PermissionDenied, "%s has no link to party %d", n.cfg.name(n.cfg.Self), o.from)
	}
	s, err := n.waitSession(ctx, o.session)
	if err != nil {
		return err
	}
	return s.serve(srv, o.from)
}

// recvTimeout reads the first frame of a stream, giving up after d.
func recvTimeout(srv linkpb.Link_StreamServer, d time.Duration) (*linkpb.Frame, error) {
	type result struct {
		f   *linkpb.Frame
		err error
	}
	ch := make(chan result, 1)
	go func() {
		f, err := srv.Recv()
		ch <- result{f, err}
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "reading the OPEN frame: %v", r.err)
		}
		return r.f, nil
	case <-t.C:
		// Returning ends the stream, which unblocks the reader.
		return nil, status.Errorf(codes.DeadlineExceeded, "no OPEN frame within %s", d)
	}
}

// waitSession returns the open session id, waiting up to AcceptTimeout for it to be opened.
func (n *Node) waitSession(ctx context.Context, id SessionID) (*Session, error) {
	n.mu.Lock()
	if s := n.sessions[id]; s != nil {
		n.mu.Unlock()
		return s, nil
	}
	if n.pending >= maxPending {
		n.mu.Unlock()
		return nil, status.Errorf(codes.ResourceExhausted, "%s already has %d streams waiting for their sessions", n.cfg.name(n.cfg.Self), maxPending)
	}
	n.pending++
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.pending--
		n.mu.Unlock()
	}()
	t := time.NewTimer(n.cfg.AcceptTimeout)
	defer t.Stop()
	for {
		n.mu.Lock()
		s := n.sessions[id]
		e, over := n.closed[id]
		shut, ch := n.shut, n.changed
		n.mu.Unlock()
		switch {
		case s != nil:
			return s, nil
		case over:
			return nil, status.Errorf(codes.FailedPrecondition, "the session has already ended at %s (%s)", n.cfg.name(n.cfg.Self), e.why)
		case shut:
			return nil, status.Errorf(codes.Unavailable, "%s is shutting down", n.cfg.name(n.cfg.Self))
		}
		select {
		case <-ch:
		case <-t.C:
			return nil, status.Errorf(codes.NotFound, "session %s was not opened at %s within %s", id, n.cfg.name(n.cfg.Self), n.cfg.AcceptTimeout)
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
}
