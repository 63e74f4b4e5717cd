package mpc

import (
	"context"
	"fmt"
	"time"

	"github.com/privinfer/mpcache/gpu"
	"github.com/privinfer/mpcache/mpc/fss"
	"github.com/privinfer/mpcache/mpc/prg"
	"github.com/privinfer/mpcache/mpc/transport"
)

// Protocol names a secret-sharing backend.
type Protocol string

const (
	// TwoPC: parties P0 and P1 hold additive shares; party 2 is a dealer that only sends
	// correlated randomness and never sees a share of data.
	TwoPC Protocol = "2pc"
	// ThreePC: parties P0, P1 and P2 hold replicated shares (honest majority, no dealer).
	ThreePC Protocol = "3pc"
)

// Dealer is the party number of the 2pc dealer.
const Dealer = 2

// ParseProtocol accepts "2pc" or "3pc".
func ParseProtocol(s string) (Protocol, error) {
	switch Protocol(s) {
	case TwoPC, ThreePC:
		return Protocol(s), nil
	}
	return "", fmt.Errorf("mpc: unknown protocol %q (want 2pc or 3pc)", s)
}

// Parties is the number of processes the protocol runs on (the 2pc dealer included).
func (p Protocol) Parties() int { return 3 }

// Config sets an engine's parameters. The zero value means the defaults.
type Config struct {
	Frac    uint          // fixed-point fractional bits (default 16; at most 30)
	Timeout time.Duration // deadline of every receive (default 2 minutes)
	// MaterialAhead bounds how far a party that deals material (the 2pc dealer, P2 in 3pc) may
	// run ahead of its receiver: it waits while more than this many bytes sent to the receiver
	// are still undelivered, when the transport can tell (transport.Backlogger). Default 256 MiB;
	// negative means no bound.
	MaterialAhead int64
	// Comparison is how LTZ compares: CompareFSS (function secret sharing) or CompareCircuit
	// (a boolean circuit). Empty means CompareFSS where the material deals DCF keys
	// (DCFMaterial), else CompareCircuit.
	Comparison Comparison
	// Network is the network the protocols plan for (see Network); the zero value means
	// WANNetwork. Every party must set the same.
	Network Network
	// Material, when set, makes a 2pc session dealer-free: the session has only P0 and P1 (the
	// transport has two endpoints, and no party 2 exists), and New calls Material once with the
	// link between them to build the source of correlated randomness (for instance the
	// OT/HE generator of package mpc/twoparty). Nil means the dealer. Not allowed in 3pc.
	Material MaterialSource
}

// MaterialSource builds the Material of a dealer-free 2pc engine. Both parties call it at the
// same point of set-up; it may exchange messages over the link (base OTs, keys).
type MaterialSource func(l Link) (Material, error)

// Link is the channel between P0 and P1 that a two-party material source uses. Every byte is
// charged to the engine's meter as offline traffic, under the label open at the time; Recv
// waits at most the engine's receive timeout.
type Link interface {
	// Party is this endpoint's number, 0 or 1.
	Party() int
	// Send sends msg to the other party; the link owns msg after the call.
	Send(msg []byte) error
	// Recv returns the next message from the other party.
	Recv() ([]byte, error)
}

// peerLink is the Link of a dealer-free 2pc engine.
type peerLink struct{ e *engine }

func (l peerLink) Party() int            { return l.e.party }
func (l peerLink) Send(msg []byte) error { return l.e.send(1-l.e.party, msg, true) }
func (l peerLink) Recv() ([]byte, error) { return l.e.recv(1-l.e.party, true) }

func (c Config) withDefaults() Config {
	if c.Frac == 0 {
		c.Frac = 16
	}
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Minute
	}
	if c.MaterialAhead == 0 {
		c.MaterialAhead = 256 << 20
	}
	if c.Network == (Network{}) {
		c.Network = WANNetwork
	}
	return c
}

// check validates a configuration with its defaults resolved.
func (c Config) check() error {
	if c.Frac > 30 {
		return fmt.Errorf("mpc: %d fractional bits is too many (at most 30)", c.Frac)
	}
	return c.Network.check()
}

