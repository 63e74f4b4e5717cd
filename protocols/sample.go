package protocols

import (
	"fmt"
	"math"

	"github.com/privinfer/mpcache/mpc"
)

// SampleTopP draws one token per row of logits (along the last axis) from the top-p (nucleus)
// distribution of softmax(logits/temperature), driven by the secret uniforms u (one per row,
// fixed point with e.Frac() fractional bits in [0, 1), shape logits.Shape[:-1] or that with a
// trailing 1: the client's randomness). It returns the one-hot of the token (plain ring
// integers 0/1, logits' shape) and its id (plain ring integer, shape logits.Shape[:-1] + [1]).
// temperature > 0 and topP ∈ (0, 1] are public. It is model.NucleusToken on the fixed-point
// probabilities: equal to it on the same u up to fixed-point error.
//
// Method, fully oblivious (the rounds and message sizes depend on the shapes only, and
// nothing is opened but masked values):
//
//   - p = Softmax(logits·(1/temperature)) (the scaling is one MulConst, skipped at 1).
//   - Nucleus by threshold, without sorting: the threshold τ, the largest multiple of 2^−f in
//     [0, 1) with S(τ) = Σ_i p_i·[p_i ≥ τ] ≥ topP, is found bit by bit from the top: f
//     iterations, each one batched comparison [p_i ≥ τ + 2^−k] over the row, one product
//     (c·p as a matrix product with p fixed, so only c is opened in 2pc) and one comparison of
//     S with topP. S falls as τ rises, so this is a binary search; since every p_i is itself a
//     multiple of 2^−f, the nucleus c_i = [p_i ≥ τ] (one more comparison batch) is exactly
//     model.Nucleus's rule on p: the fewest largest probabilities holding topP of the mass,
//     with every token tied at τ included. topP = 1 takes every token and skips the search.
//   - Inverse CDF in vocabulary order: q = c·p (one product), prefix sums of q (local), and
//     b_i = [u·Σq < 2^f·prefix_i] in one comparison batch, with u·Σq an exact ring product (no
//     truncation); the one-hot is b_i − b_(i−1) and the id Σ i·onehot_i (local). b is
//     non-decreasing and its last entry is exactly 1 (u < 1), so the one-hot has exactly one 1,
//     and it falls on a token of q_i > 0: a token outside the nucleus is never drawn.
//
// Range: |logits/temperature| < 2^19 and rows of at most 2^((48−f)/2) tokens (Softmax's
// limits: 65536 at f = 16, so gpt2's 50257 fits); u outside [0, 1) (a client hurting only its
// own output) may give a zero row. Accuracy: Softmax's (probabilities within about 1e-3), so
// the token equals the float64 reference's unless u·Σq, the mass S or a probability at the
// threshold lies within that error of a boundary.
//
// Cost, as measured (TestSampleTopPCost: one row of 50257, gpt2's vocabulary, at f = 16,
// temperature 0.8, top-p 0.9; whole step, softmax and search included), rounds (the most of
// any party), online bytes sent by the busiest party and offline bytes received by P1:
//
//	backend      rounds  online     offline
//	2pc FSS      85      29.8 MB    1708.7 MB
//	3pc FSS      131     27.5 MB    1704.4 MB
//	2pc circuit  358     239.5 MB   140.2 MB
//	3pc circuit  361     210.2 MB   10.6 MB
//
// The f + 2 comparison batches over the row dominate: by FSS each comparison's 1528 bytes of
// keys make 1.7 GB per token, 20 times Argmax's material, so at this vocabulary the circuit
// comparisons are the cheaper choice where bandwidth rather than rounds is scarce. topP = 1
// skips the search (2 comparison batches in all).
func SampleTopP(e mpc.Engine, logits, u *mpc.Share, temperature, topP float64) (onehot, id *mpc.Share, err error) {
	const op = "top-p sampling"
	if !(temperature > 0) || math.IsInf(temperature, 0) {
		return nil, nil, fmt.Errorf("protocols: %s: temperature must be finite and > 0, have %v", op, temperature)
	}
	if !(topP > 0 && topP <= 1) {
		return nil, nil, fmt.Errorf("protocols: %s: top-p must lie in (0, 1], have %v", op, topP)
	}
	x, rows, n, err := rowsOf(op, logits)
	if err != nil {
		return nil, nil, err
	}
	if u == nil || u.Len() != rows {
		var shape []int
		if u != nil {
			shape = u.Shape
		}
		return nil, nil, fmt.Errorf("protocols: %s: need one uniform per row (%d), have shape %v", op, rows, shape)
	}
	if u, err = mpc.Reshape(u, rows, 1); err != nil {
		return nil, nil, err
	}
	f := e.Frac()
	m := e.Meter()

	done := m.Scope("softmax")
	if temperature != 1 {
		x, err = MulConst(e, x, 1/temperature)
	}
	var p *mpc.Share
	if err == nil {
		p, err = Softmax(e, x, SoftmaxOptions{})
	}
	done()
	if err != nil {
		return nil, nil, fmt.Errorf("protocols: %s: %w", op, err)
	}

	q := p
	if topP < 1 {
		done = m.Scope("threshold")
		q, err = nucleus(e, p, rows, n, topP)
		done()
		if err != nil {
			return nil, nil, fmt.Errorf("protocols: %s: %w", op, err)
		}
	}

	defer m.Scope("cdf")()
	prefix := prefixSums(q, rows, n)
	last, err := mpc.Slice(prefix, 1, n-1, n)
	if err != nil {
		return nil, nil, err
	}
	uq, err := e.Mul(u, last) // scale 2f, exact
	if err != nil {
		return nil, nil, fmt.Errorf("protocols: %s: %w", op, err)
	}
	scaled, err := e.MulPublic(prefix, mpc.Scalar(1<<f))
	if err != nil {
		return nil, nil, err
	}
	d, err := e.Sub(uq, scaled)
	if err != nil {
		return nil, nil, err
	}
	b, err := e.LTZ(d) // [u·Σq < 2^f·prefix_i]
	if err != nil {
		return nil, nil, fmt.Errorf("protocols: %s: %w", op, err)
	}
	oh := differences(b, rows, n)
	idx := mpc.NewTensor(n, 1)
	for i := range idx.Data {
		idx.Data[i] = uint64(i)
	}
	ids, err := e.MatMulPublic(oh, idx)
	if err != nil {
		return nil, nil, err
	}
	if oh, err = mpc.Reshape(oh, logits.Shape...); err != nil {
		return nil, nil, err
	}
	if ids, err = mpc.Reshape(ids, withLast(logits.Shape, 1)...); err != nil {
		return nil, nil, err
	}
	return oh, ids, nil
}

