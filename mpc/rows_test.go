package mpc_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/mpctest"
)

// TestRows grows a cache row block by row block, past several growths of its blocks, and after
// every append checks MatMulRows (x·Rᵀ and x·R, with and without truncation) against the
// plaintext product, and its meter against the same product of the packed copy (Rows.Slice of every row)
// by MatMulTruncBits: reading the rows in place changes no byte and no round.
func TestRows(t *testing.T) {
	const batch, width, m = 3, 5, 2
	steps := []int{4, 1, 1, 7, 0, 12}
	total := 0
	for _, s := range steps {
		total += s
	}
	r := rand.New(rand.NewPCG(21, 22))
	rows := &mpc.Tensor{Shape: []int{batch, total, width}, Data: randRing(r, batch*total*width, 20)}
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			rs := split(t, p, rows)
			type step struct {
				q, qf *mpc.Tensor // x of x·Rᵀ ([batch, m, width]) and of x·R ([batch, m, n])
				n     int
			}
			var plan []step
			n := 0
			for _, s := range steps {
				n += s
				plan = append(plan, step{
					q:  &mpc.Tensor{Shape: []int{batch, m, width}, Data: randRing(r, batch*m*width, 20)},
					qf: &mpc.Tensor{Shape: []int{batch, m, n}, Data: randRing(r, batch*m*n, 20)},
					n:  n,
				})
			}
			qs, qfs := make([][]*mpc.Share, len(plan)), make([][]*mpc.Share, len(plan))
			for i, st := range plan {
				qs[i], qfs[i] = split(t, p, st.q), split(t, p, st.qf)
			}
			type out struct {
				z     []*mpc.Share // per step: x·Rᵀ, x·R, x·Rᵀ truncated by 8
				stats [][2]mpc.Stat
				full  *mpc.Share
			}
			res := mpctest.Run(t, p, mpctest.Memory, mpc.Config{}, func(e mpc.Engine) (out, error) {
				var o out
				var c *mpc.Rows
				at := 0
				for i, s := range steps {
					part, err := mpc.Slice(rs[e.Party()], 1, at, at+s)
					if err != nil {
						return o, err
					}
					at += s
					f, err := e.Fix(part)
					if err != nil {
						return o, err
					}
					if c, err = mpc.AppendRows(c, f[0]); err != nil {
						return o, err
					}
					if c.Len() != at || c.Batch() != batch || c.Width() != width {
						return o, fmt.Errorf("rows are [%d, %d, %d] after appending %d", c.Batch(), c.Len(), c.Width(), at)
					}
					q, qf := qs[i][e.Party()], qfs[i][e.Party()]
					var stat [2]mpc.Stat
					e.Meter().Reset()
					zt, err := e.MatMulRows(q, c, true, 0)
					if err != nil {
						return o, err
					}
					zn, err := e.MatMulRows(qf, c, false, 0)
					if err != nil {
						return o, err
					}
					zt8, err := e.MatMulRows(q, c, true, 8)
					if err != nil {
						return o, err
					}
					stat[0] = e.Meter().Total()
					e.Meter().Reset()
					packed, err := c.Slice(0, c.Len())
					if err != nil {
						return o, err
					}
					kt, err := mpc.Transpose(packed)
					if err != nil {
						return o, err
					}
					for _, f := range []func() (*mpc.Share, error){
						func() (*mpc.Share, error) { return e.MatMulTruncBits(q, kt, 0) },
						func() (*mpc.Share, error) { return e.MatMulTruncBits(qf, packed, 0) },
						func() (*mpc.Share, error) { return e.MatMulTruncBits(q, kt, 8) },
					} {
						if _, err := f(); err != nil {
							return o, err
						}
					}
					stat[1] = e.Meter().Total()
					o.z = append(o.z, zt, zn, zt8)
					o.stats = append(o.stats, stat)
				}
				full, err := c.Slice(0, c.Len())
				o.full = full
				return o, err
			})
			reveal := func(f func(o out) *mpc.Share) *mpc.Tensor {
				return mpctest.Reveal(t, p, []*mpc.Share{f(res[0]), f(res[1]), f(res[2])})
			}
			if got := reveal(func(o out) *mpc.Share { return o.full }); !slices.Equal(got.Data, rows.Data) {
				t.Errorf("Rows.Slice does not reveal the appended rows")
			}
			for i, st := range plan {
				cache := &mpc.Tensor{Shape: []int{batch, st.n, width}}
				for h := range batch {
					cache.Data = append(cache.Data, rows.Data[h*total*width:(h*total+st.n)*width]...)
				}
				kt := transpose(cache)
				wantT, wantN := mpctest.MatMul(st.q, kt), mpctest.MatMul(st.qf, cache)
				gotT := reveal(func(o out) *mpc.Share { return o.z[3*i] })
				gotN := reveal(func(o out) *mpc.Share { return o.z[3*i+1] })
				got8 := reveal(func(o out) *mpc.Share { return o.z[3*i+2] })
				if !slices.Equal(gotT.Data, wantT) || !slices.Equal(gotT.Shape, []int{batch, m, st.n}) {
					t.Errorf("step %d (%d rows): x·Rᵀ wrong", i, st.n)
				}
				if !slices.Equal(gotN.Data, wantN) || !slices.Equal(gotN.Shape, []int{batch, m, width}) {
					t.Errorf("step %d (%d rows): x·R wrong", i, st.n)
				}
				for j, v := range wantT {
					if d := int64(got8.Data[j]) - int64(v)>>8; d < 0 || d > 1 {
						t.Fatalf("step %d: truncated x·Rᵀ entry %d: got %d, want %d (+1 allowed)", i, j, int64(got8.Data[j]), int64(v)>>8)
					}
				}
				for party := range 3 {
					s := res[party].stats[i]
					s[0].Seconds, s[1].Seconds = 0, 0
					if s[0] != s[1] {
						t.Errorf("step %d party %d: MatMulRows costs %+v, the packed product %+v", i, party, s[0], s[1])
					}
				}
			}
		})
	}
}

