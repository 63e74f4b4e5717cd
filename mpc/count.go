package mpc

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/privinfer/mpcache/mpc/transport"
)

// MatrixShape is the shape of one kind of matrix triple: batch products of m×k by k×n, with
// the left or right operand's mask fixed (Engine.Fix) or fresh.
type MatrixShape struct {
	Batch, M, K, N int
	FixedA, FixedB bool
}

// MaterialCount is how much correlated randomness of each kind a program consumes: the
// elements its Material calls ask for, in the units of the Material methods.
type MaterialCount struct {
	Triples     int64          // elementwise triples
	ANDs        int64          // AND-triple words
	PrivateANDs int64          // private-AND words
	BitPairs    int64          // bit pairs
	Masks       int64          // mask elements (fixed operands, FSS masks)
	Truncs      map[uint]int64 // truncation tuples per shift
	OneHots     map[int]int64  // one-hot rows per length N
	// Matrices counts the matrix triples per shape (one per Material.MatrixTriple call).
	Matrices map[MatrixShape]int64
}

// Add adds d's counts to c.
func (c *MaterialCount) Add(d MaterialCount) {
	c.Triples += d.Triples
	c.ANDs += d.ANDs
	c.PrivateANDs += d.PrivateANDs
	c.BitPairs += d.BitPairs
	c.Masks += d.Masks
	c.Truncs = addMap(c.Truncs, d.Truncs, 1)
	c.OneHots = addMap(c.OneHots, d.OneHots, 1)
	c.Matrices = addMap(c.Matrices, d.Matrices, 1)
}

// Sub returns c − d, kind by kind (d a count taken earlier of the same program).
func (c MaterialCount) Sub(d MaterialCount) MaterialCount {
	out := c.Clone()
	out.Triples -= d.Triples
	out.ANDs -= d.ANDs
	out.PrivateANDs -= d.PrivateANDs
	out.BitPairs -= d.BitPairs
	out.Masks -= d.Masks
	out.Truncs = addMap(out.Truncs, d.Truncs, -1)
	out.OneHots = addMap(out.OneHots, d.OneHots, -1)
	out.Matrices = addMap(out.Matrices, d.Matrices, -1)
	return out
}

// Clone returns a deep copy of c.
func (c MaterialCount) Clone() MaterialCount {
	c.Truncs, c.OneHots, c.Matrices = maps.Clone(c.Truncs), maps.Clone(c.OneHots), maps.Clone(c.Matrices)
	return c
}

// MatrixElements is the number of output elements of all matrix triples (batch·m·n summed).
func (c MaterialCount) MatrixElements() int64 {
	var n int64
	for s, k := range c.Matrices {
		n += k * int64(s.Batch*s.M*s.N)
	}
	return n
}

// bump adds n to (*m)[k], making the map if need be.
func bump[K comparable](m *map[K]int64, k K, n int64) {
	if *m == nil {
		*m = map[K]int64{}
	}
	(*m)[k] += n
}

// matrix records one matrix triple of the given shape.
func (c *MaterialCount) matrix(batch, m, k, n int, maskA, maskB []uint64) {
	bump(&c.Matrices, MatrixShape{batch, m, k, n, maskA != nil, maskB != nil}, 1)
}

func addMap[K comparable](dst, src map[K]int64, sign int64) map[K]int64 {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = map[K]int64{}
	}
	for k, v := range src {
		dst[k] += sign * v
		if dst[k] == 0 {
			delete(dst, k)
		}
	}
	return dst
}

// Counter is a Material that produces nothing and counts what it is asked for, in the
// position of a producer (the 2pc dealer): its methods return nil parts, except Mask, which
// returns a zero mask of the size asked (the producer's whole mask). NewDry runs a program on
// it to learn the material the program consumes.
type Counter struct{ Count MaterialCount }

var _ Material = (*Counter)(nil)

func (c *Counter) Triple(n int) (a, b, cc []uint64, err error) {
	c.Count.Triples += int64(n)
	return nil, nil, nil, nil
}

func (c *Counter) MatrixTriple(batch, m, k, n int, maskA, maskB []uint64) (a, b, cc []uint64, err error) {
	c.Count.matrix(batch, m, k, n, maskA, maskB)
	return nil, nil, nil, nil
}

func (c *Counter) Mask(n int) ([]uint64, error) {
	c.Count.Masks += int64(n)
	return make([]uint64, n), nil
}