// nucleus returns q = p·[p ≥ τ] for the threshold τ of SampleTopP, p of shape [rows][n].
func nucleus(e mpc.Engine, p *mpc.Share, rows, n int, topP float64) (*mpc.Share, error) {
	f := e.Frac()
	p3, err := mpc.Reshape(p, rows, n, 1)
	if err != nil {
		return nil, err
	}
	fixed, err := e.Fix(p3)
	if err != nil {
		return nil, err
	}
	pf := fixed[0]
	target := mpc.Scalar(-mpc.Encode(topP, f))
	var tau *mpc.Share // [rows][1]; nil while 0
	geq := func(step uint64) (*mpc.Share, error) {
		// [p ≥ τ + step] = 1 − [p − τ − step < 0]
		d := p
		var err error
		if tau != nil {
			if d, err = e.Sub(p, tau); err != nil {
				return nil, err
			}
		}
		if d, err = e.AddPublic(d, mpc.Scalar(-step)); err != nil {
			return nil, err
		}
		lt, err := e.LTZ(d)
		if err != nil {
			return nil, err
		}
		return OneMinus(e, lt)
	}
	for k := uint(1); k <= f; k++ {
		step := uint64(1) << (f - k)
		c, err := geq(step)
		if err != nil {
			return nil, err
		}
		if c, err = mpc.Reshape(c, rows, 1, n); err != nil {
			return nil, err
		}
		s, err := e.MatMul(c, pf) // [rows][1][1]: Σ c·p
		if err != nil {
			return nil, err
		}
		if s, err = mpc.Reshape(s, rows, 1); err != nil {
			return nil, err
		}
		if s, err = e.AddPublic(s, target); err != nil {
			return nil, err
		}
		lt, err := e.LTZ(s)
		if err != nil {
			return nil, err
		}
		bit, err := OneMinus(e, lt) // [S(τ + step) ≥ topP]
		if err != nil {
			return nil, err
		}
		inc, err := e.MulPublic(bit, mpc.Scalar(step))
		if err != nil {
			return nil, err
		}
		if tau == nil {
			tau = inc
		} else if tau, err = e.Add(tau, inc); err != nil {
			return nil, err
		}
	}
	c, err := geq(0)
	if err != nil {
		return nil, err
	}
	return e.Mul(c, p)
}

// prefixSums returns the running sums of x ([rows][n]) along each row; local.
func prefixSums(x *mpc.Share, rows, n int) *mpc.Share {
	return rowMap(x, rows, n, func(dst, src []uint64) {
		var acc uint64
		for i, v := range src {
			acc += v
			dst[i] = acc
		}
	})
}

// differences returns x_i − x_(i−1) along each row of x ([rows][n]), with x_(−1) = 0; local.
func differences(x *mpc.Share, rows, n int) *mpc.Share {
	return rowMap(x, rows, n, func(dst, src []uint64) {
		var prev uint64
		for i, v := range src {
			dst[i] = v - prev
			prev = v
		}
	})
}

// rowMap applies the linear map f row by row to every component of x.
func rowMap(x *mpc.Share, rows, n int, f func(dst, src []uint64)) *mpc.Share {
	apply := func(src []uint64) []uint64 {
		if src == nil {
			return nil
		}
		dst := make([]uint64, len(src))
		for r := range rows {
			f(dst[r*n:(r+1)*n], src[r*n:(r+1)*n])
		}
		return dst
	}
	out, err := mpc.NewShare([]int{rows, n}, apply(x.Own), apply(x.Next))
	if err != nil {
		panic(err) // shapes come from x
	}
	return out
}
