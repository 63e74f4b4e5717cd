package protocols

import (
	"fmt"

	"github.com/privinfer/mpcache/mpc"
)

// Const returns the public fixed-point tensor of shape filled with c.
func Const(e mpc.Engine, c float64, shape ...int) *mpc.Tensor {
	t := mpc.NewTensor(shape...)
	v := mpc.Encode(c, e.Frac())
	for i := range t.Data {
		t.Data[i] = v
	}
	return t
}

// AddConst returns x + c for a public real c. Local.
func AddConst(e mpc.Engine, x *mpc.Share, c float64) (*mpc.Share, error) {
	return e.AddPublic(x, Const(e, c, 1))
}

// MulConst returns x·c for a public real c, truncated back to fixed point. 2pc: 1 round;
// 3pc: 2 rounds. When c is an integer, use MulInt (local).
func MulConst(e mpc.Engine, x *mpc.Share, c float64) (*mpc.Share, error) {
	y, err := e.MulPublic(x, Const(e, c, 1))
	if err != nil {
		return nil, err
	}
	return e.Trunc(y, e.Frac())
}

// MulInt returns x·c for a public integer c (no truncation). Local.
func MulInt(e mpc.Engine, x *mpc.Share, c int64) (*mpc.Share, error) {
	return e.MulPublic(x, mpc.Scalar(uint64(c)))
}

// OneMinus returns 1 − b for shared plain-integer bits b (not fixed point). Local.
func OneMinus(e mpc.Engine, b *mpc.Share) (*mpc.Share, error) {
	n, err := e.Neg(b)
	if err != nil {
		return nil, err
	}
	return e.AddPublic(n, mpc.Scalar(1))
}

// lastAxis validates that x has at least one axis and returns the length of the last one and
// the number of rows before it.
func lastAxis(op string, x *mpc.Share) (rows, n int, err error) {
	if len(x.Shape) == 0 || x.Shape[len(x.Shape)-1] == 0 {
		return 0, 0, fmt.Errorf("protocols: %s: shape %v has no last axis to work along", op, x.Shape)
	}
	n = x.Shape[len(x.Shape)-1]
	return x.Len() / n, n, nil
}