// Engine is one party's view of a secure computation over Z_2^64. Every party (and the 2pc
// dealer) runs the same sequence of calls with the same shapes (SPMD, in lockstep); no call
// branches on secret data. All operations work on whole tensors so that independent elements
// share communication rounds.
//
// Costs below are per element and per party: "rounds" are online rounds, bytes are online bytes
// sent, and "offline" bytes are dealer material (2pc) or material P2 deals to P0 and P1 (3pc).
type Engine interface {
	// Protocol is the backend, Party this endpoint's number (0, 1, 2), Frac the fixed-point
	// fractional bits.
	Protocol() Protocol
	Party() int
	Frac() uint
	// IsDealer reports whether this endpoint is the 2pc dealer, which computes on shapes only.
	IsDealer() bool
	// ReusesFixed reports whether element-wise products and comparisons skip the opening of an
	// operand fixed by Fix: true in 2pc with the dealer, which derives the triple (or the DCF
	// key) from the fixed mask; false with a dealer-free Material, which deals only fresh
	// element-wise triples (Fix then helps matrix products alone), and in 3pc, where products
	// open nothing and Fix is a no-op. The same at every party.
	ReusesFixed() bool
	// Pair is the engine's two-party view, for protocols that cost less in 2pc with a dealer
	// than on replicated shares (comparison tournaments: 3pc reshares every comparison bit): in
	// 3pc a 2pc engine in which P0 and P1 compute on additive shares and P2 is their dealer,
	// on the same links, PRG streams and meter (see pair.go for why the trust model is
	// unchanged); in 2pc the engine itself. ToPair and FromPair move shares into and out of it.
	Pair() Engine
	// ToPair returns x as a share of Pair(): local (3pc: P0 holds x_0 + x_1, P1 x_2, P2 nothing,
	// as the dealer does); in 2pc x itself.
	ToPair(x *Share) (*Share, error)
	// MatMulPair is MatMul (no truncation) with the product delivered as a share of Pair(), for
	// a product whose next use runs there: 3pc 1 round, 8 bytes per output element from P2 to
	// P1 (the replicated product reshares 8 bytes per output from each party); 2pc MatMul.
	MatMulPair(x, y *Share) (*Share, error)
	// FromPair returns a share of Pair() as a share of this engine: 3pc 1 round, 8 bytes per
	// element from P0 and from P1, nothing at P2 (it draws its parts from the PRG streams it
	// shares with them); in 2pc x itself.
	FromPair(x *Share) (*Share, error)
	// Meter counts this party's traffic per label.
	Meter() *Meter
	// Context is the engine's context: cancelling it aborts every pending receive.
	Context() context.Context

	// Input secret-shares x, known to party owner; other parties pass nil for x and the shape
	// in shape. 2pc: 0 rounds, 0 bytes. 3pc: 1 round, the owner sends 16 bytes.
	Input(owner int, x *Tensor, shape []int) (*Share, error)
	// Open reveals x to every computing party (the dealer gets zeros). 1 round, 8 bytes.
	Open(x *Share) (*Tensor, error)
	// OpenTo reveals x to party to only; the others get nil. 1 round, 8 bytes from one party.
	OpenTo(to int, x *Share) (*Tensor, error)

	// Add, Sub and Neg are local. Add and Sub broadcast numpy-style.
	Add(x, y *Share) (*Share, error)
	Sub(x, y *Share) (*Share, error)
	Neg(x *Share) (*Share, error)
	// AddPublic adds a public tensor (broadcast to x's shape) to x; local.
	AddPublic(x *Share, t *Tensor) (*Share, error)
	// MulPublic multiplies x element-wise by a public ring tensor (broadcast); local, no
	// truncation: follow with Trunc when t is fixed point.
	MulPublic(x *Share, t *Tensor) (*Share, error)
	// MatMulPublic computes x·t for a public t (k×n) over x's last axis; local, no truncation.
	MatMulPublic(x *Share, t *Tensor) (*Share, error)

	// Mul is the element-wise ring product (broadcast), without truncation. 1 round.
	// 2pc: 16 bytes, offline 8; an operand with a fixed mask (Fix) is not opened again, so 8
	// bytes with one fixed operand and no round with two. 3pc: 8 bytes.
	Mul(x, y *Share) (*Share, error)
	// MulTrunc is Mul followed by truncation by Frac bits, fused where the backend allows.
	// 2 rounds. 2pc: 24 bytes, offline 24. 3pc: 16 bytes, offline 16.
	MulTrunc(x, y *Share) (*Share, error)
	// MulTruncBits is Mul followed by truncation by bits (at most 61; 0 is Mul), for operands
	// whose scales add up to more or less than Frac; fused in 3pc. MulTrunc's costs.
	MulTruncBits(x, y *Share, bits uint) (*Share, error)
	// MatMul is the batched ring matrix product x·y over the last two axes; batch axes
	// broadcast (a rank-2 y applies to every batch of x). 1 round. 2pc: opens both operands
	// (8 bytes per input element) unless one carries a fixed mask; 3pc: 8 bytes per output.
	MatMul(x, y *Share) (*Share, error)
	// MatMulTrunc is MatMul followed by truncation by Frac bits. 2 rounds.
	MatMulTrunc(x, y *Share) (*Share, error)
	// MatMulTruncBits is MatMul followed by truncation by bits (at most 61; 0 is MatMul), fused
	// in 3pc. MatMulTrunc's costs: 2 rounds (P2: 1 in 3pc); 2pc MatMul's bytes plus 8 per output
	// element online and 16 offline; 3pc 16 bytes per output element, offline 16.
	MatMulTruncBits(x, y *Share, bits uint) (*Share, error)
	// MatMulRows is MatMulTruncBits of x and the rows r (transposed: of x and rᵀ, as attention
	// scores q·Kᵀ are), reading r in place: x is [r.Batch(), m, k] with k = r.Len() (transposed:
	// r.Width()), the result [r.Batch(), m, r.Width()] (transposed: [r.Batch(), m, r.Len()]).
	// The rows are fixed, so the costs are MatMulTruncBits's with a fixed right operand: 2pc
	// opens x alone (8 bytes per element of x, 1 round), then truncates (1 round, 8 bytes per
	// output, when bits > 0); 3pc 8 bytes per output and 1 round without truncation, 16 bytes
	// and 2 rounds (P2: 1) with it.
	MatMulRows(x *Share, r *Rows, transposed bool, bits uint) (*Share, error)
	// Trunc divides by 2^bits (arithmetic shift) with an error of at most one unit in the last
	// place, never failing catastrophically, for |x| < 2^62. 2pc: 1 round, 8 bytes, offline 16.
	// 3pc: 2 rounds, 16 bytes, offline 16.
	Trunc(x *Share, bits uint) (*Share, error)
	// Fix prepares each x as a repeated matrix-product operand (a weight, or rows of a KV
	// cache): in 2pc it opens x − M once for a fresh mask M, so later products with x open only
	// the other operand; all operands share one round. 2pc: 1 round, 8 bytes per element,
	// offline 0. 3pc: no-op.
	Fix(xs ...*Share) ([]*Share, error)

	// LTZ returns shares of the bit x < 0 (the sign bit) as ring elements 0/1.
	// By function secret sharing (Config.Comparison CompareFSS, the default where the material
	// deals DCF keys): 2pc 1 round, 8 bytes; 3pc 2 rounds, 16 bytes (P2: 1 round, 16 bytes);
	// offline 1528 bytes to each of P0 and P1 at the full width, 8·(3·bits − 1) over bits
	// (WithCompareBits), and 16 bytes to P1 per 4096 elements.
	// By the boolean circuit (CompareCircuit): 8 rounds; 2pc 184.125 bytes, offline 104;
	// 3pc 168 bytes at P0, 104 at P1 and P2.
	LTZ(x *Share) (*Share, error)
	// LessThan returns shares of the bits [x < t_k] (ring 0/1) for the public thresholds t (ring
	// values, at x's scale), of shape x.Shape + [len(t)]: element i's bits are contiguous, in
	// the order of t. With a public map w (len(t)×c ring matrix), it returns each element's row
	// of bits times w instead, of shape x.Shape + [c] (for instance the segment's coefficients
	// of a piecewise function). Valid where |x − t_k| < 2^63 (see Less).
	//
	// By FSS, one mask, one DCF key and one opened word per element serve all of its
	// thresholds (each key is evaluated at the len(t) points c − t_k), and the map is local:
	// 2pc 1 round, 8 bytes per element, and none of either when x is fixed (Fix: its opened
	// x − M serves as the masked value, with the mask −M); 3pc 2 rounds, 8 + 8·cols bytes at P0
	// and P1 (cols = c, or len(t) without a map; the results are reshared), 16 at P2; offline
	// that of LTZ on x alone (1528 bytes per element to P0 and P1). By the circuit, the LTZ of
	// the x.Len()·len(t) differences x − t_k, then the map. LTZ(x) is LessThan(x, [0]) in
	// shape x.Shape, with the same costs.
	LessThan(x *Share, t []uint64, w *Tensor) (*Share, error)
	// Comparison is the method LTZ and LessThan use, CompareFSS or CompareCircuit (Config.Comparison with
	// its default resolved), the same at every party.
	Comparison() Comparison
	// Network is the network the engine's protocols plan for (Config.Network, its default
	// resolved), the same at every party.
	Network() Network
	// CompareBits is the width of the engine's comparisons: fss.MaxBits (64) unless narrowed
	// by WithCompareBits.
	CompareBits() uint
	// WithCompareBits returns the engine with LTZ and LessThan (and Less, through them) over
	// bits-bit inputs, bits in [fss.MinBits, fss.MaxBits]: they are then exact where
	// |x − t_k| < 2^(bits−1) (ring units) and wrong beyond, for callers that know their
	// inputs' range. By FSS the keys cover only the low bits, so a comparison's material,
	// key generation and evaluation shrink to fss.KeyWords(bits)/fss.KeyWords(64) of the full
	// width's (8·(3·bits − 1) offline bytes per element: 904 at 38 bits, 1144 at 48, against
	// 1528); online costs are unchanged. The circuit compares all 64 bits whatever the width.
	// The engine returned shares everything else with e (links, streams, meter, its two-party
	// view's width), so both may be used in turn; every party must narrow at the same points.
	// It compares exactly: WithComparePrecision(bits, 0).
	WithCompareBits(bits uint) (Engine, error)
	// CompareDrop is the number of low bits of x − t_k the engine's comparisons ignore: 0
	// unless set by WithComparePrecision.
	CompareDrop() uint
	// WithComparePrecision returns the engine with LTZ and LessThan comparing at a resolution
	// of 2^drop ring units, over bits bits above it (bits ≥ fss.MinBits, bits + drop ≤
	// fss.MaxBits): where |x − t_k| < 2^(bits−1+drop) − 2^drop, [x < t_k] is exact unless
	// t_k − x lies strictly between 0 and 2^drop, and there it is 1 with probability
	// (t_k − x)/2^drop over the secret mask (a comparison with a threshold dithered by the
	// mask's low bits, which no party knows). It is for callers whose thresholds or ties need
	// no finer resolution (the cuts of a piecewise function on a coarse grid, greedy
	// decoding's argmax on an untruncated product). By FSS the keys cover only the bits above
	// the dropped ones: of the opened c = x + r − t_k and the mask r each loses its low drop
	// bits, and ⌊c/2^drop⌋ − ⌊r/2^drop⌋ is ⌊(x − t_k)/2^drop⌋ plus the borrow of the low bits
	// (1 exactly when c's low bits are below r's), so the comparison costs what
	// WithCompareBits(bits) costs and needs no truncation round. The circuit compares exactly
	// whatever the precision. A dithered comparison is antisymmetric but not transitive: one
	// element's bits against thresholds at least 2^drop apart stay monotone, but three values
	// within 2^drop of each other may compare in a cycle, so a group's winner or a ranking needs
	// exact comparisons (protocols' tournaments and top-k restore them where they need them).
	WithComparePrecision(bits, drop uint) (Engine, error)
	// Select returns c·a + (1-c)·b for shared bits c (ring 0/1). 1 round (one Mul).
	Select(c, a, b *Share) (*Share, error)
	// OneHot maps each shared small integer idx (a plain ring integer in [0, n), not fixed
	// point) to the shared one-hot row of length n (shape idx.Shape + [n]). The dealer (P2 in
	// 3pc) deals a random rotation r with its one-hot vector over N = 2^ceil(log2 n); the
	// parties open idx − r mod N, which is uniform, and rotate. idx must lie in [0, n): values in
	// [n, N) give a zero row and others wrap modulo N. 2pc: 1 round, 8 bytes, offline 8·N. 3pc: 2 rounds, 8 + 8·n bytes (P0, P1),
	// offline 8·N.
	OneHot(idx *Share, n int) (*Share, error)
}

