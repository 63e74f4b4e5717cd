package protocols

import (
	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/fss"
)

// backend is what the costs of a protocol depend on besides the shapes: the engine's protocol,
// the method its LTZ compares by and the precision of its comparisons (mpc.Engine.CompareBits,
// 0 standing for the full fss.MaxBits, and CompareDrop).
type backend struct {
	p          mpc.Protocol
	cmp        mpc.Comparison
	bits, drop uint
}

// backendOf is e's backend.
func backendOf(e mpc.Engine) backend {
	b := backend{p: e.Protocol(), cmp: e.Comparison(), drop: e.CompareDrop()}
	return b.withBits(e.CompareBits())
}

// exact is b comparing exactly over the range of its comparisons: the dropped bits back.
func (b backend) exact() backend {
	if b.drop == 0 {
		return b
	}
	bits := b.bits
	if bits == 0 {
		bits = fss.MaxBits
	}
	b, b.drop = b.withBits(exactWidth(bits, b.drop)), 0
	return b
}

// exactWidth is the width of exact comparisons over the range of comparisons over bits above
// drop dropped bits.
func exactWidth(bits, drop uint) uint { return min(bits+drop, fss.MaxBits) }

// exactComparisons is e comparing exactly over the range of its comparisons (the dropped
// bits back, see mpc.Engine.WithComparePrecision): where a winner must beat every other member
// of a group of more than two, or ranks must be a permutation, comparisons must be transitive,
// and dithered ones are not.
func exactComparisons(e mpc.Engine) (mpc.Engine, error) {
	if e.CompareDrop() == 0 {
		return e, nil
	}
	return e.WithCompareBits(exactWidth(e.CompareBits(), e.CompareDrop()))
}

// withBits is b comparing over bits (fss.MaxBits is stored as 0, so that backends compare
// equal whichever way the full width is written).
func (b backend) withBits(bits uint) backend {
	if bits == fss.MaxBits {
		bits = 0
	}
	b.bits = bits
	return b
}

// keyBytes is the material of one FSS comparison of b, which P0 and P1 each receive.
func (b backend) keyBytes() int64 {
	bits := b.bits
	if bits == 0 {
		bits = fss.MaxBits
	}
	return 8 * int64(fss.KeyWords(bits))
}

// meterCost is the traffic of a protocol run as the meter counts it, per party: rounds, online
// bytes sent and offline bytes received (material from the dealer, or from P2 in 3pc). The
// package's cost formulas (tournaments, top-k) are built from it and checked against the meter
// in tests.
type meterCost struct {
	rounds, sent, offline [3]int64
}

func (c *meterCost) add(o meterCost) {
	for i := range 3 {
		c.rounds[i] += o.rounds[i]
		c.sent[i] += o.sent[i]
		c.offline[i] += o.offline[i]
	}
}

// maxRounds is the largest round count of any party (the critical path).
func (c meterCost) maxRounds() int64 { return max(c.rounds[0], c.rounds[1], c.rounds[2]) }

// maxSent is the most online bytes any party sends.
func (c meterCost) maxSent() int64 { return max(c.sent[0], c.sent[1], c.sent[2]) }

// maxOffline is the most material any party receives.
func (c meterCost) maxOffline() int64 { return max(c.offline[0], c.offline[1], c.offline[2]) }

// seconds estimates how long the traffic takes on link (see mpc.Network).
func (c meterCost) seconds(link mpc.Network) float64 {
	t := float64(c.maxRounds())*link.RTT.Seconds() + float64(c.maxSent())/link.Bandwidth
	if link.MaterialBandwidth > 0 {
		t += float64(c.maxOffline()) / link.MaterialBandwidth
	}
	return t
}

// fssBatch is the most FSS keys the engine deals in one message; every message comes with a
// fresh AES key (fss.KeySize bytes) for P1.
const fssBatch = 4096

// ltzCost is the engine's LTZ of n elements in one call (see mpc's TestMeterCounts).
func ltzCost(b backend, n int) meterCost { return lessCost(b, n, 1, 1) }

