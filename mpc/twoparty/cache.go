package twoparty

import (
	"container/list"
	"hash/maphash"
)

// maskKey names an encrypted fixed operand: a 128-bit hash of this party's share of it (the
// peer keys the same entry by its own share), with the product shape and orientation.
type maskKey struct {
	h0, h1     uint64
	m, k, n    int
	mw, kw, nw int
	left       bool
}

// maskEntry holds the peer's encryption of its share of a fixed operand.
type maskEntry struct {
	key  maskKey
	size int64
	data []byte // filled once the peer's upload arrives
}

// maskCache is an LRU of the peer's encryptions of fixed operands, bounded in bytes. Both
// parties see the same sequence of lookups with the same sizes, so their caches evolve
// identically (hits, misses and evictions agree without messages; a status byte per product
// checks it).
type maskCache struct {
	budget, used int64
	seeds        [2]maphash.Seed
	lru          *list.List // front: most recent; values *maskEntry
	byKey        map[maskKey]*list.Element
}

func newMaskCache(budget int64) *maskCache {
	return &maskCache{budget: budget, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		lru: list.New(), byKey: map[maskKey]*list.Element{}}
}

// key hashes a share of a fixed operand.
func (c *maskCache) key(share []uint64, left bool, m, k, n, mw, kw, nw int) maskKey {
	b := u64sBytes(share)
	return maskKey{h0: maphash.Bytes(c.seeds[0], b), h1: maphash.Bytes(c.seeds[1], b),
		m: m, k: k, n: n, mw: mw, kw: kw, nw: nw, left: left}
}

// get returns the entry of key (marking it recent), or, on a miss, a new entry of the given
// size inserted after evicting the least recent ones; ok reports a hit. An entry larger than
// the whole budget is returned uncached (nil).
func (c *maskCache) get(key maskKey, size int64) (e *maskEntry, hit bool) {
	if el, ok := c.byKey[key]; ok {
		c.lru.MoveToFront(el)
		return el.Value.(*maskEntry), true
	}
	if size > c.budget {
		return nil, false
	}
	for c.used+size > c.budget {
		el := c.lru.Back()
		old := el.Value.(*maskEntry)
		c.lru.Remove(el)
		delete(c.byKey, old.key)
		c.used -= old.size
	}
	e = &maskEntry{key: key, size: size}
	c.byKey[key] = c.lru.PushFront(e)
	c.used += size
	return e, false
}
