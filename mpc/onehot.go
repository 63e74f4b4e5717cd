package mpc

import (
	"fmt"
	"math/bits"
	"slices"
)

func (e *engine) OneHot(idx *Share, n int) (*Share, error) {
	if n <= 0 {
		return nil, fmt.Errorf("mpc: one-hot of length %d", n)
	}
	N := 1 << bits.Len(uint(n-1)) // power of two ≥ n
	cnt := idx.Len()
	shape := append(slices.Clone(idx.Shape), n)
	// Material: r uniform mod N (additive shares; only the low bits matter) and shares of the
	// one-hot vector of r.
	r, oh, err := e.mat.OneHotPair(cnt, N)
	if err != nil {
		return nil, err
	}
	out := &Share{Shape: shape}
	if e.dealer {
		return out, nil
	}
	// rotate builds this party's additive share of the one-hot of idx from the opened
	// c = idx − r mod N: onehot(idx)[j] = onehot(r)[(j − c) mod N].
	rotate := func(c []uint64) []uint64 {
		y := make([]uint64, cnt*n)
		for i := 0; i < cnt; i++ {
			for j := 0; j < n; j++ {
				y[i*n+j] = oh[i*N+int((uint64(j)-c[i])&uint64(N-1))]
			}
		}
		return y
	}
	if e.proto == TwoPC {
		u := make([]uint64, cnt)
		for i := range u {
			u[i] = idx.Own[i] - r[i]
		}
		other := 1 - e.party
		in, err := e.round("onehot", []msg{{other, u64sToBytes(u)}}, []int{other}, []int{8 * cnt})
		if err != nil {
			return nil, err
		}
		out.Own = rotate(sum(u, bytesToU64s(in[0])))
		return out, nil
	}
	// 3pc: P0 and P1 learn c = idx − r, then reshare.
	u := e.zeroShare(cnt)
	for i := range u {
		u[i] += idx.Own[i]
		if e.party != 2 {
			u[i] -= r[i]
		}
	}
	return e.openToPairAndReshare("onehot", shape, u, rotate)
}

// openToPairAndReshare is the second half of the 3pc protocols that P2 deals (truncation,
// one-hot). P0 and P1 pass u_j = z_j ± r_j (their part of a 3-out-of-3 sharing z, masked with
// their dealt share of r) and P2 passes z_2; in one round P0 and P1 exchange u and P2 sends z_2
// to both, so P0 and P1 learn the masked value c = Σ u_j + z_2 (r = r_0 + r_1 is unknown to
// both; P2 never sees c). finish maps c to P_j's additive share (m elements, shape's) of the result, and a
// second round makes it replicated: s_0 = F(k_0), s_2 = F(k_2), s_1 = (y_0 − s_0) + (y_1 − s_2).
// P0, P1: 2 rounds, 8·(n+m) bytes sent; P2: 1 round, 16·n bytes sent.
func (e *engine) openToPairAndReshare(op string, shape []int, u []uint64, finish func(c []uint64) []uint64) (*Share, error) {
	n := len(u)
	if e.party == 2 {
		b := u64sToBytes(u)
		if _, err := e.round(op, []msg{{0, b}, {1, b}}, nil, nil); err != nil {
			return nil, err
		}
		return e.replicate(op, shape, nil)
	}
	other := 1 - e.party
	in, err := e.round(op, []msg{{other, u64sToBytes(u)}}, []int{other, 2}, []int{8 * n, 8 * n})
	if err != nil {
		return nil, err
	}
	uo, z2 := bytesToU64s(in[0]), bytesToU64s(in[1])
	c := make([]uint64, n)
	for i := range c {
		c[i] = u[i] + uo[i] + z2[i]
	}
	return e.replicate(op, shape, finish(c))
}

// replicate turns P0's and P1's additive shares y (m elements each, y_0 + y_1 = v; P2 passes
// nil) into a replicated sharing of v in one round: s_0 = F(k_0) and s_2 = F(k_2), which P2
// draws too, and s_1 = (y_0 − s_0) + (y_1 − s_2), which P0 and P1 exchange. P0, P1: 1 round,
// 8·m bytes sent; P2: nothing.
func (e *engine) replicate(op string, shape []int, y []uint64) (*Share, error) {
	m := Numel(shape)
	out := &Share{Shape: slices.Clone(shape)}
	draw := func(j int) []uint64 {
		r := make([]uint64, m)
		e.zero[j].Uint64s(r)
		return r
	}
	if e.party == 2 {
		// s_2 from k_2 (P2's own key), s_0 from k_0 (P2's next key).
		out.Own, out.Next = draw(0), draw(1)
		return out, nil
	}
	// P0 masks with s_0 = F(k_0) (its own key), P1 with s_2 = F(k_2) (its next key).
	var s []uint64
	if e.party == 0 {
		s = draw(0)
	} else {
		s = draw(1)
	}
	// A y of the wrong length (a failed finish of openToPairAndReshare) goes out as a short
	// message, which the peer rejects; the caller reports its own error.
	u := make([]uint64, min(len(y), m))
	for i := range u {
		u[i] = y[i] - s[i]
	}
	other := 1 - e.party
	in, err := e.round(op, []msg{{other, u64sToBytes(u)}}, []int{other}, []int{8 * m})
	if err != nil {
		return nil, err
	}
	s1 := sum(u, bytesToU64s(in[0]))
	if e.party == 0 {
		out.Own, out.Next = s, s1
	} else {
		out.Own, out.Next = s1, s
	}
	return out, nil
}