// New sets up party self's engine of protocol p over t: it exchanges fresh PRG seeds (drawn
// with crypto/rand) with the other parties. ctx bounds the engine's lifetime.
func New(ctx context.Context, p Protocol, t transport.Transport, cfg Config) (Engine, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	self := t.Self()
	if self < 0 || self > 2 {
		return nil, fmt.Errorf("mpc: party %d is not 0, 1 or 2", self)
	}
	e := &engine{proto: p, party: self, cfg: cfg, t: t, meter: NewMeter(), ctx: ctx}
	e.mat = dealerMaterial{e}
	var err error
	switch {
	case p == TwoPC && cfg.Material != nil:
		err = e.setup2pcPair()
	case p == ThreePC && cfg.Material != nil:
		return nil, fmt.Errorf("mpc: a material source applies to 2pc only")
	case p == TwoPC:
		err = e.setup2pc()
	case p == ThreePC:
		err = e.setup3pc()
	default:
		return nil, fmt.Errorf("mpc: unknown protocol %q", p)
	}
	if err != nil {
		return nil, fmt.Errorf("mpc: %s setup of party %d: %w", p, self, err)
	}
	if err := e.checkComparison(); err != nil {
		return nil, err
	}
	e.pair = e
	if p == ThreePC {
		e.pair = newPair(e)
	}
	return e, nil
}

