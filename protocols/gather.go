package protocols

import (
	"fmt"

	"github.com/privinfer/mpcache/mpc"
)

// Gather returns the rows a secret selection picks: for sel of shape (…, k, n) whose rows are
// one-hot (plain ring integers 0/1, as TopK, Argmax and OneHot return) and rows of shape
// (…, n, d), it returns sel·rows of shape (…, k, d), row r being the row sel[r] selects. The
// values of rows may be fixed point or plain integers: a product with 0/1 needs no truncation,
// so the result is exact. Batch axes broadcast as in mpc.Engine.MatMul (a rank-2 rows serves
// every batch, e.g. every head), and a zero row of sel gives a zero row.
//
// Cost: 1 round. 2pc: each party sends 8 bytes per element of sel and of rows, or of sel
// alone when rows carries a fixed mask (mpc.Engine.Fix, as a KV cache should: then gathering
// from it again opens only the selection); offline 8 bytes per output element. 3pc: 8 bytes per
// output element, no offline material.
func Gather(e mpc.Engine, sel, rows *mpc.Share) (*mpc.Share, error) {
	rs, rr := len(sel.Shape), len(rows.Shape)
	if rs < 2 || rr < 2 {
		return nil, fmt.Errorf("protocols: gather: selection %v and rows %v need two axes each", sel.Shape, rows.Shape)
	}
	if sel.Shape[rs-1] != rows.Shape[rr-2] {
		return nil, fmt.Errorf("protocols: gather: selection %v picks among %d rows but rows %v has %d", sel.Shape, sel.Shape[rs-1], rows.Shape, rows.Shape[rr-2])
	}
	if sel.Len() == 0 || rows.Len() == 0 {
		return nil, fmt.Errorf("protocols: gather: empty selection %v or rows %v", sel.Shape, rows.Shape)
	}
	if rr > 2 {
		a, b := sel.Shape[:rs-2], rows.Shape[:rr-2]
		for i := 1; i <= min(len(a), len(b)); i++ {
			x, y := a[len(a)-i], b[len(b)-i]
			if x != y && x != 1 && y != 1 {
				return nil, fmt.Errorf("protocols: gather: batch axes of selection %v and rows %v do not broadcast", sel.Shape, rows.Shape)
			}
		}
	}
	out, err := e.MatMul(sel, rows)
	if err != nil {
		return nil, fmt.Errorf("protocols: gather: %w", err)
	}
	return out, nil
}
