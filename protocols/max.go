package protocols

import (
	"fmt"
	"math"
	"slices"

	"github.com/privinfer/mpcache/mpc"
)

// Tournament is the plan of a k-ary tournament along a row: entry l is the group size k of
// level l. A level splits its m candidates, in order, into ceil(m/k) contiguous groups whose
// sizes differ by at most one (larger groups first), compares every pair inside every group of
// every row in one LTZ batch, and keeps each group's winner. The plan must bring the row down
// to one candidate exactly at its last level.
//
// A level whose groups have at most two members takes an LTZ, then one Mul that selects.
// Larger groups need a winner indicator first: the rank of each member (the number of members
// that beat it, a local sum of comparison bits) is mapped to [rank = 0] by the engine's OneHot,
// 1 round in 2pc and 2 in 3pc; 3pc uses one Mul of the two bits instead for groups of three.
// With the default FSS comparison (LTZ: 1 round in 2pc, 2 in 3pc) a level costs 2 rounds for
// k = 2 and 3 for k ≥ 3 in 2pc, and 3, 4 (k = 3) and 5 (k ≥ 4) in 3pc; with the circuit
// comparison (8 rounds) it costs 9, 10 and 10 (2pc) or 11 (3pc). A group of k costs k(k−1)/2
// comparisons, so wide levels trade comparisons (material above all: 1528 bytes each by FSS)
// for rounds; PlanTournament weighs the two.
type Tournament []int

// maxArity bounds the group size the planner considers.
const maxArity = 512

// PlanTournament returns the tournament plan for rows independent rows of length n on e: the
// plan that minimises the estimated time of Max on e's network (mpc.Engine.Network) under its
// protocol, comparison method and comparison width: per level, the rounds of the critical path
// times the round trip, plus the most online bytes any party sends over the bandwidth, plus the
// most material any party receives over the material bandwidth. The choice is public: it
// depends on the shapes and the network only. For n = 1 the plan is empty.
//
// Max's doc comment lists the plans for GPT-2's shapes. On the WAN (the default), FSS plans
// start with binary levels, where every comparison costs its material, and end with a few wide
// ones; circuit plans use only wide levels, to save its 8-round comparisons. On the LAN, where a
// round costs what 0.25 MB of traffic costs, FSS plans are binary but for a last wide level.
func PlanTournament(e mpc.Engine, rows, n int) Tournament {
	return planTournament(backendOf(e), rows, n, e.Network())
}

// planTournament is PlanTournament for backend b on link, remembered (see memo).
func planTournament(b backend, rows, n int, link mpc.Network) Tournament {
	b = b.view()
	key := planKey{b, rows, n, link}
	if plan, ok := plans.load(key); ok {
		return slices.Clone(plan) // the caller may change its copy
	}
	plan := solveTournament(b, rows, n, link)
	plans.store(key, slices.Clone(plan))
	return plan
}

// solveTournament is planTournament without the memo.
func solveTournament(b backend, rows, n int, link mpc.Network) Tournament {
	type best struct {
		t float64
		k int
	}
	memo := map[int]best{1: {0, 0}}
	var solve func(m int) best
	solve = func(m int) best {
		if r, ok := memo[m]; ok {
			return r
		}
		r := best{t: math.Inf(1)}
		for k := 2; k <= min(m, maxArity); k++ {
			t := levelCost(b, rows, m, k, true, false, 0).seconds(link)
			if t >= r.t {
				continue
			}
			if t += solve((m + k - 1) / k).t; t < r.t {
				r = best{t, k}
			}
		}
		memo[m] = r
		return r
	}
	var plan Tournament
	for m := n; m > 1; m = (m + plan[len(plan)-1] - 1) / plan[len(plan)-1] {
		plan = append(plan, solve(m).k)
	}
	return plan
}

// BinaryTournament returns the plan of the binary tournament over n: ceil(log2 n) levels of 2.
func BinaryTournament(n int) Tournament {
	var plan Tournament
	for m := n; m > 1; m = (m + 1) / 2 {
		plan = append(plan, 2)
	}
	return plan
}

