package mpc

import "fmt"

// Less returns shares of the bits a < b (ring 0/1), element-wise after numpy-style
// broadcasting. It is LTZ(a − b): the difference is local, so Less costs exactly the rounds and
// bytes (online and offline) of one LTZ on the broadcast shape, plus nothing.
//
// It is valid for |a − b| < 2^63, where the ring difference a − b still carries the sign of the
// true difference; that holds for any fixed-point values of magnitude below 2^62 (in ring
// units, at any Frac), the range the engine supports (see Trunc). Beyond it the difference
// wraps and the bit is wrong.
func Less(e Engine, a, b *Share) (*Share, error) {
	d, err := e.Sub(a, b)
	if err != nil {
		return nil, fmt.Errorf("mpc: less: %w", err)
	}
	return e.LTZ(d)
}
