package protocols

import (
	"sync"

	"github.com/privinfer/mpcache/mpc"
)

// The planners' choices are pure functions of public shapes, backends and networks, and
// costly for long rows (planning Argmax over GPT-2's vocabulary takes milliseconds, every
// decoded token), so they are remembered. Each memo keeps at most memoSize entries; past
// that it still answers, without remembering more.
const memoSize = 1 << 14

// planKey identifies a tournament plan.
type planKey struct {
	b       backend
	rows, n int
	link    mpc.Network
}

// trackKey identifies Argmax's choice of tracking for a plan.
type trackKey struct {
	planKey
	plan string
}

// memo is a bounded map safe for concurrent use (parties of one process plan at once).
type memo[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]V
}

func (c *memo[K, V]) load(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *memo[K, V]) store(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[K]V{}
	}
	if len(c.m) < memoSize {
		c.m[k] = v
	}
}

var (
	plans     memo[planKey, Tournament]
	trackings memo[trackKey, tracking]
)