// validate checks that plan reduces n candidates to one exactly at its last level.
func (plan Tournament) validate(op string, n int) error {
	m := n
	for l, k := range plan {
		if m == 1 {
			return fmt.Errorf("protocols: %s: tournament %v reaches one candidate before level %d", op, plan, l)
		}
		if k < 2 {
			return fmt.Errorf("protocols: %s: tournament %v has a group size %d below 2 at level %d", op, plan, k, l)
		}
		m = (m + k - 1) / k
	}
	if m != 1 {
		return fmt.Errorf("protocols: %s: tournament %v leaves %d candidates of %d", op, plan, m, n)
	}
	return nil
}

// groupsOf splits m candidates into ceil(m/k) contiguous groups of balanced sizes, larger first.
func groupsOf(m, k int) [][]int {
	g := (m + k - 1) / k
	base, extra := m/g, m%g
	out, all := make([][]int, g), make([]int, m) // the groups are consecutive ranges of all
	for j := range all {
		all[j] = j
	}
	at := 0
	for i := range out {
		s := base
		if i < extra {
			s++
		}
		out[i] = all[at : at+s : at+s]
		at += s
	}
	return out
}

// winnerMode says how a level turns comparison bits into winner indicators.
type winnerMode int

const (
	winBits    winnerMode = iota // groups of at most two: the indicator is a comparison bit
	winProduct                   // groups of at most three (3pc): one Mul of the two bits
	winOneHot                    // [rank = 0] from the engine's OneHot
)

func modeFor(p mpc.Protocol, kmax int) winnerMode {
	switch {
	case kmax <= 2:
		return winBits
	case kmax == 3 && p == mpc.ThreePC:
		return winProduct
	}
	return winOneHot
}

// levelCost is the exact traffic of one tournament level over rows rows of m candidates in
// groups of k: comparisons, winner indicators, and the selecting Mul of the group members'
// values (when needVal), of their positions (when needPos) and of sub one-hot entries
// (subElems per row).
func levelCost(b backend, rows, m, k int, needVal, needPos bool, subElems int) meterCost {
	// groupsOf(m, k): extra groups of base+1 members, then g−extra of base.
	g := (m + k - 1) / k
	base, extra := m/g, m%g
	pairs := extra*(base+1)*base/2 + (g-extra)*base*(base-1)/2
	grouped, multi, kmax := extra*(base+1), extra, base+1
	if base > 1 {
		grouped, multi = m, g
	}
	if extra == 0 {
		kmax = base
	}
	var c meterCost
	if kmax > 2 {
		c.add(ltzCost(b.exact(), rows*pairs)) // see tournament
	} else {
		c.add(ltzCost(b, rows*pairs))
	}
	switch modeFor(b.p, kmax) {
	case winProduct:
		c.add(mulCost(b.p, rows*grouped))
	case winOneHot:
		c.add(oneHotCost(b.p, rows*grouped, onehotCols(kmax, 1)))
	}
	sel := subElems
	if needVal {
		sel += grouped - multi
	}
	if needPos {
		sel += grouped - multi
	}
	c.add(mulCost(b.p, rows*sel))
	return c
}

// tournamentCost is the exact traffic of tournament (Max: wantValue, trackNone).
func tournamentCost(b backend, rows, n int, plan Tournament, wantValue bool, track tracking) meterCost {
	var c meterCost
	owner := make([]int, n) // candidate of each position
	for j := range owner {
		owner[j] = j
	}
	m := n
	for l, k := range plan {
		groups := groupsOf(m, k)
		multi := make([]bool, m)
		newOwner := make([]int, m)
		for gi, g := range groups {
			for _, a := range g {
				multi[a] = len(g) > 1
				newOwner[a] = gi
			}
		}
		sub := 0
		if track == trackOneHot && l > 0 {
			for _, o := range owner {
				if multi[o] {
					sub++
				}
			}
		}
		c.add(levelCost(b, rows, m, k, l < len(plan)-1 || wantValue, track == trackIndex && l > 0, sub))
		for j := range owner {
			owner[j] = newOwner[owner[j]]
		}
		m = len(groups)
	}
	return c
}

// rowsOf validates x for a function along the last axis and returns it as rows×n.
func rowsOf(op string, x *mpc.Share) (*mpc.Share, int, int, error) {
	rows, n, err := lastAxis(op, x)
	if err != nil {
		return nil, 0, 0, err
	}
	if rows == 0 {
		return nil, 0, 0, fmt.Errorf("protocols: %s: shape %v has no rows", op, x.Shape)
	}
	x2, err := mpc.Reshape(x, rows, n)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("protocols: %s: %w", op, err)
	}
	return x2, rows, n, nil
}

