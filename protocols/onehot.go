package protocols

import (
	"fmt"

	"github.com/privinfer/mpcache/mpc"
)

// OneHot maps each secret index of idx (plain ring integers, not fixed point) to its one-hot
// row of length n (plain ring integers 0/1), of shape idx.Shape + [n]. Range: every index must
// lie in [0, n); an index in [n, N), N = 2^ceil(log2 n), gives a zero row, and any other value
// wraps modulo N, so out-of-range indices are not detected. It wraps mpc.Engine.OneHot: the
// dealer (P2 in 3pc) deals a random rotation r and its one-hot vector, the parties open
// idx − r mod N (uniform) and rotate.
//
// Cost, per index: 2pc 1 round, 8 bytes online, 8·N bytes offline; 3pc 2 rounds, 8 + 8·n
// bytes online at P0 and P1 (16 at P2), 8·N bytes offline.
func OneHot(e mpc.Engine, idx *mpc.Share, n int) (*mpc.Share, error) {
	if n < 1 {
		return nil, fmt.Errorf("protocols: one-hot: row length %d is not positive", n)
	}
	if idx.Len() == 0 {
		return nil, fmt.Errorf("protocols: one-hot: no indices (shape %v)", idx.Shape)
	}
	out, err := e.OneHot(idx, n)
	if err != nil {
		return nil, fmt.Errorf("protocols: one-hot: %w", err)
	}
	return out, nil
}
