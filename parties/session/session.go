// Package session runs the client sessions of one party: each session has its own link session
// (its own streams to the peers), its own engine and its own state, and many run at once.
//
// # Life of a session
//
// The client opens the session at every party with the same id and public parameters (Open).
// Each party checks them against its deployment and its model shares, opens the session's link
// to its peers and waits for the client's input share (SubmitInput); the 2pc dealer, which holds
// no share of data, needs none and starts at once. Then the runner
//
//  1. waits until every peer has opened the session (link.Session.WaitReady);
//  2. sends every peer its public parameters and checks theirs (wire.Params), so parties that
//     disagree on the model, protocol, policy or lengths refuse with the difference named;
//  3. sets up the engine (fresh seeds from crypto/rand), builds the cache policy from the
//     registry (package policies) and the secure transformer (infer.NewSession);
//  4. generates: prefill, then for each token its id share is handed to the output stream the
//     moment it exists, while the token's one-hot share stays inside the parties;
//  5. reports its traffic, rounds and time, and drops the session's shares.
//
// The output (tokens, then a summary or the error that ended the session) is kept until the
// client has streamed it, or until Config.OutputRetention has passed. Every wait has a deadline:
// the input within Config.InputTimeout of the open, the peers within Config.ReadyTimeout, every
// engine receive within Config.RecvTimeout; a peer that dies aborts the link session at once,
// which fails the engine's pending receive.
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/privinfer/mpcache/infer"
	"github.com/privinfer/mpcache/model"
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/parties/link"
	"github.com/privinfer/mpcache/parties/metrics"
	"github.com/privinfer/mpcache/parties/policies"
	"github.com/privinfer/mpcache/parties/role"
	"github.com/privinfer/mpcache/parties/store"
	"github.com/privinfer/mpcache/parties/wire"
)

// Errors of Open and the other calls, wrapped with the details; the service maps them to gRPC
// status codes.
var (
	ErrInvalid     = errors.New("invalid request")
	ErrMismatch    = errors.New("mismatch")
	ErrNotFound    = errors.New("not found")
	ErrExists      = errors.New("already exists")
	ErrUnavailable = errors.New("unavailable")
	ErrExhausted   = errors.New("too many sessions")
	ErrState       = errors.New("wrong state")
)

// Defaults of Config.
const (
	DefaultMaxSessions     = 64
	DefaultInputTimeout    = 60 * time.Second
	DefaultReadyTimeout    = 40 * time.Second
	DefaultRecvTimeout     = 2 * time.Minute
	DefaultOutputRetention = time.Minute
	DefaultFinishTimeout   = 10 * time.Minute
)

// Config configures a Manager.
type Config struct {
	Protocol role.Protocol
	Role     role.Role
	Node     *link.Node
	Store    *store.Store
	// Metrics, when set, receives the sessions' counters.
	Metrics *metrics.Sessions
	Logger  *slog.Logger
	// MaxSessions bounds the sessions open at once (default DefaultMaxSessions).
	MaxSessions int
	// InputTimeout bounds the time from a session's open to its complete input share.
	InputTimeout time.Duration
	// ReadyTimeout bounds the wait for the peers to open the session and send their parameters.
	ReadyTimeout time.Duration
	// RecvTimeout bounds every receive of the engine.
	RecvTimeout time.Duration
	// OutputRetention is how long a finished session's output waits for the client.
	OutputRetention time.Duration
	// Comparison is the engine's comparison protocol ("" is the engine's default); every party
	// of a deployment must use the same one (the parameter check enforces it).
	Comparison mpc.Comparison
	// Network is the network the protocols plan for (the zero value: mpc.WANNetwork); every
	// party of a deployment must use the same one (the parameter check enforces it).
	Network mpc.Network
	// FinishTimeout bounds how long the 2pc dealer, which runs ahead of P0 and P1, waits after
	// its last step for them to finish (and so to take all its material) before it closes the
	// session's link (default DefaultFinishTimeout).
	FinishTimeout time.Duration
	// Preprocessing is where the material comes from; role.DealerFree makes every session a
	// two-party one (P0 and P1 only) with material from mpc/twoparty.
	Preprocessing role.Preprocessing
	// DealerFree tunes the dealer-free generator (ignored with a dealer).
	DealerFree DealerFree
}

