package protocols

import (
	"fmt"
	"slices"

	"github.com/privinfer/mpcache/mpc"
)

// TopKOptions refines TopKWith and TopKMask. The zero value means plain top-k.
type TopKOptions struct {
	// Force lists public positions along the last axis that are always selected and rank
	// first, in increasing position order, ahead of every other element whatever its value
	// (MPCache's sink cluster 0 and newest cluster). Positions must be distinct and in range,
	// and there may be at most k of them. Forced positions are never compared, so forcing f of
	// n positions leaves (n−f)(n−f−1)/2 comparisons per row.
	Force []int
	// Eligible, when set, is a secret 0/1 mask (plain ring integers) of x's shape. Ineligible
	// elements rank after every eligible one (they are selected only when fewer than
	// k − len(Force) are eligible), in their own order by value and position. Applying it is
	// local: x − (1 − Eligible)·2^60, which needs |x| < 2^59 as ring integers (real values below
	// 2^43 at 16 fractional bits). Forced positions are selected whether eligible or not.
	Eligible *mpc.Share
}

// eligiblePenalty is subtracted from ineligible elements.
const eligiblePenalty = uint64(1) << 60

// TopK selects the k largest elements along the last axis of x, for a public k in [1, n]. It
// returns sel, of shape x.Shape[:-1] + [k, n], whose row r is the one-hot (plain ring integers
// 0/1) of the position of the r-th largest element, and idx, of shape x.Shape[:-1] + [k], the
// positions themselves. Exact, for |x| < 2^62 as ring integers (real values below 2^46 at 16
// fractional bits); equal values rank by position, lower first. Fully oblivious: the rounds and
// message sizes depend on the shapes only and nothing is opened but uniformly masked values.
//
// It compares every pair of a row in one LTZ batch, n(n−1)/2 comparisons, ranks each element
// by a local sum of the comparison bits (rank_i = the number of elements that beat i), and turns
// ranks into one-hot rows with one engine OneHot; row r of sel takes column r of them and idx
// is a local weighted sum of sel. For k = 1, Argmax costs fewer bytes and more rounds.
//
// Cost, as measured (TestTopKCost), whatever n and k: by FSS comparisons (the default) 2 rounds
// in 2pc and 3 in 3pc; by the circuit 9 and 10. Per input element ((n−1)/2 comparisons and one
// one-hot), with N = 2^ceil(log2 n) and w = max(k, N/2 + 1), bytes online per party and offline
// (material to P1, the most of any party):
//
//	          online (P0)             offline
//	2pc FSS   4·(n−1) + 8             764·(n−1) + 8·N
//	3pc FSS   4·(n−1) + 8 + 8·k       764·(n−1) + 8·N
//	2pc circ  92.0625·(n−1) + 8       52·(n−1) + 8·N
//	3pc circ  84·(n−1) + 8 + 8·w      8·N
//
// In 3pc with FSS comparisons the ranking runs on the engine's two-party view (see Argmax),
// and only the k selection rows come back (8·k bytes per element at P0 and P1; P2 sends
// nothing); the replicated form cost 8·(n−1) + 8 + 8·w and 4 rounds. (P1 also gets a 16-byte
// key per 4096 FSS comparisons; in 3pc by the circuit P1 and P2 send 52·(n−1) + 8 + 8·w.) For
// 12 heads, top 16 of 64: 260 B (2pc FSS), 388 (3pc FSS), 5,808 (2pc circuit), 5,564 (3pc
// circuit) online per element, offline 48,644, 48,644, 3,788 and 512; top 32 of 128: 516, 772,
// 11,700 and 11,196 online, offline 98,052, 98,052, 7,628 and 1,024. By FSS the material
// dominates: 150 MB for top 32 of 128 over 12 heads.
func TopK(e mpc.Engine, x *mpc.Share, k int) (sel, idx *mpc.Share, err error) {
	return TopKWith(e, x, k, TopKOptions{})
}

