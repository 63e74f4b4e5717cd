package fss

import (
	"fmt"
	"runtime"
	"sync"
)

// MaxBits is the widest comparison: the sign of a whole ring element. A gate over bits
// (MinBits ≤ bits ≤ MaxBits) gives the sign of x mod 2^bits as a bits-bit two's-complement
// integer, which is the sign of x wherever |x| < 2^(bits−1): the tree then covers only the
// bits − 1 low bits of the masked value, and keys, generation and evaluation shrink with it.
const (
	MaxBits = 64
	MinBits = 2
)

// Levels returns the depth of the comparison tree of a gate over bits: the bits − 1 low bits of
// the masked value (63 for MaxBits).
func Levels(bits uint) int { return int(bits) - 1 }

// KeyWords returns the number of correction words of one sign-gate key over bits, 3·Levels + 2
// (191 for MaxBits). In a batch of m keys the words are laid out level by level, so that
// evaluation streams through them (L = Levels(bits)):
//
//	cw[3(i·m + j)]     seed correction of level i, key j (low word; bit 0: left control correction)
//	cw[3(i·m + j) + 1] seed correction, high word
//	cw[3(i·m + j) + 2] value correction
//	cw[3·L·m + j]      right control corrections of key j, bit i for level i
//	cw[(3·L+1)·m + j]  final value correction of key j
func KeyWords(bits uint) int { return 3*Levels(bits) + 2 }

// checkBits panics on a width outside [MinBits, MaxBits].
func checkBits(op string, bits uint) {
	if bits < MinBits || bits > MaxBits {
		panic(fmt.Sprintf("fss: %s: comparison width %d outside [%d, %d]", op, bits, MinBits, MaxBits))
	}
}

// SeedWords is the number of words of a root seed (a 128-bit block; bit 0 is ignored).
const SeedWords = 2

// KeySize is the size of an AES key that keys a batch.
const KeySize = 16

// The PRG's tweaks: G(s) = (H(s), H(s ⊕ tweakRight), H(s ⊕ tweakValue)), for a seed s whose bit 0
// is clear.
const (
	tweakRight = 1
	tweakValue = 2
)

// minPerWorker is the fewest keys worth a goroutine of their own.
const minPerWorker = 1024

// tile is how many keys (points, in evaluation) go through the tree together: their working
// set (14 words per key in generation, 6 per point in evaluation) stays in the first-level cache
// while the AES kernel still gets long batches.
const tile = 256

// GenSign writes the correction words of the sign-gate keys over bits of the masks r to cw
// (len(r)·KeyWords(bits) words, laid out as KeyWords describes), for the root seeds seed0 of
// party 0 and seed1 of party 1 (SeedWords per key) and the batch's AES key. Only the low bits
// of each mask matter. It panics if a length is wrong or bits is out of range.
func GenSign(key [KeySize]byte, bits uint, r, seed0, seed1, cw []uint64) {
	checkBits("GenSign", bits)
	m := len(r)
	if len(seed0) != SeedWords*m || len(seed1) != SeedWords*m || len(cw) != KeyWords(bits)*m {
		panic("fss: GenSign: slice lengths do not match the number of masks")
	}
	h := newHash(key)
	parallel(m, func(lo, hi int) {
		var w genWork
		for ; lo < hi; lo += tile {
			w.gen(h, bits, m, lo, min(lo+tile, hi), r, seed0, seed1, cw)
		}
	})
}