// DealerFree tunes the dealer-free material of a session (see config.DealerFree).
type DealerFree struct {
	// Precompute produces the session's elementwise material (its budget, computed from the
	// model's shape and the session's lengths) after the engine's set-up, before the prompt,
	// when it fits StoreBytes.
	Precompute bool
	StoreDir   string
	// StoreBytes bounds the precomputed material (0: DefaultStoreBytes).
	StoreBytes int64
}

// DefaultStoreBytes is the default bound of a session's precomputed dealer-free material.
const DefaultStoreBytes = 4 << 30

// Request holds the public parameters of a session, as the client sent them.
type Request struct {
	ID       link.SessionID
	ModelID  string
	Protocol role.Protocol
	// Preprocessing is the client's view of the deployment's material source ("" is the
	// dealer).
	Preprocessing role.Preprocessing
	Policy        string
	PolicyParams  policies.Params
	PromptLen     int
	MaxNewTokens  int
	// Temperature and TopP select top-p sampling (model.NucleusCDF's rule, infer.Sampling):
	// both zero is greedy decoding; otherwise Open requires a finite temperature > 0 and a
	// top-p in (0, 1] (model.CheckNucleus). A sampling session's input carries the client's
	// uniforms after the prompt (see InputShape).
	Temperature float64
	TopP        float64
}

// Sampling reports whether the request asks for top-p sampling rather than greedy decoding.
func (r Request) Sampling() bool { return r.TopP != 0 || r.Temperature != 0 }

// Manager holds a party's sessions.
type Manager struct {
	cfg   Config
	party int
	log   *slog.Logger

	mu       sync.Mutex
	sessions map[link.SessionID]*Session
	draining bool
	changed  chan struct{} // closed and replaced when a session is removed

	ctx  context.Context // ends when the manager closes
	stop context.CancelFunc
}