// withLast returns shape with its last axis replaced by tail.
func withLast(shape []int, tail ...int) []int {
	return append(slices.Clone(shape[:len(shape)-1]), tail...)
}

// Max returns the maximum along the last axis (shape x.Shape with the last axis set to 1),
// exactly, for |x| < 2^62 as ring integers (real values below 2^46 at 16 fractional bits). Every
// row and head of x shares the rounds. It runs the tournament PlanTournament chooses for the
// engine's network, protocol, comparison method and width; MaxWith takes any plan. In 3pc with
// FSS comparisons it runs on the engine's two-party view, as Argmax explains.
//
// Cost on the default network, the WAN, at the full comparison width, as measured (TestMaxCost,
// TestMaxDocFigures; TestMaxNetwork compares a LAN plan), per input element; online bytes are those
// of the party that sends most, offline bytes the material P1 receives (the most of any party),
// and the last column the rounds of the binary tournament:
//
//	shape      backend      plan                 rounds  online B  offline B  binary
//	[12 1024]  2pc FSS      [2 2 2 2 5 13]       14      25.7      1750.5     20
//	           3pc FSS      [2 2 2 2 5 13]       15      25.7      1750.5     21
//	           2pc circuit  [4 8 32]             30      552.7     361.4      90
//	           3pc circuit  [13 79]              22      1639.2    207.0      90
//	[50257]    2pc FSS      [2 2 2 2 2 4 9 44]   19      24.8      1638.5     32
//	           3pc FSS      [2 2 2 2 2 4 9 44]   20      24.8      1638.5     33
//	           2pc circuit  [3 6 16 175]         40      497.0     341.0      144
//	           3pc circuit  [3 6 16 175]         43      468.8     35.6       144
//	[12 64]    2pc FSS      [5 13]               6       50.9      4968.4     12
//	           3pc FSS      [5 13]               7       51.0      4968.4     13
//	           2pc circuit  [64]                 10      5823.7    3795.9     54
//	           3pc circuit  [64]                 11      5571.9    512.0      54
//
// The binary tournament (BinaryTournament) makes n − 1 comparisons and n − 1 selections per row.
func Max(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
	_, rows, n, err := rowsOf("max", x)
	if err != nil {
		return nil, err
	}
	return MaxWith(e, x, PlanTournament(e, rows, n))
}

// MaxWith is Max with an explicit tournament plan, which must reduce the last axis to one
// candidate (see Tournament for the cost of each level).
func MaxWith(e mpc.Engine, x *mpc.Share, plan Tournament) (*mpc.Share, error) {
	x2, _, n, err := rowsOf("max", x)
	if err != nil {
		return nil, err
	}
	if err := plan.validate("max", n); err != nil {
		return nil, err
	}
	v, err := onPair(e, x2, func(pe mpc.Engine, x2 *mpc.Share) ([]*mpc.Share, error) {
		v, _, _, err := tournament(pe, "max", x2, plan, true, trackNone)
		return []*mpc.Share{v}, err
	})
	if err != nil {
		return nil, err
	}
	return mpc.Reshape(v[0], withLast(x.Shape, 1)...)
}