// EvalSign writes to out party b's additive share of the sign of (c − r) mod 2^bits, as a
// bits-bit integer, for every opened c = x + r, from the party's root seeds and the correction
// words of GenSign over bits for m masks (m = len(seed)/SeedWords). Each key may be evaluated
// at several points: c holds p = len(c)/m points per key, key j's at c[j·p : (j+1)·p], and out
// one share per point. Evaluating one key at the points x − t_k + r of public offsets t_k gives
// the comparisons [x < t_k] from one opening of x + r (the interval-containment use of a DCF in
// Boyle et al., Eurocrypt 2021): the key hides r whatever the points. It panics if a length is
// wrong, b is not 0 or 1 or bits is out of range; any contents are accepted (wrong keys give wrong shares).
func EvalSign(b int, key [KeySize]byte, bits uint, c, seed, cw, out []uint64) {
	if b != 0 && b != 1 {
		panic("fss: EvalSign: party must be 0 or 1")
	}
	checkBits("EvalSign", bits)
	m := len(seed) / SeedWords
	if len(seed) != SeedWords*m || len(cw) != KeyWords(bits)*m || len(out) != len(c) || (m == 0) != (len(c) == 0) || m > 0 && len(c)%m != 0 {
		panic("fss: EvalSign: slice lengths do not match the number of keys and points")
	}
	per := 1
	if m > 0 {
		per = len(c) / m
	}
	h := newHash(key)
	parallel(len(c), func(lo, hi int) {
		var w evalWork
		for ; lo < hi; lo += tile {
			w.eval(h, b, bits, m, per, lo, min(lo+tile, hi), c, seed, cw, out)
		}
	})
}

// parallel runs f over [0, m) split into ranges for up to GOMAXPROCS goroutines.
func parallel(m int, f func(lo, hi int)) {
	w := min(runtime.GOMAXPROCS(0), m/minPerWorker)
	if w <= 1 {
		f(0, m)
		return
	}
	var wg sync.WaitGroup
	for k := 0; k < w; k++ {
		wg.Go(func() { f(k*m/w, (k+1)*m/w) })
	}
	wg.Wait()
}

// block is a 128-bit PRG block as its low and high words (a struct, which the compiler keeps in
// registers); a tree node is a block whose bit 0 is the control bit and whose other 127 bits
// are the seed.
type block struct{ lo, hi uint64 }

// inputs writes the PRG inputs of node (seed s, bit 0 ignored) to b: s, s ⊕ tweakRight and
// s ⊕ tweakValue.
func inputs(b *[3]block, s block) {
	lo := s.lo &^ 1
	b[0], b[1], b[2] = block{lo, s.hi}, block{lo ^ tweakRight, s.hi}, block{lo ^ tweakValue, s.hi}
}

// genWork is the scratch space of generating a tile of keys: party 0's control bit at the current
// node of each key (party 1's is its complement on the path), V_α (the difference of the values
// the two parties have accumulated along the path so far), and the PRG blocks, which double as
// the current nodes' seeds.
type genWork struct {
	t0  [tile]uint64
	va  [tile]uint64
	buf [6 * tile]block // per key: L, R, V of party 0, then of party 1
}