// NewManager checks cfg and returns an empty manager.
func NewManager(cfg Config) (*Manager, error) {
	party, err := cfg.Protocol.Party(cfg.Role)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	cfg.Preprocessing = cfg.Preprocessing.OrDealer()
	if err := cfg.Preprocessing.Check(cfg.Protocol); err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	if cfg.Preprocessing == role.DealerFree && party == mpc.Dealer {
		return nil, fmt.Errorf("session: a dealer-free 2pc deployment has no dealer")
	}
	if cfg.Preprocessing == role.DealerFree && cfg.Comparison == mpc.CompareFSS {
		return nil, fmt.Errorf("session: dealer-free 2pc compares with the circuit; fss needs a dealer")
	}
	if cfg.DealerFree.StoreBytes <= 0 {
		cfg.DealerFree.StoreBytes = DefaultStoreBytes
	}
	if cfg.Node == nil || cfg.Store == nil {
		return nil, errors.New("session: the manager needs a link node and a share store")
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.InputTimeout <= 0 {
		cfg.InputTimeout = DefaultInputTimeout
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.RecvTimeout <= 0 {
		cfg.RecvTimeout = DefaultRecvTimeout
	}
	if cfg.OutputRetention <= 0 {
		cfg.OutputRetention = DefaultOutputRetention
	}
	if cfg.FinishTimeout <= 0 {
		cfg.FinishTimeout = DefaultFinishTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Manager{cfg: cfg, party: party, log: cfg.Logger, sessions: map[link.SessionID]*Session{}, changed: make(chan struct{}),
		ctx: ctx, stop: stop}, nil
}

// Role is this party's role.
func (m *Manager) Role() role.Role { return m.cfg.Role }

// Protocol is this party's protocol.
func (m *Manager) Protocol() role.Protocol { return m.cfg.Protocol }

// Active is the number of sessions held now.
func (m *Manager) Active() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions)
}

func (m *Manager) refuse(reason string, err error) error {
	if m.cfg.Metrics != nil {
		m.cfg.Metrics.Refused.WithLabelValues(reason).Inc()
	}
	m.log.Warn("session: refused", "reason", reason, "err", err)
	return err
}

// Open checks req against this party and starts the session: its link to the peers opens in the
// background, and it waits for the input share (the 2pc dealer starts computing at once).
func (m *Manager) Open(req Request) (*Session, error) {
	self := m.cfg.Role
	if req.Protocol != m.cfg.Protocol {
		return nil, m.refuse("protocol", fmt.Errorf("%w: protocol mismatch: %s runs %s, the request is for %s", ErrMismatch, self, m.cfg.Protocol, req.Protocol))
	}
	if pre := req.Preprocessing.OrDealer(); pre != m.cfg.Preprocessing {
		return nil, m.refuse("preprocessing", fmt.Errorf("%w: preprocessing mismatch: %s runs %s with %s preprocessing, the client's deployment says %s (every party and the client's deployment file must agree)",
			ErrMismatch, self, m.cfg.Protocol, m.cfg.Preprocessing, pre))
	}
	if err := store.ValidModelID(req.ModelID); err != nil {
		return nil, m.refuse("model", fmt.Errorf("%w: %v", ErrInvalid, err))
	}
	if req.PromptLen < 1 || req.MaxNewTokens < 1 {
		return nil, m.refuse("lengths", fmt.Errorf("%w: prompt length %d and new tokens %d must both be at least 1", ErrInvalid, req.PromptLen, req.MaxNewTokens))
	}
	if _, err := policies.Lookup(req.Policy, req.PolicyParams); err != nil {
		return nil, m.refuse("policy", fmt.Errorf("%w: %v", ErrInvalid, err))
	}
	if req.Sampling() {
		if err := model.CheckNucleus(req.Temperature, req.TopP); err != nil {
			return nil, m.refuse("sampling", fmt.Errorf("%w: %v", ErrInvalid, err))
		}
	}
	m.mu.Lock()
	switch {
	case m.draining:
		m.mu.Unlock()
		return nil, m.refuse("draining", fmt.Errorf("%w: %s is shutting down and takes no new sessions", ErrUnavailable, self))
	case len(m.sessions) >= m.cfg.MaxSessions:
		m.mu.Unlock()
		return nil, m.refuse("capacity", fmt.Errorf("%w: %s already runs %d sessions, its limit", ErrExhausted, self, m.cfg.MaxSessions))
	case m.sessions[req.ID] != nil:
		m.mu.Unlock()
		return nil, m.refuse("duplicate", fmt.Errorf("%w: session %s is already open at %s", ErrExists, req.ID, self))
	}
	// Reserve the slot while the shares load.
	s := &Session{m: m, req: req, opened: time.Now(), done: make(chan struct{}), linkClosed: make(chan struct{}),
		log: m.log.With("session", req.ID.String())}
	m.sessions[req.ID] = s
	m.mu.Unlock()

	shares, err := m.cfg.Store.Load(req.ModelID)
	if err != nil {
		m.remove(s)
		if errors.Is(err, store.ErrUnknownModel) {
			return nil, m.refuse("model", fmt.Errorf("%w: %s: %v", ErrNotFound, self, err))
		}
		return nil, m.refuse("shares", fmt.Errorf("%w: %s cannot use its shares of model %s: %v", ErrState, self, req.ModelID, err))
	}
	cfg := shares.Config
	if total := req.PromptLen + req.MaxNewTokens - 1; total > cfg.MaxSeq {
		m.remove(s)
		return nil, m.refuse("context", fmt.Errorf("%w: a prompt of %d tokens plus %d new tokens needs %d positions, more than the model's context of %d",
			ErrInvalid, req.PromptLen, req.MaxNewTokens, total, cfg.MaxSeq))
	}
	ls, err := m.cfg.Node.Open(req.ID)
	if err != nil {
		m.remove(s)
		return nil, m.refuse("link", fmt.Errorf("%w: %v", ErrExists, err))
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	m.mu.Lock()
	s.shares, s.ls, s.ctx, s.cancel = shares, ls, ctx, cancel
	m.mu.Unlock()
	if m.cfg.Metrics != nil {
		m.cfg.Metrics.Active.Inc()
	}
	attrs := []any{"model", req.ModelID, "protocol", req.Protocol, "policy", policyName(req.Policy),
		"prompt_len", req.PromptLen, "max_new_tokens", req.MaxNewTokens}
	if req.Sampling() {
		attrs = append(attrs, "temperature", req.Temperature, "top_p", req.TopP)
	}
	s.log.Info("session: opened", attrs...)
	s.mu.Lock()
	if s.InputSize() == 0 {
		s.startLocked(nil)
	} else {
		s.inputTimer = time.AfterFunc(m.cfg.InputTimeout, func() {
			s.Cancel(fmt.Errorf("no complete input share within %s of the open", m.cfg.InputTimeout))
		})
	}
	s.mu.Unlock()
	return s, nil
}

func policyName(p string) string {
	if p == "" {
		return policies.Default
	}
	return p
}

// Get returns the open session id.
func (m *Manager) Get(id link.SessionID) (*Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[id]
	if s == nil || s.ls == nil {
		return nil, fmt.Errorf("%w: no session %s at %s (it never opened here, or it ended and its output was delivered or expired)", ErrNotFound, id, m.cfg.Role)
	}
	return s, nil
}

// Cancel aborts session id.
func (m *Manager) Cancel(id link.SessionID, reason string) error {
	s, err := m.Get(id)
	if err != nil {
		return err
	}
	if reason == "" {
		reason = "no reason given"
	}
	s.Cancel(fmt.Errorf("cancelled by the client: %s", reason))
	// The client wants nothing more of it: forget it once it has ended.
	go func() {
		<-s.done
		m.remove(s)
	}()
	return nil
}

func (m *Manager) remove(s *Session) {
	m.mu.Lock()
	if m.sessions[s.req.ID] == s {
		delete(m.sessions, s.req.ID)
		close(m.changed)
		m.changed = make(chan struct{})
	}
	m.mu.Unlock()
}

// Drain stops taking new sessions and waits, until ctx ends, for the running ones to finish
// and for the output being streamed to reach its client. It returns the number of sessions it
// did not wait out.
func (m *Manager) Drain(ctx context.Context) int {
	m.mu.Lock()
	m.draining = true
	m.mu.Unlock()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		m.mu.Lock()
		busy, ch := 0, m.changed
		for _, s := range m.sessions {
			if s.busy() {
				busy++
			}
		}
		m.mu.Unlock()
		if busy == 0 {
			return 0
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-ctx.Done():
			return busy
		}
	}
}

// Close aborts every session.
func (m *Manager) Close() {
	m.stop()
	m.mu.Lock()
	m.draining = true
	all := make([]*Session, 0, len(m.sessions))
	for _, s := range m.sessions {
		if s.ls != nil {
			all = append(all, s)
		}
	}
	m.mu.Unlock()
	for _, s := range all {
		s.Cancel(fmt.Errorf("%s is shutting down", m.cfg.Role))
	}
}

// Token is this party's share of one generated token.
type Token struct {
	Index int
	Share []byte
}

// Summary is what a party reports at the end of a successful session.
type Summary struct {
	Tokens      int
	OnlineSent  int64
	OnlineRecv  int64
	OfflineSent int64
	OfflineRecv int64
	Rounds      int64
	// Seconds is the compute time from the input to the last token; FirstToken up to the first.
	Seconds    float64
	FirstToken float64
}

// Event is one item of a session's output: a token, or the end (Summary or Err).
type Event struct {
	Token   *Token
	Summary *Summary
	Err     error
}

// Final reports whether e ends the output.
func (e Event) Final() bool { return e.Token == nil }

// Session is one client session at this party.
type Session struct {
	m      *Manager
	req    Request
	shares *infer.ModelShares
	ls     *link.Session
	ctx    context.Context
	cancel context.CancelCauseFunc
	opened time.Time
	log    *slog.Logger

	inputTimer *time.Timer

	mu        sync.Mutex
	started   bool
	ended     bool // end has run
	finished  bool // the final event is out
	attached  bool
	delivered bool // the final event went to the client
	events    []Event
	notify    chan struct{} // closed and replaced on every event
	done      chan struct{} // closed when the output is complete
	phase     string

	linkClosed chan struct{} // closed when the session's link is closed
}

// ID is the session's id.
func (s *Session) ID() link.SessionID { return s.req.ID }

// Model is the public configuration of the session's model.
func (s *Session) Model() model.Config { return s.shares.Config }

// Frac is the fixed-point fractional bits of the session's model shares.
func (s *Session) Frac() uint { return s.shares.Frac }

// InputShape is the shape of the input share (see the function InputShape).
func (s *Session) InputShape() []int {
	return InputShape(s.req, s.shares.Config.Vocab)
}

// InputShape is the shape of the client's input for req on a model of vocab tokens: one one-hot
// row of the vocabulary per prompt token and, when req samples, ceil(MaxNewTokens/vocab) rows
// after them that carry the client's uniforms: read row-major from the first of those rows,
// entry j is step j's uniform u_j ∈ [0, 1) in fixed point (an integer in [0, 2^f), f the model
// shares' fractional bits), and the entries after the last step's are zero.
func InputShape(req Request, vocab int) []int {
	rows := req.PromptLen
	if req.Sampling() {
		rows += uniformRows(req.MaxNewTokens, vocab)
	}
	return []int{rows, vocab}
}

// uniformRows is the number of rows of vocab entries that hold n uniforms: ceil(n/vocab).
func uniformRows(n, vocab int) int { return (n + vocab - 1) / vocab }

// InputSize is the number of bytes of this party's input share (0 for the 2pc dealer).
func (s *Session) InputSize() int {
	return wire.ShareSize(mpc.Protocol(s.m.cfg.Protocol), s.m.party, s.InputShape())
}

// busy reports whether the session still computes, or streams its output to a client.
func (s *Session) busy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.finished || s.attached && !s.delivered {
		return true
	}
	select {
	case <-s.linkClosed:
		return false
	default:
		return true // the 2pc dealer waits for the others to take its material
	}
}

