package twoparty

import "github.com/privinfer/mpcache/mpc"

// BatchFor is the elementwise part of a material count (for example a session's budget from
// infer.MaterialBudget) as a Batch for Precompute. Matrix triples and masks are not batched.
func BatchFor(c mpc.MaterialCount) Batch {
	b := Batch{Triples: int(c.Triples), ANDs: int(c.ANDs), PrivateANDs: int(c.PrivateANDs), BitPairs: int(c.BitPairs)}
	if len(c.Truncs) > 0 {
		b.Truncs = map[uint]int{}
		for s, n := range c.Truncs {
			b.Truncs[s] = int(n)
		}
	}
	if len(c.OneHots) > 0 {
		b.OneHots = map[int]int{}
		for N, n := range c.OneHots {
			b.OneHots[N] = int(n)
		}
	}
	return b
}
