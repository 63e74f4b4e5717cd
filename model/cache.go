package model

// LayerCache is the key/value cache of one layer: the keys (after rotary embedding) and
// values of every position processed so far, whatever a policy attends over.
type LayerCache struct {
	kvHeads, headDim int
	k, v             []float64 // [Len][KVHeads·HeadDim]
}

// Len is the number of cached positions.
func (c *LayerCache) Len() int { return len(c.k) / (c.kvHeads * c.headDim) }

// Key returns the key of KV head g at position pos (HeadDim values; do not modify).
func (c *LayerCache) Key(pos, g int) []float64 { return c.row(c.k, pos, g) }

// Value returns the value of KV head g at position pos (HeadDim values; do not modify).
func (c *LayerCache) Value(pos, g int) []float64 { return c.row(c.v, pos, g) }

func (c *LayerCache) row(m []float64, pos, g int) []float64 {
	off := (pos*c.kvHeads + g) * c.headDim
	return m[off : off+c.headDim : off+c.headDim]
}

func (c *LayerCache) append(k, v []float64) {
	c.k = append(c.k, k...)
	c.v = append(c.v, v...)
}

// NewLayerCache returns an empty cache of one layer with kvHeads KV heads of headDim values
// each, which Append fills: for replaying a policy's selections on keys computed elsewhere
// (package cache's tests replay the secure policies on a secure run's revealed keys).
func NewLayerCache(kvHeads, headDim int) *LayerCache {
	return &LayerCache{kvHeads: kvHeads, headDim: headDim}
}

// Append adds the next position's keys and values, KVHeads·HeadDim values each, head by head.
func (c *LayerCache) Append(k, v []float64) { c.append(k, v) }