// Done is closed when the session's output is complete.
func (s *Session) Done() <-chan struct{} { return s.done }

// SubmitInput hands the session its decoded input share and starts it. It may be called once.
func (s *Session) SubmitInput(share *mpc.Share) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.finished:
		return fmt.Errorf("%w: session %s has already ended", ErrState, s.req.ID)
	case s.started:
		return fmt.Errorf("%w: session %s already has its input", ErrState, s.req.ID)
	case s.InputSize() == 0:
		return fmt.Errorf("%w: %s takes no input share", ErrState, s.m.cfg.Role)
	}
	if s.inputTimer != nil {
		s.inputTimer.Stop()
	}
	s.startLocked(share)
	return nil
}

func (s *Session) startLocked(prompt *mpc.Share) {
	s.started = true
	if prompt == nil {
		prompt = &mpc.Share{Shape: s.InputShape()} // the dealer computes on shapes
	}
	go s.run(prompt)
}

// Attach claims the session's output stream; only one caller may stream it.
func (s *Session) Attach() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.attached {
		return fmt.Errorf("%w: session %s's output is already being streamed", ErrExists, s.req.ID)
	}
	s.attached = true
	return nil
}

// Next returns output event i, waiting until it exists or ctx ends. After the final event the
// session is released.
func (s *Session) Next(ctx context.Context, i int) (Event, error) {
	for {
		s.mu.Lock()
		if s.notify == nil {
			s.notify = make(chan struct{})
		}
		if i < len(s.events) {
			ev := s.events[i]
			if ev.Final() {
				s.delivered = true
			}
			s.mu.Unlock()
			if ev.Final() {
				s.release()
			}
			return ev, nil
		}
		ch := s.notify
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

func (s *Session) emit(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return
	}
	s.events = append(s.events, ev)
	if s.notify != nil {
		close(s.notify)
	}
	s.notify = make(chan struct{})
	if ev.Final() {
		s.finished = true
		close(s.done)
	}
}

// Cancel aborts the session with cause.
func (s *Session) Cancel(cause error) {
	s.cancel(cause)
	s.mu.Lock()
	running := s.started
	s.mu.Unlock()
	if !running {
		// Nothing runs that would notice the cancellation.
		s.end(nil, fmt.Errorf("session %s at %s: %w", s.req.ID, s.m.cfg.Role, cause), "cancelled")
	}
}

func (s *Session) setPhase(p string) {
	s.mu.Lock()
	s.phase = p
	s.mu.Unlock()
}

// end finishes the session once: it records the outcome, releases the link and the shares, and
// arranges for the session to be forgotten once its output is delivered or has expired.
func (s *Session) end(sum *Summary, err error, outcome string) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	timer := s.inputTimer
	s.mu.Unlock()
	if timer != nil {
		timer.Stop()
	}
	s.cancel(errors.New("session ended"))
	if met := s.m.cfg.Metrics; met != nil {
		met.Active.Dec()
		met.Ended.WithLabelValues(outcome).Inc()
		if sum != nil {
			met.OnlineBytes.WithLabelValues("sent").Add(float64(sum.OnlineSent))
			met.OnlineBytes.WithLabelValues("received").Add(float64(sum.OnlineRecv))
			met.OfflineBytes.WithLabelValues("sent").Add(float64(sum.OfflineSent))
			met.OfflineBytes.WithLabelValues("received").Add(float64(sum.OfflineRecv))
			met.Rounds.Add(float64(sum.Rounds))
			met.Duration.Observe(sum.Seconds)
		}
	}
	if err != nil {
		s.log.Warn("session: ended", "outcome", outcome, "err", err)
	} else {
		s.log.Info("session: finished", "tokens", sum.Tokens, "seconds", sum.Seconds, "online_sent", sum.OnlineSent,
			"offline_sent", sum.OfflineSent, "rounds", sum.Rounds)
	}
	s.emit(Event{Summary: sum, Err: err})
	go s.closeLink(err == nil)
	time.AfterFunc(s.m.cfg.OutputRetention, func() { s.m.remove(s) })
}

