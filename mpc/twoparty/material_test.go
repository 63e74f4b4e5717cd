package twoparty

import (
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// chanLink is one end of an in-memory link between P0 and P1.
type chanLink struct {
	party   int
	in, out chan []byte
	mu      *sync.Mutex
	got     *[][]byte // messages received, when recording
}

func (l chanLink) Party() int { return l.party }
func (l chanLink) Send(b []byte) error {
	l.out <- append([]byte(nil), b...)
	return nil
}
func (l chanLink) Recv() ([]byte, error) {
	var b []byte
	select {
	case m, ok := <-l.in:
		if !ok {
			return nil, errors.New("link closed")
		}
		b = m
	case <-time.After(time.Minute):
		return nil, errors.New("no message from the peer for a minute")
	}
	if l.got != nil {
		l.mu.Lock()
		*l.got = append(*l.got, b)
		l.mu.Unlock()
	}
	return b, nil
}

// pair sets up both generators and runs f for each party concurrently; rec, when set, records
// what each party receives after set-up.
func pair[T any](t testing.TB, o Options, rec *[2][][]byte, f func(g *Generator) (T, error)) [2]T {
	t.Helper()
	a, b := make(chan []byte, 1024), make(chan []byte, 1024)
	links := [2]chanLink{{party: 0, in: a, out: b, mu: &sync.Mutex{}}, {party: 1, in: b, out: a, mu: &sync.Mutex{}}}
	var out [2]T
	var errs [2]error
	var wg sync.WaitGroup
	for p := 0; p < 2; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g, err := New(links[p], o)
			if err != nil {
				errs[p] = err
				return
			}
			if rec != nil {
				links[p].got = &rec[p]
				g.l = links[p]
			}
			out[p], errs[p] = f(g)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs[0], errors.Join(errs[1])); err != nil {
		t.Fatal(err)
	}
	return out
}

type triple struct{ a, b, c []uint64 }

func sumOf(x, y []uint64) []uint64 {
	out := make([]uint64, len(x))
	for i := range x {
		out[i] = x[i] + y[i]
	}
	return out
}

func xorOf(x, y []uint64) []uint64 {
	out := make([]uint64, len(x))
	for i := range x {
		out[i] = x[i] ^ y[i]
	}
	return out
}

func TestTriples(t *testing.T) {
	for _, k := range []int{1, 4, 8} {
		for _, n := range []int{0, 1, 63, 1000} {
			t.Run(fmt.Sprintf("k=%d/n=%d", k, n), func(t *testing.T) {
				res := pair(t, Options{OTK: k, ChunkOTs: 64 * 300}, nil, func(g *Generator) (triple, error) {
					a, b, c, err := g.Triple(n)
					return triple{a, b, c}, err
				})
				a, b, c := sumOf(res[0].a, res[1].a), sumOf(res[0].b, res[1].b), sumOf(res[0].c, res[1].c)
				for i := range a {
					if a[i]*b[i] != c[i] {
						t.Fatalf("triple %d: c ≠ a·b", i)
					}
				}
			})
		}
	}
}

func TestANDTriples(t *testing.T) {
	for _, n := range []int{1, 5, 700} {
		res := pair(t, Options{ChunkOTs: 64 * 128}, nil, func(g *Generator) ([3][]uint64, error) {
			a, b, c, err := g.ANDTriple(n)
			return [3][]uint64{a, b, c}, err
		})
		a, b, c := xorOf(res[0][0], res[1][0]), xorOf(res[0][1], res[1][1]), xorOf(res[0][2], res[1][2])
		ones := 0
		for i := range a {
			if a[i]&b[i] != c[i] {
				t.Fatalf("AND triple %d wrong", i)
			}
			ones += bits.OnesCount64(a[i]) + bits.OnesCount64(b[i])
		}
		if n == 700 && (ones < 700*64-3000 || ones > 700*64+3000) {
			t.Fatalf("a and b are not balanced: %d ones in %d bits", ones, 2*64*n)
		}
	}
}

func TestPrivateAND(t *testing.T) {
	for _, n := range []int{1, 2, 333} {
		res := pair(t, Options{ChunkOTs: 64 * 64}, nil, func(g *Generator) ([2][]uint64, error) {
			u, z, err := g.PrivateAND(n)
			return [2][]uint64{u, z}, err
		})
		u, v, z := res[0][0], res[1][0], xorOf(res[0][1], res[1][1])
		for i := range z {
			if u[i]&v[i] != z[i] {
				t.Fatalf("private AND %d wrong", i)
			}
		}
	}
}

func TestBitPairs(t *testing.T) {
	for _, n := range []int{1, 2, 1001} {
		res := pair(t, Options{ChunkOTs: 256}, nil, func(g *Generator) ([2][]uint64, error) {
			rb, ra, err := g.BitPair(n)
			return [2][]uint64{rb, ra}, err
		})
		ones := 0
		for i := 0; i < n; i++ {
			bit := (res[0][0][i] ^ res[1][0][i]) & 1
			if res[0][1][i]+res[1][1][i] != bit {
				t.Fatalf("bit pair %d: arithmetic %d, boolean %d", i, res[0][1][i]+res[1][1][i], bit)
			}
			ones += int(bit)
		}
		if n == 1001 && (ones < 400 || ones > 600) {
			t.Fatalf("%d ones in 1001 random bits", ones)
		}
	}
}