// Argmax returns the position of the maximum along the last axis, as a one-hot selection of
// x's shape and as an index of shape x.Shape with the last axis set to 1, both plain ring
// integers (not fixed point). Exact, for |x| < 2^62 as ring integers; of several equal maxima
// the lowest position wins. It runs the tournament of Max and carries the winner's position
// along in one of two ways, whichever the cost model estimates faster on the engine's network
// (the choice depends on the shapes and the network only):
//
//   - one-hot: each level's winner indicators multiply into the one-hot of the previous
//     levels in the same round as the value selection, a product per position and level, so
//     it costs Max's rounds (one fewer for a single-level plan); the index is a local weighted
//     sum of the one-hot. Cheapest in rounds, for short rows.
//   - index: the position is selected with the value (free at the first level, where it is
//     public; one more product per selection after), and the engine's OneHot turns it into
//     the one-hot at the end: Max's rounds plus OneHot's (1 in 2pc). Over GPT-2's vocabulary
//     it costs a quarter of the one-hot way's bytes for one round more.
//
// In 3pc with FSS comparisons, Max and Argmax run on the engine's two-party view
// (mpc.Engine.Pair: P0 and P1 on additive shares, P2 their dealer), so they cost what they cost
// in 2pc plus one round that moves the results back (8 bytes per result element at P0 and
// P1): the replicated form reshares every comparison bit and every selection, which over
// GPT-2's vocabulary cost 82.5 bytes per element at P0 and P1 (and 29 rounds) against 40.8
// (21 rounds) in the view. With the circuit, 3pc keeps the replicated form.
//
// Cost, as measured (TestMaxCost, TestMaxDocFigures), per input element, with Max's plans and
// figures as there:
//
//	shape      backend      plan                 carries  rounds  online B  offline B
//	[50257]    2pc FSS      [2 2 2 2 2 4 9 44]   index    20      32.8      1652.9
//	           3pc FSS      [2 2 2 2 2 4 9 44]   index    21      40.8      1652.9
//	           2pc circuit  [3 6 16 175]         index    41      502.3     354.0
//	           3pc circuit  [3 6 16 175]         one-hot  43      492.7     35.6
//	[12 1024]  2pc FSS      [2 2 2 2 5 13]       one-hot  14      105.5     1790.4
//	           3pc FSS      [2 2 2 2 5 13]       one-hot  15      113.5     1790.4
//	           2pc circuit  [4 8 32]             one-hot  30      584.2     377.1
//	           3pc circuit  [13 79]              one-hot  22      1646.6    207.0
func Argmax(e mpc.Engine, x *mpc.Share) (onehot, index *mpc.Share, err error) {
	_, rows, n, err := rowsOf("argmax", x)
	if err != nil {
		return nil, nil, err
	}
	return ArgmaxWith(e, x, PlanTournament(e, rows, n))
}

// ArgmaxWith is Argmax with an explicit tournament plan.
func ArgmaxWith(e mpc.Engine, x *mpc.Share, plan Tournament) (onehot, index *mpc.Share, err error) {
	return argmaxWith(e, x, plan, false)
}

// ArgmaxInView is Argmax of x given as a share of View(e), for instance a product
// delivered there by mpc.Engine.MatMulPair (in 3pc 8 bytes per element from P2 alone, where a
// replicated product reshares 8 bytes per element from every party). The results are shares
// of e, as Argmax's, and so are its costs from there on.
func ArgmaxInView(e mpc.Engine, x *mpc.Share) (onehot, index *mpc.Share, err error) {
	_, rows, n, err := rowsOf("argmax", x)
	if err != nil {
		return nil, nil, err
	}
	return argmaxWith(e, x, PlanTournament(e, rows, n), true)
}

// argmaxWith is ArgmaxWith, for x a share of View(e) when inView.
func argmaxWith(e mpc.Engine, x *mpc.Share, plan Tournament, inV bool) (onehot, index *mpc.Share, err error) {
	x2, rows, n, err := rowsOf("argmax", x)
	if err != nil {
		return nil, nil, err
	}
	if err := plan.validate("argmax", n); err != nil {
		return nil, nil, err
	}
	run := onPair
	if inV {
		run = inView
	}
	r, err := run(e, x2, func(pe mpc.Engine, x2 *mpc.Share) ([]*mpc.Share, error) {
		oh, idx, err := argmaxBy(pe, x2, plan, argmaxTracking(backendOf(pe), rows, n, plan, pe.Network()))
		return []*mpc.Share{oh, idx}, err
	})
	if err != nil {
		return nil, nil, err
	}
	if onehot, err = mpc.Reshape(r[0], x.Shape...); err != nil {
		return nil, nil, err
	}
	if index, err = mpc.Reshape(r[1], withLast(x.Shape, 1)...); err != nil {
		return nil, nil, err
	}
	return onehot, index, nil
}

