package mpc

import (
	"fmt"
	"slices"

	"github.com/privinfer/mpcache/mpc/prg"
)

// Split secret-shares a tensor held outside the computation (by the client or the model owner)
// into one share per party, indexed by party number, with randomness from crypto/rand. In 2pc,
// entry 2 is the dealer's shape-only share.
func Split(p Protocol, t *Tensor) ([]*Share, error) {
	seed, err := prg.NewSeed()
	if err != nil {
		return nil, err
	}
	return SplitWith(p, t, prg.New(seed))
}

// SplitWith is Split with the randomness drawn from g; tests use it with a fixed seed.
func SplitWith(p Protocol, t *Tensor, g *prg.PRG) ([]*Share, error) {
	if t == nil || len(t.Data) != Numel(t.Shape) {
		return nil, fmt.Errorf("mpc: split: tensor is missing or malformed")
	}
	n := len(t.Data)
	rnd := func() []uint64 {
		r := make([]uint64, n)
		g.Uint64s(r)
		return r
	}
	mk := func(own, next []uint64) *Share {
		return &Share{Shape: slices.Clone(t.Shape), Own: own, Next: next}
	}
	switch p {
	case TwoPC:
		x0 := rnd()
		x1 := make([]uint64, n)
		for i := range x1 {
			x1[i] = t.Data[i] - x0[i]
		}
		return []*Share{mk(x0, nil), mk(x1, nil), mk(nil, nil)}, nil
	case ThreePC:
		x0, x1 := rnd(), rnd()
		x2 := make([]uint64, n)
		for i := range x2 {
			x2[i] = t.Data[i] - x0[i] - x1[i]
		}
		return []*Share{mk(x0, x1), mk(x1, x2), mk(x2, x0)}, nil
	}
	return nil, fmt.Errorf("mpc: split: unknown protocol %q", p)
}

// Reconstruct recombines the shares of every computing party into the secret (the client's
// side of an output). 2pc needs the shares of P0 and P1; 3pc needs any two consecutive parties'
// shares but checks all three for consistency when given.
func Reconstruct(p Protocol, shares []*Share) (*Tensor, error) {
	switch p {
	case TwoPC:
		if len(shares) < 2 || shares[0] == nil || shares[1] == nil {
			return nil, fmt.Errorf("mpc: reconstruct: 2pc needs the shares of P0 and P1")
		}
		if err := sameShape("reconstruct", shares[0], shares[1]); err != nil {
			return nil, err
		}
		if len(shares[0].Own) != shares[0].Len() || len(shares[1].Own) != shares[1].Len() {
			return nil, fmt.Errorf("mpc: reconstruct: share data does not match shape %v", shares[0].Shape)
		}
		return &Tensor{Shape: slices.Clone(shares[0].Shape), Data: sum(shares[0].Own, shares[1].Own)}, nil
	case ThreePC:
		if len(shares) < 2 || shares[0] == nil || shares[1] == nil {
			return nil, fmt.Errorf("mpc: reconstruct: 3pc needs the shares of P0 and P1")
		}
		a, b := shares[0], shares[1]
		if err := sameShape("reconstruct", a, b); err != nil {
			return nil, err
		}
		n := a.Len()
		if len(a.Own) != n || len(a.Next) != n || len(b.Own) != n || len(b.Next) != n {
			return nil, fmt.Errorf("mpc: reconstruct: share data does not match shape %v", a.Shape)
		}
		for i := range a.Next {
			if a.Next[i] != b.Own[i] {
				return nil, fmt.Errorf("mpc: reconstruct: P0's and P1's shares of x_1 disagree at element %d", i)
			}
		}
		if len(shares) > 2 && shares[2] != nil {
			c := shares[2]
			if len(c.Own) != n || len(c.Next) != n || !slices.Equal(c.Own, b.Next) || !slices.Equal(c.Next, a.Own) {
				return nil, fmt.Errorf("mpc: reconstruct: P2's share disagrees with P0's and P1's")
			}
		}
		return &Tensor{Shape: slices.Clone(a.Shape), Data: sum(sum(a.Own, a.Next), b.Next)}, nil
	}
	return nil, fmt.Errorf("mpc: reconstruct: unknown protocol %q", p)
}
