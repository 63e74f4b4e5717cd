package mpc

import (
	"fmt"
	"slices"
)

// prev and next are the neighbours of this party in the 3pc ring.
func (e *engine) prev() int { return (e.party + 2) % 3 }
func (e *engine) next() int { return (e.party + 1) % 3 }

// zeroShare returns this party's part of a fresh 3-out-of-3 sharing of zero:
// α_i = F(k_i) − F(k_{i+1}).
func (e *engine) zeroShare(n int) []uint64 {
	a, b := make([]uint64, n), make([]uint64, n)
	e.zero[0].Uint64s(a)
	e.zero[1].Uint64s(b)
	for i := range a {
		a[i] -= b[i]
	}
	return a
}

func (e *engine) Input(owner int, x *Tensor, shape []int) (*Share, error) {
	if x != nil && e.party == owner {
		shape = x.Shape
		if len(x.Data) != Numel(shape) {
			return nil, fmt.Errorf("mpc: input: tensor data of %d elements for shape %v", len(x.Data), shape)
		}
	}
	if err := validShape(shape); err != nil {
		return nil, fmt.Errorf("mpc: input: %w", err)
	}
	if e.party == owner && x == nil {
		return nil, fmt.Errorf("mpc: input: party %d owns the input but passed no tensor", owner)
	}
	n := Numel(shape)
	out := &Share{Shape: slices.Clone(shape)}
	switch e.proto {
	case TwoPC:
		if owner != 0 && owner != 1 {
			return nil, fmt.Errorf("mpc: input: party %d cannot input in 2pc", owner)
		}
		if e.dealer {
			return out, nil
		}
		r := make([]uint64, n)
		e.peer.Uint64s(r) // the non-owner's share
		if e.party == owner {
			for i := range r {
				r[i] = x.Data[i] - r[i]
			}
		}
		out.Own = r
		return out, nil
	case ThreePC:
		if owner < 0 || owner > 2 {
			return nil, fmt.Errorf("mpc: input: no party %d", owner)
		}
		// Components: c_o and c_{o+1} from the streams of k_o and k_{o+1}; the owner sends
		// c_{o+2} = x − c_o − c_{o+1} to its two peers.
		draw := func(j int) []uint64 {
			r := make([]uint64, n)
			e.input[j].Uint64s(r)
			return r
		}
		switch e.party {
		case owner:
			out.Own, out.Next = draw(0), draw(1)
			c := make([]uint64, n)
			for i := range c {
				c[i] = x.Data[i] - out.Own[i] - out.Next[i]
			}
			b := u64sToBytes(c)
			_, err := e.round("input", []msg{{e.next(), b}, {e.prev(), b}}, nil, nil)
			if err != nil {
				return nil, err
			}
		case (owner + 1) % 3:
			out.Own = draw(0)
			in, err := e.round("input", nil, []int{owner}, []int{8 * n})
			if err != nil {
				return nil, err
			}
			out.Next = bytesToU64s(in[0])
		default:
			in, err := e.round("input", nil, []int{owner}, []int{8 * n})
			if err != nil {
				return nil, err
			}
			out.Own = bytesToU64s(in[0])
			out.Next = draw(1)
		}
		return out, nil
	}
	return nil, fmt.Errorf("mpc: input: unknown protocol")
}

func (e *engine) Open(x *Share) (*Tensor, error) {
	n := x.Len()
	out := &Tensor{Shape: slices.Clone(x.Shape)}
	switch {
	case e.dealer:
		out.Data = make([]uint64, n)
		return out, nil
	case e.proto == TwoPC:
		other := 1 - e.party
		in, err := e.round("open", []msg{{other, u64sToBytes(x.Own)}}, []int{other}, []int{8 * n})
		if err != nil {
			return nil, err
		}
		out.Data = sum(x.Own, bytesToU64s(in[0]))
	default:
		in, err := e.round("open", []msg{{e.prev(), u64sToBytes(x.Next)}}, []int{e.next()}, []int{8 * n})
		if err != nil {
			return nil, err
		}
		out.Data = sum(sum(x.Own, x.Next), bytesToU64s(in[0]))
	}
	return out, nil
}