func TestTruncTuples(t *testing.T) {
	for _, b := range []uint{1, 16, 30, 61} {
		for _, n := range []int{1, 3, 500} {
			res := pair(t, Options{ChunkOTs: 64 * 100}, nil, func(g *Generator) ([3][]uint64, error) {
				r, hi, msb, err := g.Trunc(n, b)
				return [3][]uint64{r, hi, msb}, err
			})
			for i := 0; i < n; i++ {
				r := res[0][0][i] + res[1][0][i]
				if hi := res[0][1][i] + res[1][1][i]; hi != r>>b {
					t.Fatalf("bits=%d tuple %d: r>>bits share %x, want %x", b, i, hi, r>>b)
				}
				if msb := res[0][2][i] + res[1][2][i]; msb != r>>63 {
					t.Fatalf("bits=%d tuple %d: MSB %d, want %d", b, i, msb, r>>63)
				}
			}
		}
	}
	pair(t, Options{}, nil, func(g *Generator) (int, error) {
		if _, _, _, err := g.Trunc(4, 62); err == nil {
			return 0, errors.New("truncation by 62 bits accepted")
		}
		return 0, nil
	})
}

func TestOneHotPairs(t *testing.T) {
	for _, N := range []int{1, 2, 8, 1024} {
		for _, cnt := range []int{1, 5} {
			res := pair(t, Options{}, nil, func(g *Generator) ([2][]uint64, error) {
				r, oh, err := g.OneHotPair(cnt, N)
				return [2][]uint64{r, oh}, err
			})
			for i := 0; i < cnt; i++ {
				r := int((res[0][0][i] + res[1][0][i]) & uint64(N-1))
				for j := 0; j < N; j++ {
					want := uint64(0)
					if j == r {
						want = 1
					}
					if v := res[0][1][i*N+j] + res[1][1][i*N+j]; v != want {
						t.Fatalf("N=%d row %d (r=%d): entry %d is %d", N, i, r, j, v)
					}
				}
			}
		}
	}
	pair(t, Options{}, nil, func(g *Generator) (int, error) {
		if _, _, err := g.OneHotPair(1, 3); err == nil {
			return 0, errors.New("one-hot of length 3 accepted")
		}
		return 0, nil
	})
}

func naiveMatMul(a, b []uint64, batch, m, k, n int) []uint64 {
	c := make([]uint64, batch*m*n)
	for q := 0; q < batch; q++ {
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var s uint64
				for l := 0; l < k; l++ {
					s += a[q*m*k+i*k+l] * b[q*k*n+l*n+j]
				}
				c[q*m*n+i*n+j] = s
			}
		}
	}
	return c
}

// TestMatrixTriples checks C = A·B over random shapes, with fresh operands and with fixed masks
// on either or both sides, repeated (the second product reuses the cached encryption), and
// with the inner dimension split into chunks.
func TestMatrixTriples(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	type cs struct {
		batch, m, k, n int
		fixA, fixB     bool
		maxK           int
	}
	cases := []cs{{1, 1, 1, 1, false, false, 0}, {1, 3, 5, 4, false, false, 0}, {2, 3, 5, 4, false, true, 0},
		{1, 4, 7, 3, true, false, 0}, {2, 2, 6, 5, true, true, 0}, {1, 1, 64, 48, false, true, 0},
		{1, 2, 50, 3, false, true, 16}, {3, 2, 9, 2, false, false, 4}, {1, 0, 3, 2, false, false, 0}}
	for i := 0; i < 3; i++ {
		cases = append(cases, cs{1 + r.IntN(2), 1 + r.IntN(6), 1 + r.IntN(40), 1 + r.IntN(30), r.IntN(2) == 0, r.IntN(2) == 0, 0})
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			type out struct {
				masks [2][]uint64
				ts    [2]triple
				sent  [2]int64 // bytes sent by each call
				ct    int64    // size of one encrypted block
			}
			res := pair(t, Options{}, nil, func(g *Generator) (out, error) {
				g.maxK = c.maxK
				var o out
				var err error
				if c.fixA {
					if o.masks[0], err = g.Mask(c.batch * c.m * c.k); err != nil {
						return o, err
					}
				}
				if c.fixB {
					if o.masks[1], err = g.Mask(c.batch * c.k * c.n); err != nil {
						return o, err
					}
				}
				for rep := 0; rep < 2; rep++ {
					before := g.Stats()["matmul"].Sent
					a, b, cc, err := g.MatrixTriple(c.batch, c.m, c.k, c.n, o.masks[0], o.masks[1])
					o.sent[rep] = g.Stats()["matmul"].Sent - before
					if err != nil {
						return o, err
					}
					if (a == nil) != c.fixA || (b == nil) != c.fixB {
						return o, errors.New("fixed operand returned again, or fresh one missing")
					}
					o.ts[rep] = triple{a, b, cc}
				}
				if p := g.HEParams(); p != nil {
					o.ct = int64(p.CiphertextSize())
				}
				return o, nil
			})
			// A cached encryption of a fixed mask is not sent again.
			if c.fixB && !c.fixA && c.m == 1 && c.batch == 1 && c.maxK == 0 && res[0].sent[1] >= res[0].ct {
				t.Errorf("the second product with a fixed mask sent %d bytes: its encryption (%d bytes a block) was sent again", res[0].sent[1], res[0].ct)
			}
			for rep := 0; rep < 2; rep++ {
				A, B := res[0].ts[rep].a, res[0].ts[rep].b
				if c.fixA {
					A = sumOf(res[0].masks[0], res[1].masks[0])
				} else {
					A = sumOf(A, res[1].ts[rep].a)
				}
				if c.fixB {
					B = sumOf(res[0].masks[1], res[1].masks[1])
				} else {
					B = sumOf(B, res[1].ts[rep].b)
				}
				C := sumOf(res[0].ts[rep].c, res[1].ts[rep].c)
				want := naiveMatMul(A, B, c.batch, c.m, c.k, c.n)
				for i := range want {
					if C[i] != want[i] {
						t.Fatalf("rep %d: C[%d] wrong", rep, i)
					}
				}
			}
		})
	}
}
