package mpc

import (
	"fmt"
	"slices"
)

// This file is the boolean-circuit comparison (Config.Comparison "circuit"; fss_compare.go has
// the function-secret-sharing one).
//
// Comparison extracts the sign bit of a shared value with a boolean circuit on bit-sliced
// words: a 64-bit word holds one element's bits, XOR-shared. The value is split into two
// addends known to different parties (2pc: x_0 and x_1; 3pc: x_0 + x_1, known to P0, and x_2,
// known to P1 and P2), and MSB(a + b) = a_63 ⊕ b_63 ⊕ carry_63 where the carry comes from a
// Kogge-Stone prefix over generate g = a ∧ b and propagate p = a ⊕ b (6 levels for 63 bits).
// Rounds: 1 (g) + 6 (prefix) + 1 (boolean to arithmetic) = 8.

// bshare is a shared vector of 64-bit words under XOR: own (2pc), or the replicated pair
// (own, next) in 3pc. Nil at the 2pc dealer.
type bshare struct{ own, next []uint64 }

func (b bshare) xor(c bshare) bshare {
	if b.own == nil {
		return bshare{}
	}
	out := bshare{own: xorOf(b.own, c.own)}
	if b.next != nil {
		out.next = xorOf(b.next, c.next)
	}
	return out
}

// apply maps f over every component.
func (b bshare) apply(f func(uint64) uint64) bshare {
	m := func(a []uint64) []uint64 {
		if a == nil {
			return nil
		}
		o := make([]uint64, len(a))
		for i, v := range a {
			o[i] = f(v)
		}
		return o
	}
	return bshare{m(b.own), m(b.next)}
}

func catB(a, b bshare) bshare {
	if a.own == nil {
		return bshare{}
	}
	out := bshare{own: slices.Concat(a.own, b.own)}
	if a.next != nil {
		out.next = slices.Concat(a.next, b.next)
	}
	return out
}

func (b bshare) slice(lo, hi int) bshare {
	if b.own == nil {
		return bshare{}
	}
	out := bshare{own: b.own[lo:hi]}
	if b.next != nil {
		out.next = b.next[lo:hi]
	}
	return out
}

// andB computes x ∧ y word-wise (n words). 2pc: Beaver AND triple, 1 round, 16 bytes per word,
// 8 bytes offline. 3pc: replicated AND, 1 round, 8 bytes per word.
func (e *engine) andB(op string, x, y bshare, n int) (bshare, error) {
	if e.proto == ThreePC {
		z := make([]uint64, n)
		b0, b1 := make([]uint64, n), make([]uint64, n)
		e.zero[0].Uint64s(b0)
		e.zero[1].Uint64s(b1)
		for i := range z {
			z[i] = x.own[i]&y.own[i] ^ x.own[i]&y.next[i] ^ x.next[i]&y.own[i] ^ b0[i] ^ b1[i]
		}
		in, err := e.round(op, []msg{{e.prev(), u64sToBytes(z)}}, []int{e.next()}, []int{8 * n})
		if err != nil {
			return bshare{}, err
		}
		return bshare{z, bytesToU64s(in[0])}, nil
	}
	a, b, c, err := e.mat.ANDTriple(n)
	if err != nil || e.dealer {
		return bshare{}, err
	}
	ef := make([]uint64, 2*n)
	for i := 0; i < n; i++ {
		ef[i] = x.own[i] ^ a[i]
		ef[n+i] = y.own[i] ^ b[i]
	}
	other := 1 - e.party
	in, err := e.round(op, []msg{{other, u64sToBytes(ef)}}, []int{other}, []int{16 * n})
	if err != nil {
		return bshare{}, err
	}
	o := bytesToU64s(in[0])
	z := make([]uint64, n)
	for i := range z {
		E, F := ef[i]^o[i], ef[n+i]^o[n+i]
		z[i] = E&b[i] ^ F&a[i] ^ c[i]
		if e.party == 0 {
			z[i] ^= E & F
		}
	}
	return bshare{own: z}, nil
}

// selectWord returns, bit by bit, m1 where c is set and m0 elsewhere.
func selectWord(c, m0, m1 uint64) uint64 { return m0&^c | m1&c }