// engine implements Engine for both backends; each communicating primitive switches on the
// protocol, and the 2pc dealer's material generation sits next to the code that consumes it.
type engine struct {
	proto  Protocol
	party  int
	cfg    Config
	t      transport.Transport
	meter  *Meter
	ctx    context.Context
	dealer bool

	// 2pc: peer is the P0–P1 stream (inputs). 3pc: zero-sharing and input streams of k_i, k_{i+1}.
	peer *prg.PRG
	// deal[j] is the stream shared with the party that deals to this one; at a dealer (2pc
	// dealer, or P2 in 3pc) deal[0] and deal[1] are its streams with P0 and P1.
	dealStream [2]*prg.PRG
	// 3pc replicated streams: own = F(k_i), next = F(k_{i+1}), by purpose.
	zero, input, ot [2]*prg.PRG
	// mat supplies correlated randomness to P0 and P1.
	mat Material
	// pair is the two-party view (see pair.go): in 3pc a 2pc engine with P2 as its dealer; in
	// 2pc the engine itself.
	pair *engine
	// bits is the width of FSS comparisons (0: fss.MaxBits) and drop the number of low bits
	// they ignore; see WithComparePrecision.
	bits, drop uint
}

func (e *engine) CompareBits() uint {
	if e.bits == 0 {
		return fss.MaxBits
	}
	return e.bits
}

