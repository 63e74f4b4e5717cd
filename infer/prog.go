package infer

import (
	"fmt"

	"github.com/privinfer/mpcache/mpc"
)

// prog runs engine operations with a sticky error, so that the transformer reads like the
// plaintext one: after the first failure every further operation returns nil and err keeps the
// failure, named with the operation and the meter path (which says layer and block).
type prog struct {
	e   mpc.Engine
	err error
}

func (p *prog) do(op string, f func() (*mpc.Share, error)) *mpc.Share {
	if p.err != nil {
		return nil
	}
	z, err := f()
	if err != nil {
		p.err = fmt.Errorf("infer: %s at %q: %w", op, p.e.Meter().Path(), err)
		return nil
	}
	return z
}

// scope opens a meter label and returns its closing function.
func (p *prog) scope(label string) func() { return p.e.Meter().Scope(label) }

func (p *prog) add(x, y *mpc.Share) *mpc.Share {
	return p.do("add", func() (*mpc.Share, error) { return p.e.Add(x, y) })
}

func (p *prog) mul(x, y *mpc.Share) *mpc.Share {
	return p.do("mul", func() (*mpc.Share, error) { return p.e.MulTrunc(x, y) })
}

func (p *prog) matmul(x, y *mpc.Share) *mpc.Share {
	return p.do("matmul", func() (*mpc.Share, error) { return p.e.MatMulTrunc(x, y) })
}

// linear is x·w (+ b): a fixed-point matrix product over x's last axis and an optional bias.
func (p *prog) linear(x, w, b *mpc.Share) *mpc.Share {
	y := p.matmul(x, w)
	if b == nil {
		return y
	}
	return p.add(y, b)
}

func (p *prog) reshape(x *mpc.Share, shape ...int) *mpc.Share {
	return p.do("reshape", func() (*mpc.Share, error) { return mpc.Reshape(x, shape...) })
}

func (p *prog) permute(x *mpc.Share, perm ...int) *mpc.Share {
	return p.do("permute", func() (*mpc.Share, error) { return mpc.Permute(x, perm...) })
}

func (p *prog) transpose(x *mpc.Share) *mpc.Share {
	return p.do("transpose", func() (*mpc.Share, error) { return mpc.Transpose(x) })
}

func (p *prog) slice(x *mpc.Share, axis, lo, hi int) *mpc.Share {
	return p.do("slice", func() (*mpc.Share, error) { return mpc.Slice(x, axis, lo, hi) })
}

// call runs a protocol function.
func (p *prog) call(op string, f func(e mpc.Engine, x *mpc.Share) (*mpc.Share, error), x *mpc.Share) *mpc.Share {
	return p.do(op, func() (*mpc.Share, error) { return f(p.e, x) })
}
