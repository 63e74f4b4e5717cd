package protocols

import (
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/fss"
)

// SoftmaxOptions are Softmax's optional masks. An entry masked by either gets probability
// exactly 0 and does not take part in the row's maximum or sum; every row must keep at least
// one entry.
type SoftmaxOptions struct {
	// Mask is a public tensor of plain 0/1 integers (not fixed point) broadcastable to x, for
	// instance a causal mask; 0 masks the entry. It costs no communication.
	Mask *mpc.Tensor
	// SecretMask is a share of plain 0/1 integers broadcastable to x (for instance a secret
	// selection of cached tokens); 0 masks the entry. It costs one Mul per element.
	SecretMask *mpc.Share
}

// maskedScore is the score (in real units) that masked entries get before the maximum: far
// below any real score, so that after subtracting the maximum they fall below exp's cut and
// contribute exactly 0. Scores must stay within ±2^19.
const maskedScore = -(1 << 20)

// softmaxBits is the width of Softmax's comparisons at f fractional bits (see
// mpc.Engine.WithCompareBits): its maximum and exp compare differences of entries, which stay
// below 2^21 in magnitude (entries within ±2^19, masked ones at −2^20), so f + 22 bits hold
// them with their sign.
func softmaxBits(f uint) uint { return min(f+22, fss.MaxBits) }