func (e *engine) OpenTo(to int, x *Share) (*Tensor, error) {
	n := x.Len()
	switch {
	case to < 0 || to > 2 || e.proto == TwoPC && to == Dealer:
		return nil, fmt.Errorf("mpc: open to party %d: not a computing party", to)
	case e.dealer:
		return nil, nil
	case e.proto == TwoPC:
		if e.party != to {
			_, err := e.round("open to", []msg{{to, u64sToBytes(x.Own)}}, nil, nil)
			return nil, err
		}
		in, err := e.round("open to", nil, []int{1 - to}, []int{8 * n})
		if err != nil {
			return nil, err
		}
		return &Tensor{Shape: slices.Clone(x.Shape), Data: sum(x.Own, bytesToU64s(in[0]))}, nil
	default:
		// Party to misses x_{to+2}, which party to+1 holds as Next.
		switch e.party {
		case to:
			in, err := e.round("open to", nil, []int{e.next()}, []int{8 * n})
			if err != nil {
				return nil, err
			}
			return &Tensor{Shape: slices.Clone(x.Shape), Data: sum(sum(x.Own, x.Next), bytesToU64s(in[0]))}, nil
		case (to + 1) % 3:
			_, err := e.round("open to", []msg{{to, u64sToBytes(x.Next)}}, nil, nil)
			return nil, err
		}
		return nil, nil
	}
}

// broadcastPair expands x and y to their common shape.
func broadcastPair(op string, x, y *Share) (*Share, *Share, error) {
	shape, err := broadcastShape(x.Shape, y.Shape)
	if err != nil {
		return nil, nil, fmt.Errorf("mpc: %s: %w", op, err)
	}
	if !slices.Equal(x.Shape, shape) {
		x = remap(x, shape, broadcastIndex(x.Shape, shape))
	}
	if !slices.Equal(y.Shape, shape) {
		y = remap(y, shape, broadcastIndex(y.Shape, shape))
	}
	return x, y, nil
}

func (e *engine) Mul(x, y *Share) (*Share, error) {
	x, y, err := broadcastPair("mul", x, y)
	if err != nil {
		return nil, err
	}
	if e.proto == TwoPC {
		return e.beaverMul(x, y)
	}
	return e.reshare("mul", x.Shape, e.localMul(x, y))
}

func (e *engine) MulTrunc(x, y *Share) (*Share, error) { return e.MulTruncBits(x, y, e.cfg.Frac) }

func (e *engine) MulTruncBits(x, y *Share, bits uint) (*Share, error) {
	if bits == 0 {
		return e.Mul(x, y)
	}
	if bits >= 62 {
		return nil, fmt.Errorf("mpc: truncation by %d bits is out of range", bits)
	}
	x, y, err := broadcastPair("mul", x, y)
	if err != nil {
		return nil, err
	}
	if e.proto == TwoPC {
		z, err := e.beaverMul(x, y)
		if err != nil {
			return nil, err
		}
		return e.trunc2(z, bits)
	}
	return e.truncReshare("mul", x.Shape, e.localMul(x, y), bits)
}

// Comparison resolves Config.Comparison: CompareFSS when LTZ uses the material's DCF keys.
func (e *engine) Comparison() Comparison {
	if _, ok := e.dcf(); ok {
		return CompareFSS
	}
	return CompareCircuit
}

// localMul is 3pc's local product: z_i = x_i·y_i + x_i·y_{i+1} + x_{i+1}·y_i + α_i, a
// 3-out-of-3 sharing of x·y.
func (e *engine) localMul(x, y *Share) []uint64 {
	z := e.zeroShare(x.Len())
	for i := range z {
		z[i] += x.Own[i]*(y.Own[i]+y.Next[i]) + x.Next[i]*y.Own[i]
	}
	return z
}

// reshare turns a 3-out-of-3 sharing z into replicated shares: each party sends z_i to its
// previous neighbour. 1 round, 8 bytes per element.
func (e *engine) reshare(op string, shape []int, z []uint64) (*Share, error) {
	in, err := e.round(op, []msg{{e.prev(), u64sToBytes(z)}}, []int{e.next()}, []int{8 * len(z)})
	if err != nil {
		return nil, err
	}
	return &Share{Shape: slices.Clone(shape), Own: z, Next: bytesToU64s(in[0])}, nil
}