// TopKWith is TopK with options: forced positions and a secret eligibility mask. Rows 0 to
// len(Force)−1 of sel select the forced positions, in increasing order; the other rows rank the
// remaining elements as TopK does. Forcing k positions costs nothing (the selection is public).
func TopKWith(e mpc.Engine, x *mpc.Share, k int, opt TopKOptions) (sel, idx *mpc.Share, err error) {
	const op = "top-k"
	x2, rows, n, err := rowsOf(op, x)
	if err != nil {
		return nil, nil, err
	}
	if k < 1 || k > n {
		return nil, nil, fmt.Errorf("protocols: %s: k = %d is out of range [1, %d] for shape %v", op, k, n, x.Shape)
	}
	force, err := checkForce(op, opt.Force, n, k)
	if err != nil {
		return nil, nil, err
	}
	// Ranks must be a permutation: transitive, exact comparisons.
	if e, err = exactComparisons(e); err != nil {
		return nil, nil, err
	}
	if opt.Eligible != nil {
		if !slices.Equal(opt.Eligible.Shape, x.Shape) {
			return nil, nil, fmt.Errorf("protocols: %s: eligibility mask of shape %v for input of shape %v", op, opt.Eligible.Shape, x.Shape)
		}
		m, _ := mpc.Reshape(opt.Eligible, rows, n)
		pen, err := e.MulPublic(m, mpc.Scalar(eligiblePenalty))
		if err != nil {
			return nil, nil, err
		}
		if x2, err = e.Add(x2, pen); err != nil {
			return nil, nil, err
		}
		if x2, err = e.AddPublic(x2, mpc.Scalar(^uint64(eligiblePenalty)+1)); err != nil {
			return nil, nil, err
		}
	}
	nforce := len(force)
	free := make([]int, 0, n-nforce) // unforced positions, in order
	colOf := make([]int, n)          // column of each position among the free ones; forced: nf
	for i := range colOf {
		if slices.Contains(force, i) {
			continue
		}
		colOf[i] = len(free)
		free = append(free, i)
	}
	nf, kf := len(free), k-nforce
	for _, i := range force {
		colOf[i] = nf
	}
	var parts []*mpc.Share
	if nforce > 0 {
		t := mpc.NewTensor(rows, nforce, n)
		for r := 0; r < rows; r++ {
			for j, i := range force {
				t.Data[(r*nforce+j)*n+i] = 1
			}
		}
		fs, err := constShare(e, t)
		if err != nil {
			return nil, nil, err
		}
		parts = append(parts, fs)
	}
	if kf > 0 {
		// Row r of the selection is row r of ot, spread over the n positions (forced
		// positions read an appended zero column).
		ot, err := rankRows(e, op, x2, free, kf)
		if err != nil {
			return nil, nil, err
		}
		if nforce > 0 {
			z, err := constShare(e, mpc.NewTensor(rows, kf, 1))
			if err != nil {
				return nil, nil, err
			}
			if ot, err = mpc.Concat(2, ot, z); err != nil {
				return nil, nil, err
			}
		}
		if ot, err = mpc.Take(ot, 2, colOf); err != nil {
			return nil, nil, err
		}
		parts = append(parts, ot)
	}
	s, err := mpc.Concat(1, parts...)
	if err != nil {
		return nil, nil, err
	}
	pos := mpc.NewTensor(n, 1)
	for i := range pos.Data {
		pos.Data[i] = uint64(i)
	}
	ix, err := e.MatMulPublic(s, pos)
	if err != nil {
		return nil, nil, err
	}
	lead := x.Shape[:len(x.Shape)-1]
	if sel, err = mpc.Reshape(s, append(slices.Clone(lead), k, n)...); err != nil {
		return nil, nil, err
	}
	if idx, err = mpc.Reshape(ix, append(slices.Clone(lead), k)...); err != nil {
		return nil, nil, err
	}
	return sel, idx, nil
}