// release forgets the session once its output went to the client and its link is closed.
func (s *Session) release() {
	s.mu.Lock()
	delivered := s.delivered
	s.mu.Unlock()
	select {
	case <-s.linkClosed:
		if delivered {
			s.m.remove(s)
		}
	default:
	}
}

// closeLink closes the session's link: it delivers what is queued, then ends the streams (peers
// that still wait see that this party closed the session). The 2pc dealer runs ahead of P0 and
// P1, and at its end much of its material may still wait in its queues; after a success it
// first waits for them to close their side, so that closing does not cut material they need.
func (s *Session) closeLink(ok bool) {
	defer s.release()
	defer close(s.linkClosed)
	if ok && s.m.cfg.Protocol == role.TwoPC && s.m.party == mpc.Dealer {
		ctx, cancel := context.WithTimeout(s.m.ctx, s.m.cfg.FinishTimeout)
		for _, p := range []int{0, 1} {
			for {
				// P0 and P1 send the dealer nothing after the set-up: Recv returns once the
				// peer has closed the session (or it failed, or the wait timed out).
				if _, err := s.ls.Recv(ctx, p); err != nil {
					break
				}
			}
		}
		if ctx.Err() != nil {
			s.log.Warn("session: P0 and P1 did not finish in time; closing the session's link", "waited", s.m.cfg.FinishTimeout)
		}
		cancel()
	}
	if err := s.ls.Close(); err != nil {
		s.log.Debug("session: link close", "err", err)
	}
}