// lessCost is the engine's LessThan of n elements against thr public thresholds in one call,
// with outs results per element (thr bits, or the columns of its map): by FSS one opened word
// and one key per element, in 3pc plus the resharing of the n·outs results; by the circuit the
// LTZ of n·thr differences (the map is local).
func lessCost(b backend, n, thr, outs int) meterCost {
	if n == 0 {
		return meterCost{}
	}
	m, k := int64(n), int64(thr)
	switch {
	case b.cmp == mpc.CompareFSS:
		key := b.keyBytes() * m
		off := [3]int64{key, key + fss.KeySize*((m+fssBatch-1)/fssBatch), 0}
		if b.p == mpc.TwoPC {
			return meterCost{[3]int64{1, 1, 0}, [3]int64{8 * m, 8 * m, 0}, off}
		}
		s := 8*m + 8*m*int64(outs)
		return meterCost{[3]int64{2, 2, 1}, [3]int64{s, s, 16 * m}, off}
	case b.p == mpc.TwoPC:
		m *= k
		s := 184*m + (m+7)/8
		return meterCost{[3]int64{8, 8, 0}, [3]int64{s, s, 0}, [3]int64{0, 104 * m, 0}}
	}
	m *= k
	return meterCost{[3]int64{8, 8, 8}, [3]int64{168 * m, 104 * m, 104 * m}, [3]int64{}}
}

// mulCost is the engine's Mul of n elements.
func mulCost(p mpc.Protocol, n int) meterCost {
	if n == 0 {
		return meterCost{}
	}
	m := int64(n)
	if p == mpc.TwoPC {
		return meterCost{[3]int64{1, 1, 0}, [3]int64{16 * m, 16 * m, 0}, [3]int64{0, 8 * m, 0}}
	}
	return meterCost{[3]int64{1, 1, 1}, [3]int64{8 * m, 8 * m, 8 * m}, [3]int64{}}
}

// oneHotCost is the engine's OneHot of cnt indices to rows of width cols.
func oneHotCost(p mpc.Protocol, cnt, cols int) meterCost {
	if cnt == 0 {
		return meterCost{}
	}
	m, N := int64(cnt), int64(ceilPow2(cols))
	if p == mpc.TwoPC {
		return meterCost{[3]int64{1, 1, 0}, [3]int64{8 * m, 8 * m, 0}, [3]int64{0, 8 * N * m, 0}}
	}
	s := 8 * (m + m*int64(cols))
	return meterCost{[3]int64{2, 2, 1}, [3]int64{s, s, 16 * m}, [3]int64{0, 8 * N * m, 0}}
}

// view is the backend that the comparison-heavy protocols run on (see View): the engine's
// two-party view (mpc.Engine.Pair) in 3pc with FSS comparisons, where the replicated form
// reshares every comparison bit (a round and 8 bytes per bit at P0 and P1, 16 at P2) and the
// view keeps the bits additive and reuses fixed operands; the backend itself otherwise.
func (b backend) view() backend {
	if b.p == mpc.ThreePC && b.cmp == mpc.CompareFSS {
		return backend{p: mpc.TwoPC, cmp: mpc.CompareFSS, bits: b.bits, drop: b.drop}
	}
	return b
}

// fromPairCost is the engine's FromPair of n elements on backend b when b computes on the
// pair view (see view), else nothing.
func fromPairCost(b backend, n int) meterCost {
	if b.view() == b || n == 0 {
		return meterCost{}
	}
	m := int64(n)
	return meterCost{rounds: [3]int64{1, 1, 0}, sent: [3]int64{8 * m, 8 * m, 0}}
}

// onPair runs f on x in View(e) where that is the two-party view, moving x in (local) and f's
// results back (one FromPair, one round, for all of them); elsewhere it runs f on the engine
// itself.
func onPair(e mpc.Engine, x *mpc.Share, f func(pe mpc.Engine, x *mpc.Share) ([]*mpc.Share, error)) ([]*mpc.Share, error) {
	if View(e) == e {
		return f(e, x)
	}
	xp, err := e.ToPair(x)
	if err != nil {
		return nil, err
	}
	return inView(e, xp, f)
}

// View is the engine that the comparison-heavy protocols (Max, Argmax, TopK's ranking,
// GeLU, SiLU) compute on: e.Pair() in 3pc with FSS comparisons, e itself otherwise. A caller
// that produces their input by a product can deliver it there directly (mpc.Engine.MatMulPair)
// and pass it to ArgmaxInView or GeLUInView.
func View(e mpc.Engine) mpc.Engine {
	if b := backendOf(e); b.view() != b {
		return e.Pair()
	}
	return e
}

// inView runs f on xv, a share of View(e), and moves f's results back to e in one
// FromPair (nothing where the view is e).
func inView(e mpc.Engine, xv *mpc.Share, f func(pe mpc.Engine, x *mpc.Share) ([]*mpc.Share, error)) ([]*mpc.Share, error) {
	ve := View(e)
	ys, err := f(ve, xv)
	if err != nil || ve == e {
		return ys, err
	}
	all, err := concatFlat(ys)
	if err != nil {
		return nil, err
	}
	if all, err = e.FromPair(all); err != nil {
		return nil, err
	}
	return splitFlat(all, ys)
}