// argmaxBy is ArgmaxWith on the rows×n share x2 carrying the position by track: the rows×n
// one-hot and the rows×1 index.
func argmaxBy(e mpc.Engine, x2 *mpc.Share, plan Tournament, track tracking) (onehot, index *mpc.Share, err error) {
	n := x2.Shape[1]
	_, oh, idx, err := tournament(e, "argmax", x2, plan, false, track)
	if err != nil {
		return nil, nil, err
	}
	if track == trackIndex {
		if oh, err = e.OneHot(idx, n); err != nil {
			return nil, nil, fmt.Errorf("protocols: argmax: %w", err)
		}
		if oh, err = mpc.Reshape(oh, x2.Shape...); err != nil {
			return nil, nil, err
		}
		return oh, idx, nil
	}
	pos := mpc.NewTensor(n, 1)
	for i := range pos.Data {
		pos.Data[i] = uint64(i)
	}
	if idx, err = e.MatMulPublic(oh, pos); err != nil {
		return nil, nil, err
	}
	return oh, idx, nil
}

// argmaxTracking returns how Argmax carries the position for rows rows of n under plan: the
// one-hot or the index way, whichever argmaxCost estimates faster on link.
func argmaxTracking(b backend, rows, n int, plan Tournament, link mpc.Network) tracking {
	key := trackKey{planKey{b, rows, n, link}, fmt.Sprint(plan)}
	if t, ok := trackings.load(key); ok {
		return t
	}
	t := trackOneHot
	if argmaxCost(b, rows, n, plan, trackIndex).seconds(link) < argmaxCost(b, rows, n, plan, trackOneHot).seconds(link) {
		t = trackIndex
	}
	trackings.store(key, t)
	return t
}

// maxCost is the exact traffic of MaxWith under plan, on the pair view where b has one.
func maxCost(b backend, rows, n int, plan Tournament) meterCost {
	c := tournamentCost(b.view(), rows, n, plan, true, trackNone)
	c.add(fromPairCost(b, rows))
	return c
}

// argmaxTotal is the exact traffic of ArgmaxWith under plan on link: the tracking argmaxTracking picks,
// on the pair view where b has one, with the one-hot and the index moved back.
func argmaxTotal(b backend, rows, n int, plan Tournament, link mpc.Network) meterCost {
	in := b.view()
	c := argmaxCost(in, rows, n, plan, argmaxTracking(in, rows, n, plan, link))
	c.add(fromPairCost(b, rows*(n+1)))
	return c
}

// argmaxCost is the exact traffic of Argmax carrying the position by track.
func argmaxCost(b backend, rows, n int, plan Tournament, track tracking) meterCost {
	c := tournamentCost(b, rows, n, plan, false, track)
	if track == trackIndex {
		c.add(oneHotCost(b.p, rows, n))
	}
	return c
}

// tracking says what a tournament carries along with the candidates' values.
type tracking int

const (
	trackNone   tracking = iota // the value only (Max)
	trackOneHot                 // the n-wide one-hot of each candidate's winner, extended every level
	trackIndex                  // each candidate's winning position, a shared integer selected like the value
)