func (e *engine) CompareDrop() uint { return e.drop }

func (e *engine) WithCompareBits(bits uint) (Engine, error) { return e.WithComparePrecision(bits, 0) }

func (e *engine) WithComparePrecision(bits, drop uint) (Engine, error) {
	if bits < fss.MinBits || bits > fss.MaxBits {
		return nil, fmt.Errorf("mpc: comparison width %d outside [%d, %d]", bits, fss.MinBits, fss.MaxBits)
	}
	if bits+drop > fss.MaxBits {
		return nil, fmt.Errorf("mpc: comparison width %d with %d low bits dropped exceeds %d bits", bits, drop, fss.MaxBits)
	}
	return e.withPrecision(bits, drop), nil
}

// withPrecision returns e with comparisons over bits above drop low bits: a copy that shares
// everything else (links, PRG streams, material, meter), so that it stays in step with e, and
// whose two-party view compares the same way.
func (e *engine) withPrecision(bits, drop uint) *engine {
	if e.CompareBits() == bits && e.drop == drop {
		return e
	}
	ne := *e
	ne.bits, ne.drop = bits, drop
	if e.pair == e {
		ne.pair = &ne
	} else {
		ne.pair = e.pair.withPrecision(bits, drop)
	}
	return &ne
}

func (e *engine) Protocol() Protocol { return e.proto }
func (e *engine) Party() int         { return e.party }
func (e *engine) Frac() uint         { return e.cfg.Frac }
func (e *engine) Network() Network   { return e.cfg.Network }
func (e *engine) IsDealer() bool     { return e.dealer }
func (e *engine) ReusesFixed() bool {
	_, ok := e.mat.(dealerMaterial)
	return e.proto == TwoPC && ok
}
func (e *engine) Meter() *Meter            { return e.meter }
func (e *engine) Context() context.Context { return e.ctx }