// beaverMul is 2pc's element-wise product with a dealt triple (a, b, c = a·b): open
// E = x − a and F = y − b, then z_j = E·b_j + F·a_j + c_j (+ E·F at P0).
func (e *engine) beaverMul(x, y *Share) (*Share, error) {
	n := x.Len()
	if (x.mask != nil || y.mask != nil) && e.ReusesFixed() {
		// A fixed operand (Fix) brings its own mask and opened difference: the product is a
		// batch of n 1×1 matrix products, whose triple the dealer derives from that mask, and
		// only the other operand is opened (nothing, when both are fixed).
		return e.beaverMatMul("mul", x, shareFactor(y, 1, 1), n, 1, 1, 1, slices.Clone(x.Shape))
	}
	a, b, c, err := e.mat.Triple(n)
	if err != nil {
		return nil, err
	}
	out := &Share{Shape: slices.Clone(x.Shape)}
	if e.dealer {
		return out, nil
	}
	ef := make([]uint64, 2*n)
	for i := 0; i < n; i++ {
		ef[i] = x.Own[i] - a[i]
		ef[n+i] = y.Own[i] - b[i]
	}
	other := 1 - e.party
	in, err := e.round("mul", []msg{{other, u64sToBytes(ef)}}, []int{other}, []int{16 * n})
	if err != nil {
		return nil, err
	}
	o := bytesToU64s(in[0])
	z := make([]uint64, n)
	for i := range z {
		E, F := ef[i]+o[i], ef[n+i]+o[n+i]
		z[i] = E*b[i] + F*a[i] + c[i]
		if e.party == 0 {
			z[i] += E * F
		}
	}
	out.Own = z
	return out, nil
}

func (e *engine) Select(c, a, b *Share) (*Share, error) {
	d, err := e.Sub(a, b)
	if err != nil {
		return nil, fmt.Errorf("mpc: select: %w", err)
	}
	m, err := e.Mul(c, d)
	if err != nil {
		return nil, err
	}
	return e.Add(b, m)
}

func (e *engine) Trunc(x *Share, bits uint) (*Share, error) {
	if bits == 0 {
		return x, nil
	}
	if bits >= 62 {
		return nil, fmt.Errorf("mpc: truncation by %d bits is out of range", bits)
	}
	if e.proto == ThreePC {
		z := e.zeroShare(x.Len())
		for i := range z {
			z[i] += x.Own[i]
		}
		return e.truncReshare("trunc", x.Shape, z, bits)
	}
	return e.trunc2(x, bits)
}

// truncOffset keeps values non-negative for the known-MSB truncation: x + 2^62 ∈ [0, 2^63)
// for |x| < 2^62.
const truncOffset = uint64(1) << 62

// truncFinish computes P_j's additive share of x >> bits from the opened c = x + 2^62 + r:
// (c >> bits) − 2^(62−bits) − (r >> bits) + MSB(r)·(1 − MSB(c))·2^(64−bits), the last term
// correcting the wrap of c (Escudero et al., truncation with a known MSB). Error: at most one
// unit in the last place.
func truncFinish(party int, c, hi, msb []uint64, bits uint) []uint64 {
	y := make([]uint64, len(c))
	for i := range y {
		v := -hi[i] + (1-c[i]>>63)*msb[i]<<(64-bits)
		if party == 0 {
			v += c[i]>>bits - truncOffset>>bits
		}
		y[i] = v
	}
	return y
}

// trunc2 is 2pc truncation: open c = x + 2^62 + r (1 round), finish locally.
func (e *engine) trunc2(x *Share, bits uint) (*Share, error) {
	n := x.Len()
	r, hi, msb, err := e.mat.Trunc(n, bits)
	if err != nil {
		return nil, err
	}
	out := &Share{Shape: slices.Clone(x.Shape)}
	if e.dealer {
		return out, nil
	}
	c := make([]uint64, n)
	for i := range c {
		c[i] = x.Own[i] + r[i]
		if e.party == 0 {
			c[i] += truncOffset
		}
	}
	other := 1 - e.party
	in, err := e.round("trunc", []msg{{other, u64sToBytes(c)}}, []int{other}, []int{8 * n})
	if err != nil {
		return nil, err
	}
	o := bytesToU64s(in[0])
	for i := range c {
		c[i] += o[i]
	}
	out.Own = truncFinish(e.party, c, hi, msb, bits)
	return out, nil
}

// truncReshare is 3pc truncation of a 3-out-of-3 sharing z, dealt by P2: P0 and P1 learn
// c = z + 2^62 + r and finish as in 2pc, then reshare (see openToPairAndReshare). 2 rounds.
func (e *engine) truncReshare(op string, shape []int, z []uint64, bits uint) (*Share, error) {
	r, hi, msb, err := e.mat.Trunc(len(z), bits)
	if err != nil {
		return nil, err
	}
	if e.party != 2 {
		for i := range z {
			z[i] += r[i]
			if e.party == 0 {
				z[i] += truncOffset
			}
		}
	}
	return e.openToPairAndReshare(op, shape, z, func(c []uint64) []uint64 {
		return truncFinish(e.party, c, hi, msb, bits)
	})
}

