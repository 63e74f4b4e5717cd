package protocols

import (
	"github.com/privinfer/mpcache/mpc"
)

// Max returns the maximum along the last axis (shape x.Shape with the last axis set to 1).
// Exact. A binary tournament with every row's comparisons of one level in one batch:
// ceil(log2 n) levels of one LTZ (8 rounds) and one Select (1 round).
func Max(e mpc.Engine, x *mpc.Share) (*mpc.Share, error) {
	rows, n, err := lastAxis("max", x)
	if err != nil {
		return nil, err
	}
	cur, err := mpc.Reshape(x, rows, n)
	if err != nil {
		return nil, err
	}
	for n > 1 {
		h := n / 2
		a, _ := mpc.Slice(cur, 1, 0, h)
		b, _ := mpc.Slice(cur, 1, h, 2*h)
		d, err := e.Sub(a, b)
		if err != nil {
			return nil, err
		}
		lt, err := e.LTZ(d) // a < b
		if err != nil {
			return nil, err
		}
		m, err := e.Select(lt, b, a)
		if err != nil {
			return nil, err
		}
		if n%2 == 1 {
			rest, _ := mpc.Slice(cur, 1, 2*h, n)
			if m, err = mpc.Concat(1, m, rest); err != nil {
				return nil, err
			}
		}
		cur, n = m, m.Shape[1]
	}
	shape := append(append([]int{}, x.Shape[:len(x.Shape)-1]...), 1)
	return mpc.Reshape(cur, shape...)
}