// tournament runs plan over the rows×n share x and returns the rows×1 maximum (wantValue) and,
// as track asks, the rows×n one-hot of its position or its rows×1 position.
func tournament(e mpc.Engine, op string, x *mpc.Share, plan Tournament, wantValue bool, track tracking) (val, onehot, index *mpc.Share, err error) {
	rows, n := x.Shape[0], x.Shape[1]
	cur := x // rows×m candidate values
	// sub is the rows×n one-hot of the winner within each candidate's subtree (positions in
	// order, so each subtree is a contiguous range); nil before the first level (all ones).
	// pos is the rows×m winning position of each candidate (trackIndex); nil before the
	// first level, where candidate j is position j.
	var sub, pos *mpc.Share
	owner := make([]int, n)
	for j := range owner {
		owner[j] = j
	}
	m := n
	for l, k := range plan {
		groups := groupsOf(m, k)
		multi := make([][]int, 0, len(groups))
		gpos := make([]int, m) // position among grouped members, or -1
		grouped := make([]int, 0, m)
		for _, g := range groups {
			if len(g) == 1 {
				gpos[g[0]] = -1
				continue
			}
			multi = append(multi, g)
			for _, a := range g {
				gpos[a] = len(grouped)
				grouped = append(grouped, a)
			}
		}
		pp := planPairs(multi)
		// A pair's winner is the one its comparison names, however dithered (see
		// mpc.Engine.WithComparePrecision); the winner of a larger group beats every other
		// member, which needs transitive, exact comparisons.
		ce := e
		for _, g := range multi {
			if len(g) > 2 {
				if ce, err = exactComparisons(e); err != nil {
					return nil, nil, nil, err
				}
				break
			}
		}
		c, err := pp.compare(ce, op, cur)
		if err != nil {
			return nil, nil, nil, err
		}
		w, err := winners(e, pp, c, multi)
		if err != nil {
			return nil, nil, nil, err
		}
		needVal := l < len(plan)-1 || wantValue
		needSub := track == trackOneHot && l > 0
		needPos := track == trackIndex && l > 0
		// One Mul selects the values (and the positions) and extends the subtree one-hots.
		// A group's new value is x_first + Σ_{a ≠ first} w_a·(x_a − x_first), as the
		// indicators sum to one: one product per member but the first.
		// the members after the first, by candidate
		rest, restW, first := make([]int, 0, m), make([]int, 0, m), make([]int, 0, m)
		for _, g := range multi {
			for _, a := range g[1:] {
				rest, restW, first = append(rest, a), append(restW, gpos[a]), append(first, g[0])
			}
		}
		var left, right []*mpc.Share
		var wr *mpc.Share // the indicators of the members after the first
		if needVal || needPos {
			if wr, err = mpc.Take(w, 1, restW); err != nil {
				return nil, nil, nil, err
			}
		}
		diff := func(v *mpc.Share) error {
			vr, err := mpc.Take(v, 1, rest)
			if err != nil {
				return err
			}
			vf, err := mpc.Take(v, 1, first)
			if err != nil {
				return err
			}
			d, err := e.Sub(vr, vf)
			if err != nil {
				return err
			}
			left, right = append(left, wr), append(right, d)
			return nil
		}
		if needVal {
			if err := diff(cur); err != nil {
				return nil, nil, nil, err
			}
		}
		if needPos {
			if err := diff(pos); err != nil {
				return nil, nil, nil, err
			}
		}
		var subPos, subW []int // positions whose owner is grouped, and that owner's gpos
		if needSub {
			subPos, subW = make([]int, 0, n), make([]int, 0, n)
			for j, o := range owner {
				if gpos[o] >= 0 {
					subPos = append(subPos, j)
					subW = append(subW, gpos[o])
				}
			}
			ws, err := mpc.Take(w, 1, subW)
			if err != nil {
				return nil, nil, nil, err
			}
			ss, err := mpc.Take(sub, 1, subPos)
			if err != nil {
				return nil, nil, nil, err
			}
			left, right = append(left, ws), append(right, ss)
		}
		var prod *mpc.Share
		if len(left) > 0 {
			a, err := mpc.Concat(1, left...)
			if err != nil {
				return nil, nil, nil, err
			}
			b, err := mpc.Concat(1, right...)
			if err != nil {
				return nil, nil, nil, err
			}
			if prod, err = e.Mul(a, b); err != nil {
				return nil, nil, nil, fmt.Errorf("protocols: %s: %w", op, err)
			}
		}
		restPos := make([]int, m) // position of each non-first member in rest
		for i, a := range rest {
			restPos[a] = i
		}
		// pick is the new candidates' values of v from the products at off in prod:
		// v_first + Σ_{a ≠ first} prod[off + restPos[a]].
		pick := func(v *mpc.Share, off int) (*mpc.Share, error) {
			in, err := mpc.Concat(1, prod, v)
			if err != nil {
				return nil, err
			}
			terms, flat := make([][]linTerm, len(groups)), make([]linTerm, 0, m)
			for gi, g := range groups {
				at := len(flat)
				flat = append(flat, linTerm{prod.Shape[1] + g[0], 1})
				for _, a := range g[1:] {
					flat = append(flat, linTerm{off + restPos[a], 1})
				}
				terms[gi] = flat[at:len(flat):len(flat)]
			}
			return linearMap(e, in, terms, nil)
		}
		off := 0 // where the next products start in prod
		if needVal {
			if cur, err = pick(cur, off); err != nil {
				return nil, nil, nil, err
			}
			off += len(rest)
		}
		switch {
		case needPos:
			if pos, err = pick(pos, off); err != nil {
				return nil, nil, nil, err
			}
			off += len(rest)
		case track == trackIndex:
			// First level: the positions are public, so the selection is local:
			// first + Σ_{a ≠ first} (a − first)·w_a.
			terms := make([][]linTerm, len(groups))
			consts := make([]uint64, len(groups))
			for gi, g := range groups {
				consts[gi] = uint64(g[0])
				for _, a := range g[1:] {
					terms[gi] = append(terms[gi], linTerm{gpos[a], uint64(a - g[0])})
				}
			}
			if pos, err = linearMap(e, w, terms, consts); err != nil {
				return nil, nil, nil, err
			}
		}
		if track == trackOneHot {
			terms, flat := make([][]linTerm, n), make([]linTerm, n) // one term per position
			one := func(j int, t linTerm) { flat[j] = t; terms[j] = flat[j : j+1 : j+1] }
			var consts []uint64
			var in *mpc.Share
			if l == 0 {
				// the subtree of a position is itself: the one-hot is w, or 1 for a lone one.
				in, consts = w, make([]uint64, n)
				for j := range terms {
					if gpos[j] >= 0 {
						one(j, linTerm{gpos[j], 1})
					} else {
						consts[j] = 1
					}
				}
			} else {
				if in, err = mpc.Concat(1, prod, sub); err != nil {
					return nil, nil, nil, err
				}
				s := 0
				for j := range terms {
					if s < len(subPos) && subPos[s] == j {
						one(j, linTerm{off + s, 1})
						s++
					} else {
						one(j, linTerm{prod.Shape[1] + j, 1})
					}
				}
			}
			if sub, err = linearMap(e, in, terms, consts); err != nil {
				return nil, nil, nil, err
			}
		}
		groupOf := make([]int, m)
		for gi, g := range groups {
			for _, a := range g {
				groupOf[a] = gi
			}
		}
		for j := range owner {
			owner[j] = groupOf[owner[j]]
		}
		m = len(groups)
	}
	if n == 1 {
		switch track {
		case trackOneHot:
			sub, err = constShare(e, filledTensor(1, rows, 1))
		case trackIndex:
			pos, err = constShare(e, mpc.NewTensor(rows, 1))
		}
		if err != nil {
			return nil, nil, nil, err
		}
	}
	return cur, sub, pos, nil
}

