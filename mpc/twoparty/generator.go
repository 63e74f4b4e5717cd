package twoparty

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/he"
	"github.com/privinfer/mpcache/mpc/ot"
	"github.com/privinfer/mpcache/mpc/prg"
)

// Options configures the generator. Both parties must use the same options (New checks; only
// StoreDir, a local path, may differ).
type Options struct {
	// OTK is the SoftSpoken parameter k ∈ {1, 2, 4, 8} (default 4): the OT receiver sends
	// 128/k − 1 bits per OT and each party expands 2^k·128/k stream bits per OT. k = 1 is IKNP.
	OTK int
	// ChunkOTs bounds the OTs of one extension batch per direction (default 2^18); larger
	// requests are cut into batches of this size (one pair of message flows each).
	ChunkOTs int
	// HE sets the RLWE parameters of matrix triples (package he).
	HE he.Options
	// CacheBytes bounds the memory holding the peer's encryptions of fixed masks (default
	// 2 GiB); least recently used encryptions are dropped and re-sent when needed again.
	CacheBytes int64
	// StoreDir, when set, keeps precomputed material (Precompute) in files there, sealed with
	// AES-256-GCM under a key that never leaves this process; else it is kept in memory.
	StoreDir string
	// StoreBytes bounds the precomputed material held at once (0: no bound).
	StoreBytes int64
}

func (o Options) withDefaults() Options {
	if o.OTK == 0 {
		o.OTK = 4
	}
	if o.ChunkOTs == 0 {
		o.ChunkOTs = 1 << 18
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = 2 << 30
	}
	return o
}

// digest identifies the options that both parties must share.
func (o Options) digest() []byte {
	h := sha256.New()
	fmt.Fprintf(h, "mpcache/twoparty v1 k=%d chunk=%d he=%d/%d/%d cache=%d store=%d", o.OTK, o.ChunkOTs, o.HE.LogN, o.HE.StatSec, o.HE.RevealLog, o.CacheBytes, o.StoreBytes)
	return h.Sum(nil)
}

// maxPiece is the largest single message; longer payloads travel in pieces of this size.
const maxPiece = 32 << 20

// Generator is the two-party source of correlated randomness: P0 and P1 each run one, over the
// link between them, and call its methods in the same order with the same sizes (as the
// engine does). It implements mpc.Material. Not safe for concurrent use.
type Generator struct {
	l     mpc.Link
	party int
	o     Options
	snd   *ot.Sender
	rcv   *ot.Receiver
	rng   *prg.PRG // this party's private randomness (crypto/rand seed)
	he    *heState
	cache *maskCache
	store *store
	stats map[string]*KindStats
	kind  string // the kind being produced, for stats
	maxK  int    // tests only: a smaller inner-dimension chunk than he.Params.MaxK
}

// KindStats counts what one kind of material cost this party.
type KindStats struct {
	Calls    int64   // Material calls
	Elements int64   // elements (triples, words, tuples, one-hot rows, matrix triples)
	Sent     int64   // bytes this party sent
	Recv     int64   // bytes this party received
	Seconds  float64 // wall time inside the calls (both parties' computation and the link)
}

// Source returns the mpc.Config hook of a dealer-free 2pc session:
//
//	mpc.Config{Material: twoparty.Source(twoparty.Options{})}
func Source(o Options) mpc.MaterialSource {
	return func(l mpc.Link) (mpc.Material, error) { return New(l, o) }
}

// New sets up the generator of this party over l: it checks that both parties use the same
// options and runs the base OTs of both directions (3 flows, about 20 KiB each way; a few tens
// of milliseconds). The RLWE keys are made at the first matrix triple.
func New(l mpc.Link, o Options) (*Generator, error) {
	o = o.withDefaults()
	if !ot.ValidK(o.OTK) {
		return nil, fmt.Errorf("twoparty: SoftSpoken k = %d (want 1, 2, 4 or 8)", o.OTK)
	}
	if o.ChunkOTs < 64 {
		return nil, fmt.Errorf("twoparty: chunk of %d OTs is too small", o.ChunkOTs)
	}
	p := l.Party()
	if p != 0 && p != 1 {
		return nil, fmt.Errorf("twoparty: party %d is not 0 or 1", p)
	}
	g := &Generator{l: l, party: p, o: o, stats: map[string]*KindStats{}}
	seed, err := prg.NewSeed()
	if err != nil {
		return nil, err
	}
	g.rng = prg.New(seed)
	g.cache = newMaskCache(o.CacheBytes)
	if g.store, err = newStore(o.StoreDir); err != nil {
		return nil, err
	}
	defer g.track("setup", 0)()
	d := o.digest()
	in, err := g.exchange(d, len(d))
	if err != nil {
		return nil, fmt.Errorf("twoparty: set-up: %w", err)
	}
	if string(in) != string(d) {
		return nil, errors.New("twoparty: the parties' options differ")
	}
	if g.snd, g.rcv, err = ot.Setup(countingConn{g}, p, o.OTK); err != nil {
		return nil, fmt.Errorf("twoparty: set-up: %w", err)
	}
	return g, nil
}