func (c *Counter) Trunc(n int, bits uint) (r, hi, msb []uint64, err error) {
	bump(&c.Count.Truncs, bits, int64(n))
	return nil, nil, nil, nil
}

func (c *Counter) ANDTriple(n int) (a, b, cc []uint64, err error) {
	c.Count.ANDs += int64(n)
	return nil, nil, nil, nil
}

func (c *Counter) PrivateAND(n int) (u, z []uint64, err error) {
	c.Count.PrivateANDs += int64(n)
	return nil, nil, nil
}

func (c *Counter) BitPair(n int) (rb, ra []uint64, err error) {
	c.Count.BitPairs += int64(n)
	return nil, nil, nil
}

func (c *Counter) OneHotPair(cnt, N int) (r, onehot []uint64, err error) {
	bump(&c.Count.OneHots, N, int64(cnt))
	return nil, nil, nil
}

// NewDry returns a 2pc engine that computes on shapes only, as the dealer does (party 2,
// IsDealer), and takes its material from m, which must behave as a producer (Counter does).
// It talks to no one: it exists to run a program once to learn what it consumes, for example
// the material budget of a dealer-free session. Comparisons use the boolean circuit (the
// dealer-free setting: Config.Comparison must be empty or CompareCircuit).
func NewDry(cfg Config, m Material) (Engine, error) {
	if m == nil {
		return nil, errors.New("mpc: dry engine needs a material")
	}
	if cfg.Material != nil {
		return nil, errors.New("mpc: dry engine takes its material as an argument, not from Config.Material")
	}
	switch cfg.Comparison {
	case "":
		cfg.Comparison = CompareCircuit
	case CompareCircuit:
	default:
		return nil, fmt.Errorf("mpc: dry engine: comparison %q is not available (the dry engine models dealer-free 2pc: %q)", cfg.Comparison, CompareCircuit)
	}
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	e := &engine{proto: TwoPC, party: Dealer, dealer: true, cfg: cfg, t: nullTransport{}, meter: NewMeter(),
		ctx: context.Background(), mat: m}
	e.pair = e
	return e, nil
}

// nullTransport is the dry engine's transport: the dealer position sends nothing through the
// engine when its material is not dealt, so any use is an error.
type nullTransport struct{}

func (nullTransport) Self() int { return Dealer }
func (nullTransport) Send(context.Context, int, []byte) error {
	return errors.New("mpc: dry engine: no transport")
}
func (nullTransport) Recv(context.Context, int) ([]byte, error) {
	return nil, errors.New("mpc: dry engine: no transport")
}
func (nullTransport) Close() error { return nil }

var _ transport.Transport = nullTransport{}

// Counted wraps a material source so that every call on its Material is also counted into c
// (the counts of one party; wrap each party's source with its own c).
func Counted(src MaterialSource, c *MaterialCount) MaterialSource {
	return func(l Link) (Material, error) {
		m, err := src(l)
		if err != nil {
			return nil, err
		}
		return &counted{m: m, count: c}, nil
	}
}

type counted struct {
	m     Material
	count *MaterialCount
}

func (w *counted) Triple(n int) (a, b, c []uint64, err error) {
	w.count.Triples += int64(n)
	return w.m.Triple(n)
}

func (w *counted) MatrixTriple(batch, m, k, n int, maskA, maskB []uint64) (a, b, c []uint64, err error) {
	w.count.matrix(batch, m, k, n, maskA, maskB)
	return w.m.MatrixTriple(batch, m, k, n, maskA, maskB)
}

func (w *counted) Mask(n int) ([]uint64, error) {
	w.count.Masks += int64(n)
	return w.m.Mask(n)
}

func (w *counted) Trunc(n int, bits uint) (r, hi, msb []uint64, err error) {
	bump(&w.count.Truncs, bits, int64(n))
	return w.m.Trunc(n, bits)
}

func (w *counted) ANDTriple(n int) (a, b, c []uint64, err error) {
	w.count.ANDs += int64(n)
	return w.m.ANDTriple(n)
}

func (w *counted) PrivateAND(n int) (u, z []uint64, err error) {
	w.count.PrivateANDs += int64(n)
	return w.m.PrivateAND(n)
}

func (w *counted) BitPair(n int) (rb, ra []uint64, err error) {
	w.count.BitPairs += int64(n)
	return w.m.BitPair(n)
}

func (w *counted) OneHotPair(cnt, N int) (r, onehot []uint64, err error) {
	bump(&w.count.OneHots, N, int64(cnt))
	return w.m.OneHotPair(cnt, N)
}