func (e *engine) Fix(xs ...*Share) ([]*Share, error) {
	out := slices.Clone(xs)
	if e.proto == ThreePC {
		for i, x := range xs {
			if x.mask == nil {
				out[i] = &Share{Shape: slices.Clone(x.Shape), Own: x.Own, Next: x.Next, mask: &fixedMask{s: sum(x.Own, x.Next)}}
			}
		}
		return out, nil
	}
	var todo []int
	n := 0
	for i, x := range xs {
		if x.mask == nil {
			todo = append(todo, i)
			n += x.Len()
		}
	}
	if len(todo) == 0 {
		return out, nil
	}
	m, err := e.mat.Mask(n)
	if err != nil {
		return nil, err
	}
	if e.dealer {
		off := 0
		for _, i := range todo {
			k := xs[i].Len()
			out[i] = &Share{Shape: slices.Clone(xs[i].Shape), mask: &fixedMask{m: m[off : off+k : off+k]}}
			off += k
		}
		return out, nil
	}
	dx := make([]uint64, 0, n)
	for _, i := range todo {
		dx = append(dx, xs[i].Own...)
	}
	for j := range dx {
		dx[j] -= m[j]
	}
	other := 1 - e.party
	in, err := e.round("fix", []msg{{other, u64sToBytes(dx)}}, []int{other}, []int{8 * n})
	if err != nil {
		return nil, err
	}
	d := sum(dx, bytesToU64s(in[0]))
	off := 0
	for _, i := range todo {
		k := xs[i].Len()
		out[i] = &Share{Shape: slices.Clone(xs[i].Shape), Own: xs[i].Own,
			mask: &fixedMask{m: m[off : off+k : off+k], d: d[off : off+k : off+k]}}
		off += k
	}
	return out, nil
}

// matDims checks a batched product x·y and returns the batch count and m, k, n after bringing
// both operands to the same batch shape (a rank-2 y is shared by every batch of x, which is
// folded into rows).
func matDims(x, y *Share) (bx, by *Share, batch, m, k, n int, shape []int, err error) {
	rx, ry := len(x.Shape), len(y.Shape)
	if rx < 2 || ry < 2 || x.Shape[rx-1] != y.Shape[ry-2] {
		return nil, nil, 0, 0, 0, 0, nil, fmt.Errorf("mpc: matmul: shapes %v and %v do not multiply", x.Shape, y.Shape)
	}
	k, n = x.Shape[rx-1], y.Shape[ry-1]
	if ry == 2 {
		m = Numel(x.Shape[:rx-1])
		shape = append(slices.Clone(x.Shape[:rx-1]), n)
		return x, y, 1, m, k, n, shape, nil
	}
	bs, err := broadcastShape(x.Shape[:rx-2], y.Shape[:ry-2])
	if err != nil {
		return nil, nil, 0, 0, 0, 0, nil, fmt.Errorf("mpc: matmul: batch %w", err)
	}
	m = x.Shape[rx-2]
	xs := append(slices.Clone(bs), m, k)
	ys := append(slices.Clone(bs), k, n)
	if !slices.Equal(x.Shape, xs) {
		x = remap(x, xs, broadcastIndex(x.Shape, xs))
	}
	if !slices.Equal(y.Shape, ys) {
		y = remap(y, ys, broadcastIndex(y.Shape, ys))
	}
	shape = append(slices.Clone(bs), m, n)
	return x, y, Numel(bs), m, k, n, shape, nil
}

func (e *engine) MatMul(x, y *Share) (*Share, error) {
	return e.MatMulTruncBits(x, y, 0)
}

func (e *engine) MatMulTrunc(x, y *Share) (*Share, error) {
	return e.MatMulTruncBits(x, y, e.cfg.Frac)
}

func (e *engine) MatMulTruncBits(x, y *Share, bits uint) (*Share, error) {
	x, y, batch, m, k, n, shape, err := matDims(x, y)
	if err != nil {
		return nil, err
	}
	return e.product(x, shareFactor(y, k, n), batch, m, k, n, shape, bits)
}

