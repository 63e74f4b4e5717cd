package protocols

import (
	"fmt"
	"math/bits"

	"github.com/privinfer/mpcache/mpc"
)

// ReLU returns max(x, 0) element-wise, exactly, for any ring value (the sign is the top bit).
//
// Cost, per element: one LTZ, then one Mul (TestCompareCost). By FSS comparisons (the default):
// 2 rounds in 2pc, 3 in 3pc; 24 bytes online per party; offline 1536 (2pc) or 1528 (3pc). By
// the circuit: 9 rounds; 2pc 200.125 bytes online, offline 112; 3pc 176 at P0 and 112 at P1 and
// P2, offline 0.
func ReLU(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
	if x.Len() == 0 {
		return nil, fmt.Errorf("protocols: relu: empty input of shape %v", x.Shape)
	}
	neg, err := e.LTZ(x)
	if err != nil {
		return nil, fmt.Errorf("protocols: relu: %w", err)
	}
	pos, err := OneMinus(e, neg)
	if err != nil {
		return nil, err
	}
	return e.Mul(pos, x)
}

// Equal returns the element-wise equality bit [a = b] as plain ring integers 0/1. a and b may
// be fixed point or plain integers of any scale, and broadcast like Sub; exact whenever
// |a − b| < 2^63 − 1 as ring integers (for instance |a|, |b| < 2^62, i.e. real values below
// 2^46 at 16 fractional bits). It compares the difference with 0 and 1 in one LessThan: for
// ring integers, [a = b] = [a − b < 1] − [a − b < 0].
//
// Cost, per element: one LessThan of two thresholds mapped to one value (TestCompareCost). By
// FSS: 1 round in 2pc, 2 in 3pc; 8 (2pc) or 16 (3pc) bytes online per party; offline 1528. By
// the circuit: 8 rounds; 2pc 368.25 bytes online, offline 208; 3pc 336 at P0 and 208 at P1 and
// P2, offline 0.
func Equal(e mpc.Engine, a, b *mpc.Share) (*mpc.Share, error) {
	d, err := e.Sub(a, b)
	if err != nil {
		return nil, fmt.Errorf("protocols: equal: %w", err)
	}
	n := d.Len()
	if n == 0 {
		return nil, fmt.Errorf("protocols: equal: empty input of shape %v", d.Shape)
	}
	// [d < 1] − [d < 0], mapped inside LessThan (in 3pc one value per element is reshared).
	eq, err := e.LessThan(d, []uint64{0, 1}, &mpc.Tensor{Shape: []int{2, 1}, Data: []uint64{1<<64 - 1, 1}})
	if err != nil {
		return nil, fmt.Errorf("protocols: equal: %w", err)
	}
	return mpc.Reshape(eq, d.Shape...)
}

// linTerm is one addend coef·x[src] of a public linear map.
type linTerm struct {
	src  int
	coef uint64
}

// linearMap applies the public sparse linear map y[r][o] = consts[o] + Σ_{t ∈ terms[o]}
// t.coef·x[r][t.src] to every row r of the two-axis share x (consts may be nil). Local: it
// works on each share component alone, like Add.
func linearMap(e mpc.Engine, x *mpc.Share, terms [][]linTerm, consts []uint64) (*mpc.Share, error) {
	if len(x.Shape) != 2 {
		return nil, fmt.Errorf("protocols: linear map of a share of shape %v (want two axes)", x.Shape)
	}
	rows, in, out := x.Shape[0], x.Shape[1], len(terms)
	apply := func(src []uint64) []uint64 {
		if src == nil {
			return nil
		}
		dst := make([]uint64, rows*out)
		for r := 0; r < rows; r++ {
			xr, yr := src[r*in:(r+1)*in], dst[r*out:(r+1)*out]
			for o, ts := range terms {
				var s uint64
				for _, t := range ts {
					s += t.coef * xr[t.src]
				}
				yr[o] = s
			}
		}
		return dst
	}
	y, err := mpc.NewShare([]int{rows, out}, apply(x.Own), apply(x.Next))
	if err != nil || consts == nil {
		return y, err
	}
	return e.AddPublic(y, &mpc.Tensor{Shape: []int{1, out}, Data: consts})
}

// constShare returns a sharing of the public tensor t (every party can build it without
// communication).
func constShare(e mpc.Engine, t *mpc.Tensor) (*mpc.Share, error) {
	n := mpc.Numel(t.Shape)
	var own, next []uint64
	if !e.IsDealer() {
		own = make([]uint64, n)
		if e.Protocol() == mpc.ThreePC {
			next = make([]uint64, n)
		}
	}
	z, err := mpc.NewShare(t.Shape, own, next)
	if err != nil {
		return nil, err
	}
	return e.AddPublic(z, t)
}