// Softmax returns the softmax of x along the last axis (rows of n entries), as fixed point
// with e.Frac() fractional bits.
//
// Method: masked entries are set to −2^20 (public mask: locally; secret mask: one Mul); the
// row maximum m comes from Max (under a public mask, over blocks of rows cut to their longest
// unmasked prefix where the cost model finds that faster on the engine's network: maskedMax);
// e^(x − m) by the method of Exp, kept at F = min(f + 8, 48 − 2K) fractional bits
// (K = ceil(log2 n); 24 for n ≤ 4096) so that summing up to n entries does not accumulate
// rounding; under a public mask, exp and everything after it run on the unmasked
// entries only (packed by their public positions, so a causal prefill pays for the lower
// triangle), and masked entries come back as exact zeros; the row sum s ∈ [1, n] (the maximum
// contributes e^0) is local; one reciprocal per row by the method of Reciprocal, from F to
// 61 − F fractional bits; and one product per entry, truncated back to f bits. Entries more
// than 16 below the maximum count as 0: their true total is below n·e^−16, 4.6e-4 for n = 4096.
// Masked entries are exactly 0.
//
// Range: |x| < 2^19, n ≤ 2^((48−f)/2) (2^16 at f = 16).
// Accuracy (f = 16): every probability within 1e-3 of float64 for rows up to 4096 (TestSoftmax:
// Gaussian scores with standard deviations up to 4, one dominant score, constant rows, rows
// whose other entries sit 15 below the maximum, scores spread over ±200, causal and secret
// masks; the largest measured error is 2.9e-4).
//
// Cost: Max's, then per entry (per unmasked entry under a public mask,
// TestSoftmaxPublicMaskCost) a LessThan of 3 thresholds and per row one of 15K − 1 (K = 10 for
// n = 1024: 149; by FSS each costs one opened word and one key per element), and 10 rounds of
// products (exp 6, reciprocal 2, product 2; P2: 5 in 3pc), one more with a secret mask: 240
// bytes online and 240 offline per entry plus 24 per row in 2pc, 160 and 160 per entry plus
// 16 per row in 3pc (TestApproxCosts). The maximum's and exp's comparisons cover the range
// above and no more (softmaxBits: f + 22 = 38 bits at f = 16), and exp's drop the bits below
// its cuts' grid (cutPrecision: 28 bits above 10), so their keys are 904 and 664 bytes instead
// of the full width's 1528 (the reciprocal's stay at 64 bits). For 12 heads × 1024, with Max
// planned for the default network (the WAN) included, per entry (BenchmarkApprox):
//
//	            rounds  online B                 offline B
//	2pc FSS     24      276.4                    2194
//	3pc FSS     27      220.4                    2114
//	2pc circuit 56      1371.9                   928.5
//	3pc circuit 48      2327.7 (P0), 1551 (P1)   367.0
//
// (Without Max: 12, 14, 26 and 26 rounds. In 3pc with FSS, Max runs on the two-party view.)
func Softmax(e mpc.Engine, x *mpc.Share, opt SoftmaxOptions) (*mpc.Share, error) {
	rows, n, err := lastAxis("softmax", x)
	if err != nil {
		return nil, err
	}
	f := e.Frac()
	k := max(1, bits.Len(uint(n-1)))
	sf := min(int(f)+8, 48-2*k)
	if sf < int(f) {
		return nil, fmt.Errorf("protocols: softmax: rows of %d are too long for %d fractional bits", n, f)
	}
	var mask *mpc.Tensor
	if opt.Mask != nil {
		if mask, err = expandMask(opt.Mask, x.Shape); err != nil {
			return nil, fmt.Errorf("protocols: softmax: %w", err)
		}
	}
	y := x
	if mask != nil {
		// y = mask·x + (1 − mask)·maskedScore
		if y, err = e.MulPublic(y, mask); err != nil {
			return nil, err
		}
		off := mpc.NewTensor(x.Shape...)
		for i, b := range mask.Data {
			off.Data[i] = (1 - b) * mpc.Encode(maskedScore, f)
		}
		if y, err = e.AddPublic(y, off); err != nil {
			return nil, err
		}
	}
	if sm := opt.SecretMask; sm != nil {
		if !broadcastsTo(sm.Shape, x.Shape) {
			return nil, fmt.Errorf("protocols: softmax: secret mask of shape %v does not broadcast to %v", sm.Shape, x.Shape)
		}
		// y = sm·(y + 2^20) − 2^20
		big := mpc.Encode(-maskedScore, f)
		if y, err = e.AddPublic(y, mpc.Scalar(big)); err != nil {
			return nil, err
		}
		if y, err = e.Mul(sm, y); err != nil {
			return nil, fmt.Errorf("protocols: softmax: secret mask: %w", err)
		}
		if y, err = e.AddPublic(y, mpc.Scalar(-big)); err != nil {
			return nil, err
		}
	}
	// The maximum and exp compare over softmaxBits, all the range needs.
	ce, err := e.WithCompareBits(softmaxBits(f))
	if err != nil {
		return nil, err
	}
	done := e.Meter().Scope("max")
	m, err := maskedMax(ce, y, mask, rows, n)
	done()
	if err != nil {
		return nil, fmt.Errorf("protocols: softmax: %w", err)
	}
	d, err := e.Sub(y, m)
	if err != nil {
		return nil, err
	}
	// Under a public mask, exp, the row sums and the products run on the unmasked entries
	// only, packed by their public positions (a causal prefill's upper triangle costs
	// nothing), and the masked ones come back as exact zeros.
	pk := newPacking(mask, rows, n)
	if d, err = pk.pack(d); err != nil {
		return nil, err
	}
	done = e.Meter().Scope("exp")
	ex, err := expScaled(e, d, uint(sf), softmaxBits(f))
	done()
	if err != nil {
		return nil, fmt.Errorf("protocols: softmax: %w", err)
	}
	s, err := pk.rowSums(e, ex)
	if err != nil {
		return nil, err
	}
	done = e.Meter().Scope("reciprocal")
	r, err := reciprocal(e, s, uint(sf), k, uint(61-sf))
	done()
	if err != nil {
		return nil, fmt.Errorf("protocols: softmax: %w", err)
	}
	if r, err = pk.spread(r); err != nil {
		return nil, err
	}
	p, err := e.MulTruncBits(ex, r, 61-f)
	if err != nil {
		return nil, err
	}
	if p, err = pk.unpack(p); err != nil {
		return nil, err
	}
	return mpc.Reshape(p, x.Shape...)
}