func (e *engine) MatMulRows(x *Share, r *Rows, transposed bool, bits uint) (*Share, error) {
	f, m, k, n, err := r.factor(x, transposed)
	if err != nil {
		return nil, err
	}
	return e.product(x, f, r.batch, m, k, n, []int{r.batch, m, n}, bits)
}

// product is the batched matrix product x·y truncated by bits (0: none), of the given shape:
// 2pc a Beaver product then (bits > 0) a truncation; 3pc the local products reshared, fused
// with the truncation.
func (e *engine) product(x *Share, y factor, batch, m, k, n int, shape []int, bits uint) (*Share, error) {
	if bits >= 62 {
		return nil, fmt.Errorf("mpc: truncation by %d bits is out of range", bits)
	}
	if e.proto == TwoPC {
		z, err := e.beaverMatMul("matmul", x, y, batch, m, k, n, shape)
		if err != nil || bits == 0 {
			return z, err
		}
		return e.trunc2(z, bits)
	}
	z := e.localMatMul(x, y, batch, m, k, n)
	if bits == 0 {
		return e.reshare("matmul", shape, z)
	}
	return e.truncReshare("matmul", shape, z, bits)
}

// localMatMul is 3pc's local product Z_i = X_i·(Y_i + Y_{i+1}) + X_{i+1}·Y_i + α_i (the sum
// comes precomputed with a fixed y).
func (e *engine) localMatMul(x *Share, y factor, batch, m, k, n int) []uint64 {
	z := y.times(x.Own, y.sum(), batch, m, k, n)
	y.timesAdd(z, x.Next, y.own, batch, m, k, n)
	a := e.zeroShare(len(z))
	for i := range z {
		z[i] += a[i]
	}
	return z
}

// beaverMatMul is 2pc's matrix product with a dealt matrix triple (A, B, C = A·B):
// open E = X − A and F = Y − B, then Z_j = E·Y_j + A_j·F + C_j. An operand with a fixed mask
// (see Fix) supplies its own mask and opened difference, so only the other operand is opened.
func (e *engine) beaverMatMul(op string, x *Share, y factor, batch, m, k, n int, shape []int) (*Share, error) {
	nx, ny := batch*m*k, batch*k*n
	var maskA []uint64
	if x.mask != nil {
		maskA = x.mask.m
	}
	a, b, c, err := e.matrixTriple(batch, m, k, n, maskA, y)
	if err != nil {
		return nil, err
	}
	out := &Share{Shape: shape}
	if e.dealer {
		return out, nil
	}
	var E, F []uint64
	var send []uint64
	if x.mask == nil {
		E = make([]uint64, nx)
		for j := range E {
			E[j] = x.Own[j] - a[j]
		}
		send = append(send, E...)
	} else {
		a, E = x.mask.m, x.mask.d
	}
	if y.mask == nil { // then y is a packed Share's factor
		F = make([]uint64, ny)
		for j := range F {
			F[j] = y.own[j] - b[j]
		}
		send = append(send, F...)
	} else {
		F = y.mask.d
	}
	if len(send) > 0 {
		other := 1 - e.party
		in, err := e.round(op, []msg{{other, u64sToBytes(send)}}, []int{other}, []int{8 * len(send)})
		if err != nil {
			return nil, err
		}
		o := bytesToU64s(in[0])
		off := 0
		if x.mask == nil {
			for j := range E {
				E[j] += o[j]
			}
			off = nx
		}
		if y.mask == nil {
			for j := range F {
				F[j] += o[off+j]
			}
		}
	}
	z := c
	y.timesAdd(z, E, y.own, batch, m, k, n)
	y.timesAdd(z, a, F, batch, m, k, n)
	out.Own = z
	return out, nil
}

// matrixTriple is MatrixTriple with y's fixed mask (if any) as B, read in y's layout: the
// dealer's material reads it in place; another material gets a packed copy.
func (e *engine) matrixTriple(batch, m, k, n int, maskA []uint64, y factor) (a, b, c []uint64, err error) {
	var maskB []uint64
	if y.mask != nil {
		maskB = y.mask.m
	}
	if maskB == nil || y.packed(k, n) {
		return e.mat.MatrixTriple(batch, m, k, n, maskA, maskB)
	}
	if dm, ok := e.mat.(dealerMaterial); ok {
		return dm.matrixTriple(batch, m, k, n, maskA, maskB, y)
	}
	return e.mat.MatrixTriple(batch, m, k, n, maskA, y.pack(maskB, batch, k, n))
}