// setup2pc: the dealer sends P0 and P1 one seed each for material; P0 sends P1 the input seed.
func (e *engine) setup2pc() error {
	switch e.party {
	case Dealer:
		e.dealer = true
		for j := 0; j < 2; j++ {
			s, err := prg.NewSeed()
			if err != nil {
				return err
			}
			if err := e.send(j, s[:], true); err != nil {
				return err
			}
			e.dealStream[j] = prg.New(s.Derive("deal"))
		}
	case 0, 1:
		b, err := e.recv(Dealer, true)
		if err != nil {
			return err
		}
		ds, err := seedFrom(b)
		if err != nil {
			return fmt.Errorf("dealer seed: %w", err)
		}
		e.dealStream[0] = prg.New(ds.Derive("deal"))
		var ps prg.Seed
		if e.party == 0 {
			if ps, err = prg.NewSeed(); err != nil {
				return err
			}
			if err := e.send(1, ps[:], false); err != nil {
				return err
			}
		} else {
			b, err := e.recv(0, false)
			if err != nil {
				return err
			}
			if ps, err = seedFrom(b); err != nil {
				return fmt.Errorf("P0's seed: %w", err)
			}
		}
		e.peer = prg.New(ps.Derive("input"))
	}
	return nil
}

// setup2pcPair is the dealer-free 2pc set-up: P0 sends P1 the input seed, then both build the
// material source over their link.
func (e *engine) setup2pcPair() error {
	if e.party != 0 && e.party != 1 {
		return fmt.Errorf("dealer-free 2pc has no party %d", e.party)
	}
	var ps prg.Seed
	var err error
	if e.party == 0 {
		if ps, err = prg.NewSeed(); err != nil {
			return err
		}
		if err := e.send(1, ps[:], false); err != nil {
			return err
		}
	} else {
		b, err := e.recv(0, false)
		if err != nil {
			return err
		}
		if ps, err = seedFrom(b); err != nil {
			return fmt.Errorf("P0's seed: %w", err)
		}
	}
	e.peer = prg.New(ps.Derive("input"))
	if e.mat, err = e.cfg.Material(peerLink{e}); err != nil {
		return fmt.Errorf("material source: %w", err)
	}
	if e.mat == nil {
		return fmt.Errorf("material source returned nothing")
	}
	return nil
}

// setup3pc: party i draws k_i and sends it to party i-1, so party i holds k_i and k_{i+1}.
func (e *engine) setup3pc() error {
	own, err := prg.NewSeed()
	if err != nil {
		return err
	}
	prev, next := (e.party+2)%3, (e.party+1)%3
	if err := e.send(prev, own[:], false); err != nil {
		return err
	}
	b, err := e.recv(next, false)
	if err != nil {
		return err
	}
	nxt, err := seedFrom(b)
	if err != nil {
		return fmt.Errorf("seed of party %d: %w", next, err)
	}
	keys := [2]prg.Seed{own, nxt}
	for j, k := range keys {
		e.zero[j] = prg.New(k.Derive("zero"))
		e.input[j] = prg.New(k.Derive("input"))
		e.ot[j] = prg.New(k.Derive("ot"))
	}
	// P2 deals to P0 (shared key k_0, P2's next) and P1 (shared key k_2, P2's own).
	switch e.party {
	case 0:
		e.dealStream[0] = prg.New(own.Derive("deal"))
	case 1:
		e.dealStream[0] = prg.New(nxt.Derive("deal"))
	case 2:
		e.dealer = false
		e.dealStream[0] = prg.New(nxt.Derive("deal"))
		e.dealStream[1] = prg.New(own.Derive("deal"))
	}
	return nil
}

