package model

import "fmt"

// Schedule is a cross-layer index-sharing schedule: Schedule[l] is the layer whose
// selections (static kept set and per-step dynamic selection) layer l uses. An owner
// layer maps to itself; every other layer maps to an earlier owner.
type Schedule []int

// DefaultSchedule is MPCache's schedule for a model of the given depth L: layers 0, 1,
// L−2 and L−1 own; for 2 ≤ l ≤ L−3 an even l owns and an odd l reuses l−1. For L = 32,
// 14 layers reuse. For L ≤ 4 every layer owns.
func DefaultSchedule(layers int) Schedule {
	s := make(Schedule, layers)
	for l := range s {
		s[l] = l
		if l >= 2 && l <= layers-3 && l%2 == 1 {
			s[l] = l - 1
		}
	}
	return s
}

// Owners returns the owner layers in increasing order.
func (s Schedule) Owners() []int {
	var o []int
	for l, src := range s {
		if src == l {
			o = append(o, l)
		}
	}
	return o
}

// Validate checks that s covers the given number of layers and maps each layer to itself
// or to an earlier owner.
func (s Schedule) Validate(layers int) error {
	if len(s) != layers {
		return fmt.Errorf("schedule has %d layers, model %d", len(s), layers)
	}
	for l, src := range s {
		if src < 0 || src > l || s[src] != src {
			return fmt.Errorf("schedule maps layer %d to %d, which is not itself or an earlier owner", l, src)
		}
	}
	return nil
}