// transpose returns the tensor [b, n, w] as [b, w, n].
func transpose(x *mpc.Tensor) *mpc.Tensor {
	b, n, w := x.Shape[0], x.Shape[1], x.Shape[2]
	out := &mpc.Tensor{Shape: []int{b, w, n}, Data: make([]uint64, len(x.Data))}
	for h := range b {
		for i := range n {
			for j := range w {
				out.Data[(h*w+j)*n+i] = x.Data[(h*n+i)*w+j]
			}
		}
	}
	return out
}

// TestRowsBadInput checks that Rows and MatMulRows reject what does not fit, naming it.
func TestRowsBadInput(t *testing.T) {
	// input shares zeros of shape; fixed fixes them; rows makes fixed rows of them.
	input := func(e mpc.Engine, shape ...int) (*mpc.Share, error) {
		return e.Input(0, mpc.NewTensor(shape...), shape)
	}
	fixed := func(e mpc.Engine, shape ...int) (*mpc.Share, error) {
		x, err := input(e, shape...)
		if err != nil {
			return nil, err
		}
		f, err := e.Fix(x)
		if err != nil {
			return nil, err
		}
		return f[0], nil
	}
	rows := func(e mpc.Engine, shape ...int) (*mpc.Rows, error) {
		x, err := fixed(e, shape...)
		if err != nil {
			return nil, err
		}
		return mpc.NewRows(x)
	}
	// product multiplies zeros of shape xs with rows of shape rs.
	product := func(e mpc.Engine, rs, xs []int, transposed bool, bits uint) error {
		var r *mpc.Rows
		var err error
		if rs != nil {
			if r, err = rows(e, rs...); err != nil {
				return err
			}
		}
		q, err := input(e, xs...)
		if err != nil {
			return err
		}
		_, err = e.MatMulRows(q, r, transposed, bits)
		return err
	}
	cases := []struct {
		name, want string
		f          func(e mpc.Engine) error
	}{
		{"rank", "is not [batch, rows, width]", func(e mpc.Engine) error {
			_, err := rows(e, 2, 3)
			return err
		}},
		{"not fixed", "not fixed", func(e mpc.Engine) error {
			x, err := input(e, 2, 1, 3)
			if err != nil {
				return err
			}
			_, err = mpc.NewRows(x)
			return err
		}},
		{"append shape", "append of shape [2 1 4]", func(e mpc.Engine) error {
			r, err := rows(e, 2, 1, 3)
			if err != nil {
				return err
			}
			y, err := fixed(e, 2, 1, 4)
			if err != nil {
				return err
			}
			return r.Append(y)
		}},
		{"product shape", "does not multiply rowsᵀ", func(e mpc.Engine) error {
			return product(e, []int{2, 4, 3}, []int{2, 1, 4}, true, 0)
		}},
		{"nil rows", "no rows", func(e mpc.Engine) error {
			return product(e, nil, []int{1, 1, 2}, true, 0)
		}},
		{"truncation", "out of range", func(e mpc.Engine) error {
			return product(e, []int{1, 2, 3}, []int{1, 1, 2}, false, 62)
		}},
	}
	for _, p := range protocols {
		for _, tc := range cases {
			t.Run(string(p)+"/"+tc.name, func(t *testing.T) {
				_, err := mpctest.RunErr(p, mpctest.Memory, mpc.Config{}, func(e mpc.Engine) (struct{}, error) {
					return struct{}{}, tc.f(e)
				})
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want one containing %q", err, tc.want)
				}
			})
		}
	}
}
