package he

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/ring"
)

// Options selects the parameters. The zero value means the defaults.
type Options struct {
	// LogN is log2 of the ring degree: 13 (default) or 14.
	LogN int
	// StatSec is the statistical security parameter of noise flooding (default 40, at least 40).
	StatSec int
	// RevealLog is log2 of the number of coefficients a session may reveal to a key owner, over
	// which the flooding distance of 2^−StatSec is guaranteed (default 27).
	RevealLog int
	// Cost weighs bytes against computation when Plan chooses block shapes (zero: defaults).
	Cost Cost
}

// Cost is the estimate Plan minimises, in nanoseconds.
type Cost struct {
	NsPerByte float64 // link time per byte sent (default 8: 1 Gbit/s)
	NTTNs     float64 // one forward or inverse NTT of one limb (default 120,000 at N = 2^13)
	MulNs     float64 // one modular multiply-add of one limb coefficient (default 2.5)
}

func (c Cost) withDefaults(n int) Cost {
	if c.NsPerByte == 0 {
		c.NsPerByte = 8
	}
	if c.NTTNs == 0 {
		c.NTTNs = 120_000 * float64(n) / 8192 * math.Log2(float64(n)) / 13
	}
	if c.MulNs == 0 {
		c.MulNs = 2.5
	}
	return c
}

// Params are the RLWE parameters and the derived constants of encoding, flooding and decoding.
// Immutable and safe for concurrent use.
type Params struct {
	opt  Options
	cost Cost
	logN int
	n    int
	rq   *ring.Ring // modulus Q (5 or 7 limbs)
	rr   *ring.Ring // response modulus q' = q0·q1
	q    []uint64
	qBig *big.Int
	qr   *big.Int // q'

	limbBytes []int    // bytes per coefficient of each limb
	qhMod     []uint64 // ⌊Q/2^64⌋ mod q_i
	ql        uint64   // Q mod 2^64
	pow64     []uint64 // 2^64 mod q_i
	pow128    []uint64 // 2^128 mod q_i
	q0InvQ1   uint64   // q0^−1 mod q1

	floodBits int
	maxTerms  int
	xe        ring.DiscreteGaussian
	xs        ring.Ternary
}

const (
	sigma   = rlwe.DefaultNoise      // error standard deviation
	eBound  = rlwe.DefaultNoiseBound // errors are cut at 6σ
	eBoundI = 20                     // integer bound ≥ |e| + 1/2
)

