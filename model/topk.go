package model

import (
	"math"
	"slices"
)

// TopK returns the k candidates c with the largest scores[c], a lower c first among equal
// scores, in increasing order of c. k is clamped to [0, len(cand)]. Every policy's top-k
// is this one, so secure versions can reproduce selections exactly.
func TopK(scores []float64, cand []int, k int) []int {
	k = min(max(k, 0), len(cand))
	order := slices.Clone(cand)
	slices.SortFunc(order, func(a, b int) int {
		switch {
		case scores[a] > scores[b]:
			return -1
		case scores[a] < scores[b]:
			return 1
		}
		return a - b
	})
	top := order[:k]
	slices.Sort(top)
	return top
}

// FloorFrac returns ⌊ratio·n⌋ (at least 0), the rounding of every ratio-derived count in the
// policy specifications. A relative slack of 1e-9 absorbs binary rounding, so that, for
// example, FloorFrac(0.29, 100) is 29 even though 0.29·100 evaluates to 28.999999999999996.
func FloorFrac(ratio float64, n int) int {
	return max(0, int(math.Floor(ratio*float64(n)*(1+1e-9))))
}