// filled returns a public tensor of the given shape with every entry v.
func filledTensor(v uint64, shape ...int) *mpc.Tensor {
	t := mpc.NewTensor(shape...)
	for i := range t.Data {
		t.Data[i] = v
	}
	return t
}

// ceilPow2 returns the least power of two ≥ n (1 for n ≤ 1).
func ceilPow2(n int) int {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len(uint(n-1))
}

// onehotCols is the narrowest one-hot width whose engine ring size N = ceilPow2(width) equals
// ceilPow2(n), at least need: with it, every value in [0, n) either hits its column (below the
// width) or gives a zero row, so the first need columns are exact while 3pc reshares fewer
// columns than n.
func onehotCols(n, need int) int {
	N := ceilPow2(n)
	return max(need, N/2+1, 1)
}

// pairPlan compares every pair of a group in one batch and ranks each member. For each group
// (a list of column positions of the rows×m share x), c[p] = [x_a < x_b] for its pairs
// p = (a, b), a < b in list order, and rank_a = Σ_{b after a} c[(a,b)] + Σ_{b before a}
// (1 − c[(b,a)]) counts the members that beat a, where b beats a when x_b > x_a, or x_b = x_a
// and b comes first. The ranks of a group are a permutation of 0..len−1.
type pairPlan struct {
	pa, pb []int       // pair positions in x
	rank   [][]linTerm // per ranked member (groups concatenated), terms over c
	consts []uint64    // per ranked member
	// beats[i] lists, per ranked member, the linear forms (over c) of "member beats other" for
	// every other member of its group.
	beats [][]beatForm
}

// beatForm is the bit c[pair], or 1 − c[pair] when neg.
type beatForm struct {
	pair int
	neg  bool // the bit is 1 − c[pair]
}

// planPairs builds the pair plan for groups (each a list of positions in x's row, in order);
// groups of one member are skipped by the caller.
func planPairs(groups [][]int) *pairPlan {
	pairs, members := 0, 0
	for _, g := range groups {
		pairs += len(g) * (len(g) - 1) / 2
		members += len(g)
	}
	pp := &pairPlan{
		pa: make([]int, 0, pairs), pb: make([]int, 0, pairs),
		rank: make([][]linTerm, 0, members), consts: make([]uint64, 0, members),
		beats: make([][]beatForm, 0, members),
	}
	// Every member has a term and a form per other member of its group: 2·pairs of each,
	// carved from one array each.
	terms, forms := make([]linTerm, 0, 2*pairs), make([]beatForm, 0, 2*pairs)
	for _, g := range groups {
		base := len(pp.pa)
		// pair index of (i, j), i < j, within the group
		idx := func(i, j int) int {
			// pairs enumerated i-major: (0,1), (0,2), ..., (1,2), ...
			k := len(g)
			return base + i*(2*k-i-1)/2 + (j - i - 1)
		}
		for i := 0; i < len(g); i++ {
			for j := i + 1; j < len(g); j++ {
				pp.pa = append(pp.pa, g[i])
				pp.pb = append(pp.pb, g[j])
			}
		}
		for i := range g {
			ts, bf := terms[len(terms):len(terms):len(terms)+len(g)-1], forms[len(forms):len(forms):len(forms)+len(g)-1]
			var c uint64
			for j := range g {
				switch {
				case j > i: // pair (i, j): c = [x_i < x_j]: j beats i; i beats j is 1 − c.
					ts = append(ts, linTerm{idx(i, j), 1})
					bf = append(bf, beatForm{idx(i, j), true})
				case j < i: // pair (j, i): c = [x_j < x_i]: i beats j; j beats i is 1 − c.
					ts = append(ts, linTerm{idx(j, i), ^uint64(0)})
					c++
					bf = append(bf, beatForm{idx(j, i), false})
				}
			}
			terms, forms = terms[:len(terms)+len(ts)], forms[:len(forms)+len(bf)]
			pp.rank = append(pp.rank, ts)
			pp.consts = append(pp.consts, c)
			pp.beats = append(pp.beats, bf)
		}
	}
	return pp
}

// compare runs the plan's comparisons on the rows×m share x in one LTZ batch and returns the
// rows×pairs bits c.
func (pp *pairPlan) compare(e mpc.Engine, op string, x *mpc.Share) (*mpc.Share, error) {
	a, err := mpc.Take(x, 1, pp.pa)
	if err != nil {
		return nil, err
	}
	b, err := mpc.Take(x, 1, pp.pb)
	if err != nil {
		return nil, err
	}
	d, err := e.Sub(a, b)
	if err != nil {
		return nil, err
	}
	c, err := e.LTZ(d)
	if err != nil {
		return nil, fmt.Errorf("protocols: %s: %w", op, err)
	}
	return c, nil
}

// ranks returns the rows×members ranks from the comparison bits c.
func (pp *pairPlan) ranks(e mpc.Engine, c *mpc.Share) (*mpc.Share, error) {
	return linearMap(e, c, pp.rank, pp.consts)
}
