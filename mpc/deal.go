package mpc

// Correlated randomness ("material"). In 2pc the dealer (party 2) produces it; in 3pc, P2 deals
// truncation material to P0 and P1, which is secure because P2 never sees the values those two
// open with it. One mechanism serves both: each receiving party draws its random parts from the
// PRG stream it shares with the dealer; the dealer draws both parties' parts, derives the
// correlated values, and of each derived value P0's share is drawn from P0's stream while P1's
// share (the value minus P0's share, or XOR) is the only thing that travels, as offline bytes.

// dealSpec describes one batch of material.
type dealSpec struct {
	op      string
	rand    []int // sizes of the random parts each receiving party draws
	derived []int // sizes of the derived values
	xor     []bool
	// derive computes the derived values from both parties' random parts (dealer only).
	derive func(r0, r1 [][]uint64) [][]uint64
}

// dealt is what deal returns. At P0 and P1: rand and der are the party's parts. At the dealer:
// r0 and r1 are both parties' random parts and full the derived values.
type dealt struct {
	rand, der [][]uint64
	r0, r1    [][]uint64
	full      [][]uint64
}

// dealsHere reports whether this party produces material (the 2pc dealer, or P2 in 3pc).
func (e *engine) dealsHere() bool { return e.party == 2 }

func (e *engine) deal(s dealSpec) (*dealt, error) {
	draw := func(g interface{ Uint64s([]uint64) }, sizes []int) [][]uint64 {
		out := make([][]uint64, len(sizes))
		for i, n := range sizes {
			out[i] = make([]uint64, n)
			g.Uint64s(out[i])
		}
		return out
	}
	if e.dealsHere() {
		d := &dealt{}
		d.r0 = draw(e.dealStream[0], s.rand)
		d.r1 = draw(e.dealStream[1], s.rand)
		d.full = s.derive(d.r0, d.r1)
		p0 := draw(e.dealStream[0], s.derived)
		corr := make([][]uint64, len(s.derived))
		for i := range s.derived {
			c := make([]uint64, s.derived[i])
			for j := range c {
				if s.xor[i] {
					c[j] = d.full[i][j] ^ p0[i][j]
				} else {
					c[j] = d.full[i][j] - p0[i][j]
				}
			}
			corr[i] = c
		}
		if len(s.derived) > 0 {
			if err := e.sendMaterial(s.op, 1, corr...); err != nil {
				return nil, err
			}
		}
		return d, nil
	}
	d := &dealt{rand: draw(e.dealStream[0], s.rand)}
	switch e.party {
	case 0:
		d.der = draw(e.dealStream[0], s.derived)
	case 1:
		total := 0
		for _, n := range s.derived {
			total += n
		}
		if len(s.derived) > 0 {
			all, err := e.recvMaterial(s.op, 2, total)
			if err != nil {
				return nil, err
			}
			d.der = split(all, s.derived)
		}
	}
	return d, nil
}

// split cuts xs into consecutive pieces of the given sizes.
func split(xs []uint64, sizes []int) [][]uint64 {
	out := make([][]uint64, len(sizes))
	off := 0
	for i, n := range sizes {
		out[i] = xs[off : off+n : off+n]
		off += n
	}
	return out
}

// sum returns a + b element-wise.
func sum(a, b []uint64) []uint64 {
	out := make([]uint64, len(a))
	for i := range a {
		out[i] = a[i] + b[i]
	}
	return out
}

// xorOf returns a ^ b element-wise.
func xorOf(a, b []uint64) []uint64 {
	out := make([]uint64, len(a))
	for i := range a {
		out[i] = a[i] ^ b[i]
	}
	return out
}