// rankRows returns, for the rows×n share x2 and its columns free, the rows×kf×len(free) share
// whose row r is the one-hot of the free element of rank r (0: the largest): every pair
// compared in one LTZ batch, ranks as local sums of the bits, one OneHot, then its columns
// 0..kf−1. In 3pc with FSS comparisons it runs on the engine's two-party view (see Argmax) and
// moves only those kf rows back.
func rankRows(e mpc.Engine, op string, x2 *mpc.Share, free []int, kf int) (*mpc.Share, error) {
	rows, nf := x2.Shape[0], len(free)
	if nf == 1 {
		return constShare(e, filledTensor(1, rows, 1, 1))
	}
	xf, err := mpc.Take(x2, 1, free)
	if err != nil {
		return nil, err
	}
	ot, err := onPair(e, xf, func(pe mpc.Engine, xf *mpc.Share) ([]*mpc.Share, error) {
		all := make([]int, nf)
		for i := range all {
			all[i] = i
		}
		pp := planPairs([][]int{all})
		c, err := pp.compare(pe, op, xf)
		if err != nil {
			return nil, err
		}
		rank, err := pp.ranks(pe, c)
		if err != nil {
			return nil, err
		}
		oh, err := pe.OneHot(rank, onehotCols(nf, kf)) // rows×nf×w
		if err != nil {
			return nil, fmt.Errorf("protocols: %s: %w", op, err)
		}
		ot, err := mpc.Transpose(oh)
		if err != nil {
			return nil, err
		}
		ot, err = mpc.Slice(ot, 1, 0, kf)
		return []*mpc.Share{ot}, err
	})
	if err != nil {
		return nil, err
	}
	return ot[0], nil
}

// TopKMask returns the 0/1 mask (plain ring integers, x's shape) of the elements TopKWith
// selects: the column sums of its selection (local), at the same cost.
func TopKMask(e mpc.Engine, x *mpc.Share, k int, opt TopKOptions) (*mpc.Share, error) {
	sel, _, err := TopKWith(e, x, k, opt)
	if err != nil {
		return nil, err
	}
	return SelectionMask(e, sel)
}

// SelectionMask returns, for a selection sel of shape (…, k, n) with 0/1 rows, the sum of its
// rows (…, n): the mask of the selected positions when the rows select distinct positions.
// Local.
func SelectionMask(e mpc.Engine, sel *mpc.Share) (*mpc.Share, error) {
	r := len(sel.Shape)
	if r < 2 || sel.Len() == 0 {
		return nil, fmt.Errorf("protocols: selection mask: shape %v is not a non-empty (…, k, n) selection", sel.Shape)
	}
	t, err := mpc.Transpose(sel)
	if err != nil {
		return nil, err
	}
	m, err := e.MatMulPublic(t, filledTensor(1, sel.Shape[r-2], 1))
	if err != nil {
		return nil, err
	}
	shape := append(slices.Clone(sel.Shape[:r-2]), sel.Shape[r-1])
	return mpc.Reshape(m, shape...)
}

// checkForce validates forced positions and returns them sorted.
func checkForce(op string, force []int, n, k int) ([]int, error) {
	f := slices.Clone(force)
	slices.Sort(f)
	for i, p := range f {
		if p < 0 || p >= n {
			return nil, fmt.Errorf("protocols: %s: forced position %d is out of range [0, %d)", op, p, n)
		}
		if i > 0 && f[i-1] == p {
			return nil, fmt.Errorf("protocols: %s: forced position %d is repeated", op, p)
		}
	}
	if len(f) > k {
		return nil, fmt.Errorf("protocols: %s: %d forced positions exceed k = %d", op, len(f), k)
	}
	return f, nil
}

// topkCost is the exact traffic of TopKWith over rows rows of n elements with nforce forced.
func topkCost(b backend, rows, n, k, nforce int) meterCost {
	nf, kf := n-nforce, k-nforce
	var c meterCost
	if kf == 0 || nf == 1 {
		return c
	}
	in := b.view()
	c.add(ltzCost(in.exact(), rows*nf*(nf-1)/2))
	c.add(oneHotCost(in.p, rows*nf, onehotCols(nf, kf)))
	c.add(fromPairCost(b, rows*kf*nf))
	return c
}
