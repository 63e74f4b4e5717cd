package protocols

import (
	"fmt"
	"testing"

	"github.com/privinfer/mpcache/mpc"
)

// BenchmarkCompare runs the comparison-based building blocks at the sizes of a GPT-2-124M
// decode step: ReLU and Equal over an MLP row (3072), and secret indices to one-hot rows over
// a 1024-token cache (12 heads × 64 selected rows); per input element (ReLU, Equal) or per
// one-hot row (OneHot).
func BenchmarkCompare(b *testing.B) {
	const n, rows, width = 3072, 12 * 64, 1024
	for _, be := range testBackends {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64(i%17) - 8
		}
		b.Run(fmt.Sprintf("relu/%d/%v", n, be), func(b *testing.B) {
			sh := shareFloats(b, be.p, xs, n)
			benchOpOn(b, be, n, func(e mpc.Engine) error {
				_, err := ReLU(e, sh[e.Party()])
				return err
			})
		})
		b.Run(fmt.Sprintf("equal/%d/%v", n, be), func(b *testing.B) {
			sh := shareFloats(b, be.p, xs, n)
			benchOpOn(b, be, n, func(e mpc.Engine) error {
				_, err := Equal(e, sh[e.Party()], sh[e.Party()])
				return err
			})
		})
		b.Run(fmt.Sprintf("onehot/%dx%d/%v", rows, width, be), func(b *testing.B) {
			idx := make([]int64, rows)
			for i := range idx {
				idx[i] = int64(i * 7 % width)
			}
			sh := shareInts(b, be.p, idx, rows)
			benchOpOn(b, be, rows, func(e mpc.Engine) error {
				_, err := OneHot(e, sh[e.Party()], width)
				return err
			})
		})
	}
}