func seedFrom(b []byte) (prg.Seed, error) {
	var s prg.Seed
	if len(b) != len(s) {
		return s, fmt.Errorf("got %d bytes, want %d", len(b), len(s))
	}
	copy(s[:], b)
	return s, nil
}

// send transmits msg to party to, charging it online or offline. It fails instead if a local
// product could not run on the GPU that MPCACHE_GPU=cuda demands (gpu.Fault), so that every
// party, the dealer included, stops at its next message.
func (e *engine) send(to int, msg []byte, offline bool) error {
	if err := gpu.Fault(); err != nil {
		return err
	}
	n := int64(len(msg))
	if err := e.t.Send(e.ctx, to, msg); err != nil {
		return err
	}
	e.meter.count(func(s *Stat) {
		if offline {
			s.OfflineSent += n
		} else {
			s.OnlineSent += n
		}
	})
	return nil
}

// recv waits (up to the configured timeout) for the next message from party from.
func (e *engine) recv(from int, offline bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.Timeout)
	defer cancel()
	b, err := e.t.Recv(ctx, from)
	if err != nil {
		return nil, err
	}
	n := int64(len(b))
	e.meter.count(func(s *Stat) {
		if offline {
			s.OfflineRecv += n
		} else {
			s.OnlineRecv += n
		}
	})
	return b, nil
}

// msg is one outgoing message of a round.
type msg struct {
	to   int
	data []byte
}

// round sends every message, then receives one message from each party in from, checking its
// length against want (bytes). It counts one round.
func (e *engine) round(op string, out []msg, from []int, want []int) ([][]byte, error) {
	for _, m := range out {
		if err := e.send(m.to, m.data, false); err != nil {
			return nil, fmt.Errorf("mpc: %s: %w", op, err)
		}
	}
	in := make([][]byte, len(from))
	for i, p := range from {
		b, err := e.recv(p, false)
		if err != nil {
			return nil, fmt.Errorf("mpc: %s: %w", op, err)
		}
		if len(b) != want[i] {
			return nil, fmt.Errorf("mpc: %s: party %d sent %d bytes, want %d", op, p, len(b), want[i])
		}
		in[i] = b
	}
	if len(out) > 0 || len(from) > 0 {
		e.meter.count(func(s *Stat) { s.Rounds++ })
	}
	return in, nil
}

// recvMaterial receives dealt material of n ring elements from party from.
func (e *engine) recvMaterial(op string, from, n int) ([]uint64, error) {
	b, err := e.recv(from, true)
	if err != nil {
		return nil, fmt.Errorf("mpc: %s material: %w", op, err)
	}
	if len(b) != 8*n {
		return nil, fmt.Errorf("mpc: %s material: party %d sent %d bytes, want %d", op, from, len(b), 8*n)
	}
	return bytesToU64s(b), nil
}

// sendMaterial sends dealt material to party to, charged as offline traffic.
func (e *engine) sendMaterial(op string, to int, xs ...[]uint64) error {
	if err := e.pace(to); err != nil {
		return fmt.Errorf("mpc: %s material: %w", op, err)
	}
	if err := e.send(to, u64sToBytes(xs...), true); err != nil {
		return fmt.Errorf("mpc: %s material: %w", op, err)
	}
	return nil
}

// pace waits while more than Config.MaterialAhead bytes sent to party to are undelivered, so a
// dealer that never waits for anything keeps a bounded lead (and bounded memory) instead of
// queueing a whole session's material. It waits at most the receive timeout.
func (e *engine) pace(to int) error {
	b, ok := e.t.(transport.Backlogger)
	if !ok || e.cfg.MaterialAhead < 0 || b.Backlog(to) <= e.cfg.MaterialAhead {
		return nil
	}
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.Timeout)
	defer cancel()
	if !transport.WaitUntil(ctx.Done(), func() bool { return b.Backlog(to) <= e.cfg.MaterialAhead }) {
		return fmt.Errorf("party %d has not taken material for %v: %w", to, e.cfg.Timeout, ctx.Err())
	}
	return nil
}