// NewParams builds the parameters: the moduli are the largest NTT-friendly primes below 2^40
// (two, the response modulus) and below 2^46 (three; 2^59 and five at N = 2^14).
func NewParams(o Options) (*Params, error) {
	if o.LogN == 0 {
		o.LogN = 13
	}
	if o.StatSec == 0 {
		o.StatSec = 40
	}
	if o.RevealLog == 0 {
		o.RevealLog = 27
	}
	if o.StatSec < 40 || o.RevealLog < 0 || o.RevealLog > 40 {
		return nil, fmt.Errorf("he: statistical security %d over 2^%d reveals is out of range", o.StatSec, o.RevealLog)
	}
	var upper, count int
	switch o.LogN {
	case 13:
		upper, count = 46, 3
	case 14:
		upper, count = 59, 5
	default:
		return nil, fmt.Errorf("he: log N = %d (want 13 or 14)", o.LogN)
	}
	n := 1 << o.LogN
	lo := ring.NewNTTFriendlyPrimesGenerator(40, uint64(2*n))
	q, err := lo.NextDownstreamPrimes(2)
	if err != nil {
		return nil, fmt.Errorf("he: primes: %w", err)
	}
	hi := ring.NewNTTFriendlyPrimesGenerator(uint64(upper), uint64(2*n))
	qu, err := hi.NextDownstreamPrimes(count)
	if err != nil {
		return nil, fmt.Errorf("he: primes: %w", err)
	}
	q = append(q, qu...)
	if err := rlwe.CheckModuli(q, nil); err != nil {
		return nil, fmt.Errorf("he: %w", err)
	}
	p := &Params{opt: o, logN: o.LogN, n: n, q: q, floodBits: o.StatSec + o.RevealLog,
		xe: ring.DiscreteGaussian{Sigma: sigma, Bound: eBound}, xs: ring.Ternary{P: 2.0 / 3}}
	p.cost = o.Cost.withDefaults(n)
	if p.rq, err = ring.NewRing(n, q); err != nil {
		return nil, fmt.Errorf("he: %w", err)
	}
	p.rr = p.rq.AtLevel(1)
	p.qBig = p.rq.Modulus()
	p.qr = p.rr.Modulus()
	t := new(big.Int).Lsh(big.NewInt(1), 64)
	qh, ql := new(big.Int).QuoRem(p.qBig, t, new(big.Int))
	p.ql = ql.Uint64()
	for _, qi := range q {
		b := new(big.Int).SetUint64(qi)
		p.limbBytes = append(p.limbBytes, (bits.Len64(qi)+7)/8)
		p.qhMod = append(p.qhMod, new(big.Int).Mod(qh, b).Uint64())
		p.pow64 = append(p.pow64, new(big.Int).Mod(t, b).Uint64())
		p.pow128 = append(p.pow128, new(big.Int).Mod(new(big.Int).Mul(t, t), b).Uint64())
	}
	p.q0InvQ1 = new(big.Int).ModInverse(new(big.Int).SetUint64(q[0]), new(big.Int).SetUint64(q[1])).Uint64()
	// Decoding after the switch to q' needs the rounding error (1 + ‖s‖₁)/2 ≤ (1 + N)/2 below
	// q'/(4t).
	if new(big.Int).Mul(big.NewInt(int64(n+1)), new(big.Int).Lsh(big.NewInt(1), 66)).Cmp(new(big.Int).Lsh(p.qr, 1)) >= 0 {
		return nil, fmt.Errorf("he: response modulus too small for N = %d", n)
	}
	// The largest T with F(T) + B(T) ≤ Q/(4t).
	lo2, hi2 := 0, 1<<40
	for lo2 < hi2 {
		mid := (lo2 + hi2 + 1) / 2
		if p.fits(mid) {
			lo2 = mid
		} else {
			hi2 = mid - 1
		}
	}
	if lo2 < n {
		return nil, fmt.Errorf("he: flooding by 2^%d leaves no room in log Q = %.1f", p.floodBits, p.LogQ())
	}
	p.maxTerms = lo2
	return p, nil
}

// noiseBound is B(T): the worst-case noise of a returned coefficient before flooding, for T
// plaintext terms of magnitude ≤ 2^63 against errors ≤ 19.2 plus rounding ≤ 1/2, plus the
// re-randomisation (u·e + e0 + e1·s ≤ (2N+1)·19.2) and the rounding of the mask.
func (p *Params) noiseBound(terms int) *big.Int {
	b := new(big.Int).Lsh(big.NewInt(int64(terms)*eBoundI), 63)
	return b.Add(b, big.NewInt(int64(2*p.n+1)*eBoundI+1))
}

// floodLog is log2 F for T terms: F = 2^(FloodBits + ⌈log2 B(T)⌉).
func (p *Params) floodLog(terms int) int {
	return p.floodBits + p.noiseBound(terms).BitLen()
}

// fits reports whether F(T) + B(T) ≤ Q/2^66.
func (p *Params) fits(terms int) bool {
	f := new(big.Int).Lsh(big.NewInt(1), uint(p.floodLog(terms)))
	f.Add(f, p.noiseBound(terms))
	return f.Lsh(f, 66).Cmp(p.qBig) <= 0
}

// N is the ring degree.
func (p *Params) N() int { return p.n }

// LogQ is log2 Q.
func (p *Params) LogQ() float64 {
	f, _ := new(big.Float).SetInt(p.qBig).Float64()
	return math.Log2(f)
}

// FloodBits is the flooding margin: F ≥ 2^FloodBits·B.
func (p *Params) FloodBits() int { return p.floodBits }

// MaxTerms is the largest T = ⌈k/k_w⌉·m_w·k_w a plan may have.
func (p *Params) MaxTerms() int { return p.maxTerms }

// MaxK is the largest inner dimension a single product supports (with m_w = 1); a larger k
// must be split.
func (p *Params) MaxK() int { return p.maxTerms - p.n }

// Moduli returns the primes q0..q_L.
func (p *Params) Moduli() []uint64 { return append([]uint64(nil), p.q...) }

// String describes the parameters.
func (p *Params) String() string {
	return fmt.Sprintf("N=2^%d logQ=%.1f (response log q'=%.1f) flood 2^-%d per coefficient (stat %d over 2^%d) maxTerms=%d",
		p.logN, p.LogQ(), float64(p.qr.BitLen()), p.floodBits+1, p.opt.StatSec, p.opt.RevealLog, p.maxTerms)
}