// genProp returns XOR shares of g = a ∧ b and p = a ⊕ b, where a and b are the two addends of
// x (see the file comment). 1 round.
//
// 2pc: a private AND: the dealer gives P0 a random u, P1 a random v and XOR shares z of u ∧ v;
// P0 sends A = a ⊕ u, P1 sends B = b ⊕ v; then a ∧ b = (A∧B ⊕ u∧B ⊕ z_0) ⊕ (A∧v ⊕ z_1).
// 8 bytes per word each, 8 bytes offline.
//
// 3pc: P0 inputs a (sending its third component to P1 and P2) and, in the same round, two
// three-party oblivious transfers hand P1 and P2 the third component of g: with b as choice bits
// (known to both P1 and P2), P0 sends the masked pair (g_0 ⊕ w_0, a ⊕ g_0 ⊕ w_1) to P1 and the
// helper P2, who shares the masks w with P0, sends the chosen mask; symmetrically for P2 with
// helper P1. P0 sends 48 bytes per word, P1 and P2 8 each.
func (e *engine) genProp(x *Share) (g, p bshare, err error) {
	n := x.Len()
	if e.proto == TwoPC {
		u, z, err := e.mat.PrivateAND(n)
		if err != nil || e.dealer {
			return bshare{}, bshare{}, err
		}
		A := make([]uint64, n)
		for i := range A {
			A[i] = x.Own[i] ^ u[i]
		}
		other := 1 - e.party
		in, err := e.round("ltz", []msg{{other, u64sToBytes(A)}}, []int{other}, []int{8 * n})
		if err != nil {
			return bshare{}, bshare{}, err
		}
		B := bytesToU64s(in[0])
		gs := make([]uint64, n)
		for i := range gs {
			if e.party == 0 {
				gs[i] = A[i]&B[i] ^ u[i]&B[i] ^ z[i]
			} else {
				gs[i] = B[i]&u[i] ^ z[i] // here B is P0's A and u is P1's v
			}
		}
		return bshare{own: gs}, bshare{own: slices.Clone(x.Own)}, nil
	}
	// 3pc. Streams: k_0 is shared by P0 (ot[0]) and P2 (ot[1]); k_1 by P0 (ot[1]) and P1 (ot[0]).
	// Each stream is drawn in the order: component of a, component of g, mask w0, mask w1.
	draw4 := func(j int) (ca, cg, w0, w1 []uint64) {
		ws := make([][]uint64, 4)
		for i := range ws {
			ws[i] = make([]uint64, n)
			e.ot[j].Uint64s(ws[i])
		}
		return ws[0], ws[1], ws[2], ws[3]
	}
	switch e.party {
	case 0:
		a := sum(x.Own, x.Next)
		ca0, g0, w0, w1 := draw4(0) // k_0, with P2
		ca1, g1, v0, v1 := draw4(1) // k_1, with P1
		ca2 := make([]uint64, n)
		toP1 := make([]uint64, 3*n) // ca2, g0⊕w0, a⊕g0⊕w1
		toP2 := make([]uint64, 3*n) // ca2, g1⊕v0, a⊕g1⊕v1
		for i := 0; i < n; i++ {
			ca2[i] = a[i] ^ ca0[i] ^ ca1[i]
			toP1[i], toP1[n+i], toP1[2*n+i] = ca2[i], g0[i]^w0[i], a[i]^g0[i]^w1[i]
			toP2[i], toP2[n+i], toP2[2*n+i] = ca2[i], g1[i]^v0[i], a[i]^g1[i]^v1[i]
		}
		if _, err := e.round("ltz", []msg{{1, u64sToBytes(toP1)}, {2, u64sToBytes(toP2)}}, nil, nil); err != nil {
			return bshare{}, bshare{}, err
		}
		return bshare{g0, g1}, bshare{ca0, ca1}, nil
	case 1:
		b := x.Next                 // x_2
		ca1, g1, v0, v1 := draw4(0) // k_1, with P0
		help := make([]uint64, n)   // P2's chosen mask for P2's transfer
		for i := range help {
			help[i] = selectWord(b[i], v0[i], v1[i])
		}
		in, err := e.round("ltz", []msg{{2, u64sToBytes(help)}}, []int{0, 2}, []int{24 * n, 8 * n})
		if err != nil {
			return bshare{}, bshare{}, err
		}
		m, w := bytesToU64s(in[0]), bytesToU64s(in[1])
		ca2, g2 := m[:n], make([]uint64, n)
		for i := range g2 {
			g2[i] = selectWord(b[i], m[n+i], m[2*n+i]) ^ w[i] ^ g1[i]
		}
		// p = a ⊕ b: components (ca0, ca1, ca2 ⊕ b).
		return bshare{g1, g2}, bshare{ca1, xorOf(ca2, b)}, nil
	default:
		b := x.Own                  // x_2
		ca0, g0, w0, w1 := draw4(1) // k_0, with P0
		help := make([]uint64, n)
		for i := range help {
			help[i] = selectWord(b[i], w0[i], w1[i])
		}
		in, err := e.round("ltz", []msg{{1, u64sToBytes(help)}}, []int{0, 1}, []int{24 * n, 8 * n})
		if err != nil {
			return bshare{}, bshare{}, err
		}
		m, v := bytesToU64s(in[0]), bytesToU64s(in[1])
		ca2, g2 := m[:n], make([]uint64, n)
		for i := range g2 {
			g2[i] = selectWord(b[i], m[n+i], m[2*n+i]) ^ v[i] ^ g0[i]
		}
		return bshare{g2, g0}, bshare{xorOf(ca2, b), ca0}, nil
	}
}