// Stats returns a copy of the per-kind counters.
func (g *Generator) Stats() map[string]KindStats {
	out := make(map[string]KindStats, len(g.stats))
	for k, v := range g.stats {
		out[k] = *v
	}
	return out
}

// track opens the accounting of a call producing n elements of kind; the returned function
// closes it.
func (g *Generator) track(kind string, n int) func() {
	s, ok := g.stats[kind]
	if !ok {
		s = &KindStats{}
		g.stats[kind] = s
	}
	s.Calls++
	s.Elements += int64(n)
	prev := g.kind
	g.kind = kind
	start := time.Now()
	return func() {
		s.Seconds += time.Since(start).Seconds()
		g.kind = prev
	}
}

func (g *Generator) cur() *KindStats {
	s, ok := g.stats[g.kind]
	if !ok {
		s = &KindStats{}
		g.stats[g.kind] = s
	}
	return s
}

// send transmits b to the peer in pieces of at most maxPiece bytes.
func (g *Generator) send(b []byte) error {
	g.cur().Sent += int64(len(b))
	for {
		n := min(len(b), maxPiece)
		if err := g.l.Send(b[:n:n]); err != nil {
			return err
		}
		b = b[n:]
		if len(b) == 0 {
			return nil
		}
	}
}

// recv receives exactly want bytes sent by send; any other length is an error.
func (g *Generator) recv(want int) ([]byte, error) {
	var out []byte
	for {
		b, err := g.l.Recv()
		if err != nil {
			return nil, err
		}
		n := min(want-len(out), maxPiece)
		if len(b) != n {
			return nil, fmt.Errorf("twoparty: %s: peer sent %d bytes, want %d", g.kind, len(b), n)
		}
		g.cur().Recv += int64(len(b))
		if out == nil && len(b) == want {
			return b, nil
		}
		if out == nil {
			out = make([]byte, 0, want)
		}
		out = append(out, b...)
		if len(out) == want {
			return out, nil
		}
	}
}

// exchange sends b and receives the peer's message of want bytes (both parties at once).
func (g *Generator) exchange(b []byte, want int) ([]byte, error) {
	if err := g.send(b); err != nil {
		return nil, err
	}
	return g.recv(want)
}

// countingConn gives package ot the link with the generator's accounting.
type countingConn struct{ g *Generator }

func (c countingConn) Send(b []byte) error {
	c.g.cur().Sent += int64(len(b))
	return c.g.l.Send(b)
}

func (c countingConn) Recv() ([]byte, error) {
	b, err := c.g.l.Recv()
	c.g.cur().Recv += int64(len(b))
	return b, err
}

// ext is one extension batch in both directions: as OT receiver (the peer sends) this party
// has random choice bits and t_j; as OT sender it has q_j and Δ.
type ext struct {
	choice []uint64
	t      []ot.Block
	tFirst uint64
	q      []ot.Block
	qFirst uint64
}

// choiceBit is bit j of the choice vector.
func (x *ext) choiceBit(j int) uint64 { return x.choice[j>>6] >> (j & 63) & 1 }

// pad64 rounds m up to a positive multiple of 64.
func pad64(m int) int { return max(64, (m+63)&^63) }

// extend runs one batch of m OTs (rounded up to a multiple of 64) in each direction: one flow
// each way of (128/k − 1)·m/8 bytes.
func (g *Generator) extend(m int) (*ext, error) {
	m = pad64(m)
	x := &ext{}
	var msg []byte
	var err error
	if x.choice, x.t, x.tFirst, msg, err = g.rcv.Extend(m); err != nil {
		return nil, err
	}
	in, err := g.exchange(msg, g.snd.MsgLen(m))
	if err != nil {
		return nil, err
	}
	if x.q, x.qFirst, err = g.snd.Extend(m, in); err != nil {
		return nil, err
	}
	return x, nil
}

// senderRange returns the elements of [0, n) for which this party is the OT sender when the
// work of one direction-sensitive kind is split evenly: P0 sends for [0, h), P1 for [h, n).
func (g *Generator) senderRange(n int) (lo, hi int) {
	h := (n + 1) / 2
	if g.party == 0 {
		return 0, h
	}
	return h, n
}

// receiverRange is the complement of senderRange.
func (g *Generator) receiverRange(n int) (lo, hi int) {
	h := (n + 1) / 2
	if g.party == 0 {
		return h, n
	}
	return 0, h
}

// chunks calls f on consecutive ranges of [0, n) of at most per elements.
func chunks(n, per int, f func(lo, hi int) error) error {
	per = max(1, per)
	for lo := 0; lo < n; lo += per {
		if err := f(lo, min(n, lo+per)); err != nil {
			return err
		}
	}
	return nil
}

// words draws n private random words.
func (g *Generator) words(n int) []uint64 {
	w := make([]uint64, n)
	g.rng.Uint64s(w)
	return w
}

// le64 is the low 64 bits of a block.
func le64(b ot.Block) uint64 { return b[0] }