// gen generates keys lo to hi (at most tile of them) of a batch of m, over bits.
func (w *genWork) gen(h *hash, bits uint, m, lo, hi int, r, seed0, seed1, cw []uint64) {
	L, top := Levels(bits), bits-1 // top: the sign bit
	n := hi - lo
	t0, va, buf := w.t0[:n], w.va[:n], w.buf[:6*n]
	for j := range n {
		b := (*[6]block)(buf[6*j:])
		inputs((*[3]block)(b[0:3]), block{seed0[2*(lo+j)], seed0[2*(lo+j)+1]})
		inputs((*[3]block)(b[3:6]), block{seed1[2*(lo+j)], seed1[2*(lo+j)+1]})
		t0[j], va[j] = 0, 0
	}
	rs := r[lo:hi]
	tR := cw[3*L*m+lo : 3*L*m+hi]
	clear(tR)
	for i := range L {
		h.blocks(buf)
		bit := uint(L - 1 - i)
		row := cw[3*(i*m+lo) : 3*(i*m+hi)]
		for j := range n {
			b := (*[6]block)(buf[6*j:])
			a := rs[j] >> bit & 1 // the path bit α_i
			am := -a
			// Keep is the child on the path (R when α_i = 1), Lose its sibling; selections are
			// by mask, since α is the dealer's secret.
			l0, r0, v0, l1, r1, v1 := b[0], b[1], b[2], b[3], b[4], b[5]
			dLlo, dLhi, dRlo, dRhi := l0.lo^l1.lo, l0.hi^l1.hi, r0.lo^r1.lo, r0.hi^r1.hi
			sLo := (dRlo ^ am&(dLlo^dRlo)) &^ 1 // s_CW = Lose_0 ⊕ Lose_1
			sHi := dRhi ^ am&(dLhi^dRhi)
			tL := dLlo&1 ^ a ^ 1
			tRi := dRlo&1 ^ a
			tKeep := tL ^ am&(tL^tRi)
			// V_CW = (−1)^t1 (Conv(v_1^Lose) − Conv(v_0^Lose) − V_α + g), where t1 = 1 ⊕ t0.
			g := rs[j]>>top&1 ^ a // the lose subtree's payload r_top ⊕ α_i
			vLose0 := v0.hi ^ am&(v0.lo^v0.hi)
			vLose1 := v1.hi ^ am&(v1.lo^v1.hi)
			vcw := neg(vLose1-vLose0-va[j]+g, t0[j]^1)
			// The new V_α = V_α + Conv(v_0^Keep) − Conv(v_1^Keep) + (−1)^t1·V_CW, in which the
			// old V_α cancels: d_b = Conv(v_b^Keep) − Conv(v_b^Lose) = ±(v_b^R − v_b^L).
			d0 := neg(v0.hi-v0.lo, a^1)
			d1 := neg(v1.hi-v1.lo, a^1)
			va[j] = d0 - d1 + g
			m0 := -t0[j]
			keep0 := block{l0.lo ^ am&(l0.lo^r0.lo), l0.hi ^ am&(l0.hi^r0.hi)}
			keep1 := block{l1.lo ^ am&(l1.lo^r1.lo), l1.hi ^ am&(l1.hi^r1.hi)}
			c := block{sLo | tKeep, sHi}
			s0 := block{keep0.lo ^ m0&c.lo, keep0.hi ^ m0&c.hi}
			s1 := block{keep1.lo ^ ^m0&c.lo, keep1.hi ^ ^m0&c.hi}
			t0[j] = s0.lo & 1
			inputs((*[3]block)(b[0:3]), s0)
			inputs((*[3]block)(b[3:6]), s1)
			rw := (*[3]uint64)(row[3*j:])
			rw[0], rw[1], rw[2] = sLo|tL, sHi, vcw
			tR[j] |= tRi << i
		}
	}
	last := cw[(3*L+1)*m+lo : (3*L+1)*m+hi]
	for j := range n {
		// The leaf r' holds r_top; Convert(seed) is the seed's high word.
		last[j] = neg(buf[6*j+3].hi-buf[6*j].hi-va[j]+rs[j]>>top&1, t0[j]^1)
	}
}

// neg returns −x if bit 0 of t is set and x otherwise.
func neg(x, t uint64) uint64 {
	m := -(t & 1)
	return (x ^ m) - m
}

// evalWork is the scratch space of evaluating a tile of points: the key of each point, the
// control bit of its current node, the PRG blocks (which double as the nodes' seeds), and the
// sharing of nodes between points of one key.
//
// Points of one key at nearby values (a comparison with thresholds that differ in their low
// bits) walk the same path until their first differing bit. A point that still shares its
// path follows a leader (lead[j] ≠ j) and costs nothing; at the level where its bit differs
// from its leader's, it takes a copy of the leader's state (the node is the same, only the
// chosen child differs) and leads from then on, with any other follower of the old leader that
// takes the same turn. Only leaders are expanded, so a key with p points whose values agree in
// their top s bits costs about s + p·(Levels − s) expansions instead of Levels·p. Which points share a
// path depends on the opened values alone, which the evaluator knows.
type evalWork struct {
	k    [tile]int
	t    [tile]uint64
	lead [tile]int32
	// turn[l] is, during one level, the point that left leader l's path first (−1: none).
	turn [tile]int32
	act  [tile]int
	buf  [2 * tile]block // per point: the chosen child, then the values
	cb   [2 * tile]block // the leaders' blocks, compacted for the AES kernel
}