// maskedMax is the maximum along the last axis of y (rows×n entries), whose masked entries
// (mask 0, if a mask is given) sit at maskedScore, as Max returns it. Beyond the last unmasked entry of its row, a
// row holds only masked entries, which cannot win, so with a mask the rows may be ranked by
// that prefix length and split into blocks, each a Max of its own over its longest prefix: a
// causal mask then leaves about half the comparisons. Each block adds its Max's rounds, so the
// number of blocks (1, 2, 4, 8 or 16) is the one the tournament cost model estimates fastest on
// the engine's network (PlanTournament's estimate, summed over the blocks); the choice depends
// on the shapes, the mask and the network only, which are public.
func maskedMax(e mpc.Engine, y *mpc.Share, mask *mpc.Tensor, rows, n int) (*mpc.Share, error) {
	if mask == nil {
		return Max(e, y)
	}
	// order lists the rows by their prefix length, shortest first; prefix[r] is row r's.
	prefix := make([]int, rows)
	for r := range rows {
		for i := n - 1; i >= 0; i-- {
			if mask.Data[r*n+i] == 1 {
				prefix[r] = i + 1
				break
			}
		}
	}
	order := make([]int, rows)
	for r := range order {
		order[r] = r
	}
	slices.SortStableFunc(order, func(a, b int) int { return prefix[a] - prefix[b] })
	// blocks cuts order into k blocks of about equal row counts.
	blocks := func(k int) [][]int {
		var out [][]int
		for b := range k {
			if lo, hi := b*rows/k, (b+1)*rows/k; hi > lo {
				out = append(out, order[lo:hi])
			}
		}
		return out
	}
	b, link := backendOf(e), e.Network()
	best, bestT := 1, math.Inf(1)
	for k := 1; k <= 16 && k <= rows; k *= 2 {
		var c meterCost
		for _, blk := range blocks(k) {
			w := prefix[blk[len(blk)-1]]
			c.add(maxCost(b, len(blk), w, planTournament(b, len(blk), w, link)))
		}
		if t := c.seconds(link); t < bestT {
			best, bestT = k, t
		}
	}
	if best == 1 && prefix[order[rows-1]] == n {
		return Max(e, y)
	}
	y2, err := mpc.Reshape(y, rows, n)
	if err != nil {
		return nil, err
	}
	var ms []*mpc.Share
	for _, blk := range blocks(best) {
		part, err := mpc.Take(y2, 0, blk)
		if err != nil {
			return nil, err
		}
		if part, err = mpc.Slice(part, 1, 0, prefix[blk[len(blk)-1]]); err != nil {
			return nil, err
		}
		m, err := Max(e, part)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	m, err := mpc.Concat(0, ms...)
	if err != nil {
		return nil, err
	}
	// Back to the rows' own order: row order[j] is at j.
	at := make([]int, rows)
	for j, r := range order {
		at[r] = j
	}
	if m, err = mpc.Take(m, 0, at); err != nil {
		return nil, err
	}
	return mpc.Reshape(m, withLast(y.Shape, 1)...)
}

// packing is the layout of a softmax's entries over rows×n: with a public mask that masks some
// entries, the unmasked ones in row-major order as 1×K; otherwise all of them as rows×n.
type packing struct {
	rows, n int
	keep    []int // flat positions of the unmasked entries (nil: every entry, unpacked)
	row     []int // the row of each
}

// newPacking returns the packing of the entries mask keeps; mask, if any, has rows×n entries.
func newPacking(mask *mpc.Tensor, rows, n int) *packing {
	pk := &packing{rows: rows, n: n}
	if mask == nil || !slices.Contains(mask.Data, 0) {
		return pk
	}
	for i, b := range mask.Data {
		if b == 1 {
			pk.keep = append(pk.keep, i)
			pk.row = append(pk.row, i/n)
		}
	}
	return pk
}

// pack returns x's entries (x has rows×n) in the packing.
func (pk *packing) pack(x *mpc.Share) (*mpc.Share, error) {
	if pk.keep == nil {
		return mpc.Reshape(x, pk.rows, pk.n)
	}
	flat, err := mpc.Reshape(x, 1, pk.rows*pk.n)
	if err != nil {
		return nil, err
	}
	return mpc.Take(flat, 1, pk.keep)
}

// rowSums returns the row sums (rows×1) of packed entries: local.
func (pk *packing) rowSums(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
	if pk.keep == nil {
		return e.MatMulPublic(x, onesColumn(pk.n))
	}
	terms := make([][]linTerm, pk.rows)
	for j, r := range pk.row {
		terms[r] = append(terms[r], linTerm{j, 1})
	}
	s, err := linearMap(e, x, terms, nil)
	if err != nil {
		return nil, err
	}
	return mpc.Reshape(s, pk.rows, 1)
}

// spread returns the per-row values r (rows×1) in the shape the product with packed entries
// takes: r itself where the entries are rows×n (the product broadcasts it), else each packed
// entry's row value.
func (pk *packing) spread(r *mpc.Share) (*mpc.Share, error) {
	if pk.keep == nil {
		return r, nil
	}
	flat, err := mpc.Reshape(r, 1, pk.rows)
	if err != nil {
		return nil, err
	}
	return mpc.Take(flat, 1, pk.row)
}

// unpack returns packed entries as rows×n, the masked ones exactly 0: local.
func (pk *packing) unpack(x *mpc.Share) (*mpc.Share, error) {
	if pk.keep == nil {
		return x, nil
	}
	n := pk.rows * pk.n
	return mpc.NewShare([]int{pk.rows, pk.n}, scatter(x.Own, pk.keep, n), scatter(x.Next, pk.keep, n))
}

// scatter returns a vector of n zeros with src[j] at keep[j] (nil for nil).
func scatter(src []uint64, keep []int, n int) []uint64 {
	if src == nil {
		return nil
	}
	out := make([]uint64, n)
	for j, i := range keep {
		out[i] = src[j]
	}
	return out
}

// broadcastsTo reports whether shape from broadcasts (numpy rules) to exactly shape to.
func broadcastsTo(from, to []int) bool {
	if len(from) > len(to) {
		return false
	}
	for i, d := range from {
		if t := to[len(to)-len(from)+i]; d != t && d != 1 {
			return false
		}
	}
	return true
}

// expandMask checks that mask holds 0/1 values, broadcasts it to shape, and checks that every
// row keeps an entry.
func expandMask(mask *mpc.Tensor, shape []int) (*mpc.Tensor, error) {
	if len(mask.Data) != mpc.Numel(mask.Shape) || !broadcastsTo(mask.Shape, shape) {
		return nil, fmt.Errorf("mask of shape %v does not broadcast to %v", mask.Shape, shape)
	}
	for _, b := range mask.Data {
		if b > 1 {
			return nil, fmt.Errorf("mask holds %d, not 0 or 1", b)
		}
	}
	// Broadcasting moves data only, so the mask can ride in a share's data.
	ms, err := mpc.NewShare(mask.Shape, mask.Data, nil)
	if err != nil {
		return nil, fmt.Errorf("mask: %w", err)
	}
	if ms, err = mpc.Broadcast(ms, shape...); err != nil {
		return nil, fmt.Errorf("mask: %w", err)
	}
	n := shape[len(shape)-1]
	for r := 0; r < len(ms.Own); r += n {
		if !slices.Contains(ms.Own[r:r+n], 1) {
			return nil, fmt.Errorf("mask leaves row %d empty", r/n)
		}
	}
	return &mpc.Tensor{Shape: slices.Clone(shape), Data: ms.Own}, nil
}
