package mpc

import (
	"fmt"
	"slices"
)

// The two-party view of a 3pc engine. Comparison-heavy protocols (tournaments, top-k) cost
// less in 2pc with a dealer than on replicated shares: the bits of a comparison stay additive
// between P0 and P1 (3pc reshares every one of them), products take a dealt triple, and
// fixed operands are reused. P2 already deals the comparison keys of 3pc, so the view makes it
// the dealer of a 2pc engine between P0 and P1 on the same links and the same PRG streams
// (those P2 shares with each of them, and the P0–P1 key k_1), which every party consumes in
// program order. The trust model is unchanged: P2 learns nothing (it deals, and receives no
// online message in the view), and P0 and P1 see only values masked by P2's material, as in
// 3pc's FSS comparisons, which already rest on P2 not colluding.

// newPair returns the two-party view of a 3pc engine e (after setup3pc).
func newPair(e *engine) *engine {
	p := &engine{proto: TwoPC, party: e.party, cfg: e.cfg, t: e.t, meter: e.meter, ctx: e.ctx,
		dealer: e.party == 2, dealStream: e.dealStream}
	switch e.party {
	case 0:
		p.peer = e.input[1] // k_1, P0's next key
	case 1:
		p.peer = e.input[0] // k_1, P1's own key
	}
	p.mat = dealerMaterial{p}
	p.pair = p
	return p
}

func (e *engine) Pair() Engine { return e.pair }

func (e *engine) ToPair(x *Share) (*Share, error) {
	if e.proto == TwoPC {
		return x, nil
	}
	if err := e.checkData("to pair", x); err != nil {
		return nil, err
	}
	out := &Share{Shape: slices.Clone(x.Shape)}
	switch e.party {
	case 0:
		out.Own = sum(x.Own, x.Next) // x_0 + x_1
	case 1:
		out.Own = slices.Clone(x.Next) // x_2
	}
	return out, nil
}

func (e *engine) FromPair(x *Share) (*Share, error) {
	if e.proto == TwoPC {
		return x, nil
	}
	if err := validShape(x.Shape); err != nil {
		return nil, fmt.Errorf("mpc: from pair: %w", err)
	}
	if e.party != 2 && len(x.Own) != x.Len() {
		return nil, fmt.Errorf("mpc: from pair: share of %d elements for shape %v", len(x.Own), x.Shape)
	}
	return e.replicate("from pair", x.Shape, x.Own)
}

func (e *engine) MatMulPair(x, y *Share) (*Share, error) {
	if e.proto == TwoPC {
		return e.MatMul(x, y)
	}
	x, y, batch, m, k, n, shape, err := matDims(x, y)
	if err != nil {
		return nil, err
	}
	// The local products z_i carry a fresh zero sharing (localMatMul), so z_2 is uniform to
	// P1, which learns it: P0 keeps z_0, P1 takes z_1 + z_2, P2 keeps nothing (the view's dealer).
	z := e.localMatMul(x, shareFactor(y, k, n), batch, m, k, n)
	out := &Share{Shape: shape}
	switch e.party {
	case 0:
		out.Own = z
	case 1:
		in, err := e.round("matmul", nil, []int{2}, []int{8 * len(z)})
		if err != nil {
			return nil, err
		}
		out.Own = sum(z, bytesToU64s(in[0]))
	case 2:
		if _, err := e.round("matmul", []msg{{1, u64sToBytes(z)}}, nil, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkData rejects a 3pc share whose data does not match its shape.
func (e *engine) checkData(op string, x *Share) error {
	if err := validShape(x.Shape); err != nil {
		return fmt.Errorf("mpc: %s: %w", op, err)
	}
	if n := x.Len(); len(x.Own) != n || len(x.Next) != n {
		return fmt.Errorf("mpc: %s: replicated share of %d/%d elements for shape %v", op, len(x.Own), len(x.Next), x.Shape)
	}
	return nil
}