// eval evaluates points lo to hi (at most tile of them) of a batch of m keys with per points
// each (point q is key q/per's) at the opened values c.
func (w *evalWork) eval(h *hash, b int, bits uint, m, per, lo, hi int, c, seed, cw, out []uint64) {
	L := Levels(bits)
	n := hi - lo
	k, t, buf, cs, acc := w.k[:n], w.t[:n], w.buf[:2*n], c[lo:hi], out[lo:hi]
	lead, turn := w.lead[:n], w.turn[:n]
	act := w.act[:0]
	top := L - 1
	for j := range n {
		k[j] = (lo + j) / per
		if j > 0 && k[j] == k[j-1] {
			lead[j] = lead[j-1] // the first point of its key in the tile leads at the root
			continue
		}
		lead[j] = int32(j)
		act = append(act, j)
		s := seed[2*k[j]] &^ 1
		x := cs[j] >> top & 1
		buf[2*j], buf[2*j+1] = block{s | x, seed[2*k[j]+1]}, block{s ^ tweakValue, seed[2*k[j]+1]}
		t[j], acc[j] = uint64(b), 0
	}
	tR := cw[3*L*m : (3*L+1)*m]
	for i := range L {
		bit := uint(top - i)
		if len(act) < n {
			// Followers whose bit differs from their leader's leave its path here.
			for _, l := range act {
				turn[l] = -1
			}
			for j := range n {
				l := lead[j]
				if int(l) == j || (cs[j]^cs[l])>>bit&1 == 0 {
					continue
				}
				if nl := turn[l]; nl >= 0 {
					lead[j] = nl
					continue
				}
				turn[l], lead[j] = int32(j), int32(j)
				t[j], acc[j] = t[l], acc[l]
				buf[2*j] = block{buf[2*l].lo&^1 | cs[j]>>bit&1, buf[2*l].hi}
				buf[2*j+1] = buf[2*l+1]
				act = append(act, j)
				if len(act) == n {
					for a := range act {
						act[a] = a // every point leads now: expand them in place, in order
					}
				}
			}
		}
		blocks := buf
		if len(act) < n {
			blocks = w.cb[:2*len(act)]
			for a, j := range act {
				blocks[2*a], blocks[2*a+1] = buf[2*j], buf[2*j+1]
			}
		}
		h.blocks(blocks)
		row := cw[3*i*m : 3*(i+1)*m]
		// The next level's bit of c (none after the last level).
		nbit, nmask := bit-1, uint64(1)
		if bit == 0 {
			nbit, nmask = 0, 0
		}
		for a, j := range act {
			p := (*[2]block)(blocks[2*a:])
			rw := (*[3]uint64)(row[3*k[j]:])
			x := cs[j] >> bit & 1
			tm := -t[j]
			cwLo := rw[0] ^ -x&(rw[0]^tR[k[j]]>>i)&1 // the right child's control correction
			s := block{p[0].lo ^ tm&cwLo, p[0].hi ^ tm&rw[1]}
			v := p[1].lo ^ -x&(p[1].lo^p[1].hi) // the chosen child's value
			acc[j] += v + tm&rw[2]
			t[j] = s.lo & 1
			// The next level's inputs: the chosen child's and the values' (at the leaf, s).
			nx := cs[j] >> nbit & nmask
			sl := s.lo &^ 1
			buf[2*j], buf[2*j+1] = block{sl | nx, s.hi}, block{sl ^ tweakValue, s.hi}
		}
	}
	// Points that never left their leader's path reached its leaf (their low L bits agree).
	for j := range n {
		if l := lead[j]; int(l) != j {
			t[j], acc[j], buf[2*j] = t[l], acc[l], buf[2*l]
		}
	}
	last := cw[(3*L+1)*m:]
	for j := range n {
		// Convert(seed) is the leaf's high word.
		g := acc[j] + buf[2*j].hi + -t[j]&last[k[j]]
		if b == 1 {
			g = -g
		}
		// sign(x) = c_L ⊕ g = c_L + (1 − 2c_L)·g; party 0 adds the public sign bit c_L of c.
		sb := cs[j] >> uint(L) & 1
		acc[j] = (1 - 2*sb) * g
		if b == 0 {
			acc[j] += sb
		}
	}
}