// msbBits returns XOR shares of MSB(x), one 0/1 word per element. 7 rounds.
func (e *engine) msbBits(x *Share) (bshare, error) {
	n := x.Len()
	g, p, err := e.genProp(x)
	if err != nil {
		return bshare{}, err
	}
	top := p.apply(func(v uint64) uint64 { return v >> 63 })
	// Kogge-Stone: G ← G ⊕ (P ∧ (G << s)), P ← P ∧ (P << s); the last level needs only G.
	for s := uint(1); s < 64; s <<= 1 {
		gs := g.apply(func(v uint64) uint64 { return v << s })
		if s == 32 {
			t, err := e.andB("ltz", p, gs, n)
			if err != nil {
				return bshare{}, err
			}
			g = g.xor(t)
			break
		}
		ps := p.apply(func(v uint64) uint64 { return v << s })
		t, err := e.andB("ltz", catB(p, p), catB(gs, ps), 2*n)
		if err != nil {
			return bshare{}, err
		}
		g, p = g.xor(t.slice(0, n)), t.slice(n, 2*n)
	}
	// G bit 62 is the carry into bit 63.
	return top.xor(g.apply(func(v uint64) uint64 { return v >> 62 & 1 })), nil
}

// b2a converts XOR-shared bits (0/1 words) into arithmetic shares of the same bits. 1 round.
//
// 2pc: the dealer gives a random bit r as XOR and arithmetic shares; P0 and P1 open
// m = b ⊕ r (one bit each, packed) and set b = m + r − 2·m·r. 1/8 byte, 8 bytes offline.
//
// 3pc: with c = b_0 ⊕ b_1 known to P0 and the choice bit b_2 known to P1 and P2, two
// three-party oblivious transfers give P1 and P2 the third arithmetic component
// s_2 = b − s_0 − s_1 (s_0, s_1 from the streams of k_0, k_1). P0 sends 32 bytes, P1 and P2 8.
func (e *engine) b2a(shape []int, bits bshare) (*Share, error) {
	n := Numel(shape)
	out := &Share{Shape: slices.Clone(shape)}
	if e.proto == TwoPC {
		r, ra, err := e.mat.BitPair(n)
		if err != nil || e.dealer {
			return out, err
		}
		mine := make([]byte, (n+7)/8)
		for i := 0; i < n; i++ {
			mine[i/8] |= byte((bits.own[i]^r[i])&1) << (i % 8)
		}
		other := 1 - e.party
		in, err := e.round("b2a", []msg{{other, mine}}, []int{other}, []int{len(mine)})
		if err != nil {
			return nil, err
		}
		y := make([]uint64, n)
		for i := range y {
			m := uint64((mine[i/8] ^ in[0][i/8]) >> (i % 8) & 1)
			y[i] = ra[i] * (1 - 2*m)
			if e.party == 0 {
				y[i] += m
			}
		}
		out.Own = y
		return out, nil
	}
	draw3 := func(j int) (s, w0, w1 []uint64) {
		ws := make([][]uint64, 3)
		for i := range ws {
			ws[i] = make([]uint64, n)
			e.ot[j].Uint64s(ws[i])
		}
		return ws[0], ws[1], ws[2]
	}
	mask := func(c uint64) uint64 { return -(c & 1) } // all ones when the bit is set
	switch e.party {
	case 0:
		s0, w0, w1 := draw3(0)
		s1, v0, v1 := draw3(1)
		toP1, toP2 := make([]uint64, 2*n), make([]uint64, 2*n)
		for i := 0; i < n; i++ {
			c := (bits.own[i] ^ bits.next[i]) & 1
			mu0 := c - s0[i] - s1[i]
			mu1 := 1 - c - s0[i] - s1[i]
			toP1[i], toP1[n+i] = mu0^w0[i], mu1^w1[i]
			toP2[i], toP2[n+i] = mu0^v0[i], mu1^v1[i]
		}
		if _, err := e.round("b2a", []msg{{1, u64sToBytes(toP1)}, {2, u64sToBytes(toP2)}}, nil, nil); err != nil {
			return nil, err
		}
		out.Own, out.Next = s0, s1
	case 1:
		s1, v0, v1 := draw3(0)
		help := make([]uint64, n)
		for i := range help {
			help[i] = selectWord(mask(bits.next[i]), v0[i], v1[i])
		}
		in, err := e.round("b2a", []msg{{2, u64sToBytes(help)}}, []int{0, 2}, []int{16 * n, 8 * n})
		if err != nil {
			return nil, err
		}
		m, w := bytesToU64s(in[0]), bytesToU64s(in[1])
		s2 := make([]uint64, n)
		for i := range s2 {
			s2[i] = selectWord(mask(bits.next[i]), m[i], m[n+i]) ^ w[i]
		}
		out.Own, out.Next = s1, s2
	default:
		s0, w0, w1 := draw3(1)
		help := make([]uint64, n)
		for i := range help {
			help[i] = selectWord(mask(bits.own[i]), w0[i], w1[i])
		}
		in, err := e.round("b2a", []msg{{1, u64sToBytes(help)}}, []int{0, 1}, []int{16 * n, 8 * n})
		if err != nil {
			return nil, err
		}
		m, v := bytesToU64s(in[0]), bytesToU64s(in[1])
		s2 := make([]uint64, n)
		for i := range s2 {
			s2[i] = selectWord(mask(bits.own[i]), m[i], m[n+i]) ^ v[i]
		}
		out.Own, out.Next = s2, s0
	}
	return out, nil
}