// winners returns the rows×grouped 0/1 indicators of each group's winner from the comparison
// bits c of pp (groups as given to planPairs, every group of two members or more).
func winners(e mpc.Engine, pp *pairPlan, c *mpc.Share, groups [][]int) (*mpc.Share, error) {
	kmax := 0
	for _, g := range groups {
		kmax = max(kmax, len(g))
	}
	// form returns the terms and constant of one "member beats other" bit.
	form := func(b beatForm) ([]linTerm, uint64) {
		if b.neg {
			return []linTerm{{b.pair, ^uint64(0)}}, 1
		}
		return []linTerm{{b.pair, 1}}, 0
	}
	switch modeFor(e.Protocol(), kmax) {
	case winBits:
		terms := make([][]linTerm, len(pp.beats))
		consts := make([]uint64, len(pp.beats))
		for i, bf := range pp.beats {
			terms[i], consts[i] = form(bf[0])
		}
		return linearMap(e, c, terms, consts)
	case winProduct:
		t1, t2 := make([][]linTerm, len(pp.beats)), make([][]linTerm, len(pp.beats))
		c1, c2 := make([]uint64, len(pp.beats)), make([]uint64, len(pp.beats))
		for i, bf := range pp.beats {
			t1[i], c1[i] = form(bf[0])
			if len(bf) > 1 {
				t2[i], c2[i] = form(bf[1])
			} else {
				c2[i] = 1
			}
		}
		f1, err := linearMap(e, c, t1, c1)
		if err != nil {
			return nil, err
		}
		f2, err := linearMap(e, c, t2, c2)
		if err != nil {
			return nil, err
		}
		return e.Mul(f1, f2)
	}
	rank, err := pp.ranks(e, c)
	if err != nil {
		return nil, err
	}
	oh, err := e.OneHot(rank, onehotCols(kmax, 1))
	if err != nil {
		return nil, err
	}
	w, err := mpc.Take(oh, 2, []int{0})
	if err != nil {
		return nil, err
	}
	return mpc.Reshape(w, rank.Shape...)
}