func (e *engine) LTZ(x *Share) (*Share, error) {
	if dm, ok := e.dcf(); ok {
		return e.lessFSS(dm, x, []uint64{0}, nil, x.Shape)
	}
	bits, err := e.msbBits(x)
	if err != nil {
		return nil, err
	}
	return e.b2a(x.Shape, bits)
}

func (e *engine) LessThan(x *Share, t []uint64, w *Tensor) (*Share, error) {
	if len(t) == 0 {
		return nil, fmt.Errorf("mpc: less than: no thresholds for the input of shape %v", x.Shape)
	}
	cols := len(t)
	if w != nil {
		if len(w.Shape) != 2 || w.Shape[0] != len(t) || w.Shape[1] == 0 || len(w.Data) != Numel(w.Shape) {
			return nil, fmt.Errorf("mpc: less than: map of shape %v for %d thresholds (want %d×c, c ≥ 1)", w.Shape, len(t), len(t))
		}
		cols = w.Shape[1]
	}
	shape := append(slices.Clone(x.Shape), cols)
	if dm, ok := e.dcf(); ok {
		return e.lessFSS(dm, x, t, w, shape)
	}
	// The circuit compares each difference on its own: LTZ of x − t_k, broadcast, then the map.
	n := x.Len()
	flat, err := Reshape(x, n, 1)
	if err != nil {
		return nil, err
	}
	wide, err := Broadcast(flat, n, len(t))
	if err != nil {
		return nil, err
	}
	neg := &Tensor{Shape: []int{len(t)}, Data: make([]uint64, len(t))}
	for k, tk := range t {
		neg.Data[k] = -tk
	}
	d, err := e.AddPublic(wide, neg)
	if err != nil {
		return nil, err
	}
	lt, err := e.LTZ(d)
	if err != nil {
		return nil, err
	}
	if w != nil {
		if lt, err = e.MatMulPublic(lt, w); err != nil {
			return nil, err
		}
	}
	return Reshape(lt, shape...)
}
