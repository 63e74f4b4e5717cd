package ot

import (
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// pipeConn is one end of an in-memory duplex channel.
type pipeConn struct {
	in, out chan []byte
	sent    *int64
}

func (p pipeConn) Send(b []byte) error {
	*p.sent += int64(len(b))
	p.out <- append([]byte(nil), b...)
	return nil
}

func (p pipeConn) Recv() ([]byte, error) {
	b, ok := <-p.in
	if !ok {
		return nil, errors.New("closed")
	}
	return b, nil
}

func pipe() (pipeConn, pipeConn) {
	a, b := make(chan []byte, 64), make(chan []byte, 64)
	return pipeConn{a, b, new(int64)}, pipeConn{b, a, new(int64)}
}

// both runs f for party 0 and party 1 concurrently.
func both(t testing.TB, f func(p int, c Conn) error) {
	t.Helper()
	c0, c1 := pipe()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for p, c := range []Conn{c0, c1} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[p] = f(p, c)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

func TestTranspose(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var a, b [64]uint64
	for i := range a {
		a[i] = r.Uint64()
	}
	b = a
	transpose64(&b)
	for i := 0; i < 64; i++ {
		for j := 0; j < 64; j++ {
			if a[i]>>j&1 != b[j]>>i&1 {
				t.Fatalf("transpose64 wrong at %d,%d", i, j)
			}
		}
	}
	const m = 192
	var rows [128][]uint64
	for i := range rows {
		rows[i] = make([]uint64, m/64)
		for w := range rows[i] {
			rows[i][w] = r.Uint64()
		}
	}
	out := transpose128(&rows, m)
	for j := 0; j < m; j++ {
		for i := 0; i < 128; i++ {
			if out[j].Bit(i) != rows[i][j/64]>>(j%64)&1 {
				t.Fatalf("transpose128 wrong at row %d column %d", i, j)
			}
		}
	}
}

func TestGGMPuncture(t *testing.T) {
	for _, k := range []int{1, 2, 4, 8} {
		tree := ggmTree(Block{3, 4}, k)
		for alpha := 0; alpha < 1<<k; alpha += 1 + alpha/3 {
			sums := make([]Block, k+1)
			for l := 1; l <= k; l++ {
				b := (alpha >> (k - l)) & 1
				for x := 1 - b; x < 1<<l; x += 2 {
					sums[l] = sums[l].Xor(tree[l][x])
				}
			}
			leaves := puncturedLeaves(sums, alpha, k)
			for x := range leaves {
				if x != alpha && leaves[x] != tree[k][x] {
					t.Fatalf("k=%d alpha=%d: leaf %d wrong", k, alpha, x)
				}
			}
			if leaves[alpha] == tree[k][alpha] {
				t.Fatalf("k=%d: punctured leaf recovered", k)
			}
		}
	}
}

// TestExtension checks q_j = t_j ⊕ b_j·Δ in both directions over several extensions, and that
// the hashed random OTs agree.
func TestExtension(t *testing.T) {
	for _, k := range []int{1, 2, 4, 8} {
		type res struct {
			s      *Sender
			choice [][]uint64
			tb, q  [][]Block
		}
		out := make([]res, 2)
		sizes := []int{64, 640, 128}
		both(t, func(p int, c Conn) error {
			s, r, err := Setup(c, p, k)
			if err != nil {
				return err
			}
			o := res{s: s}
			for _, m := range sizes {
				ch, tb, first, msg, err := r.Extend(m)
				if err != nil {
					return err
				}
				if first != r.Count()-uint64(m) {
					return errors.New("receiver count")
				}
				if err := c.Send(msg); err != nil {
					return err
				}
				in, err := c.Recv()
				if err != nil {
					return err
				}
				q, _, err := s.Extend(m, in)
				if err != nil {
					return err
				}
				o.choice, o.tb, o.q = append(o.choice, ch), append(o.tb, tb), append(o.q, q)
			}
			out[p] = o
			return nil
		})
		for p := 0; p < 2; p++ {
			snd, rcv := out[p], out[1-p]
			d := snd.s.Delta()
			for c := range sizes {
				for j, q := range snd.q[c] {
					want := rcv.tb[c][j]
					if rcv.choice[c][j/64]>>(j%64)&1 == 1 {
						want = want.Xor(d)
					}
					if q != want {
						t.Fatalf("k=%d sender %d call %d OT %d: correlation broken", k, p, c, j)
					}
				}
			}
			// Random OT: the receiver's hash equals the chosen sender hash.
			q, tb := snd.q[1], rcv.tb[1]
			x0, x1, y := make([]Block, len(q)), make([]Block, len(q)), make([]Block, len(q))
			snd.s.Hasher().HashPair(x0, x1, q, d, 64)
			NewHasher(uint64(p)).Hash(y, tb, 64)
			for j := range q {
				want := x0[j]
				if rcv.choice[1][j/64]>>(j%64)&1 == 1 {
					want = x1[j]
				}
				if y[j] != want || x0[j] == x1[j] {
					t.Fatalf("k=%d: random OT %d wrong", k, j)
				}
			}
		}
	}
}

// TestSenderViewIndependentOfChoices checks that the receiver's messages (the sender's whole
// view of an extension) are uniform bytes and uncorrelated with the receiver's choice bits.
func TestSenderViewIndependentOfChoices(t *testing.T) {
	const m = 1 << 14
	for _, k := range []int{1, 4} {
		var msg []byte      // P0's receiver message, as P1 got it
		var choice []uint64 // P0's receiver choices
		both(t, func(p int, c Conn) error {
			s, r, err := Setup(c, p, k)
			if err != nil {
				return err
			}
			ch, _, _, out, err := r.Extend(m)
			if err != nil {
				return err
			}
			if err := c.Send(out); err != nil {
				return err
			}
			in, err := c.Recv()
			if err != nil {
				return err
			}
			if _, _, err := s.Extend(m, in); err != nil {
				return err
			}
			if p == 1 {
				msg = in
			} else {
				choice = ch
			}
			return nil
		})
		if chi := chiSquareBytes(msg); chi > 400 {
			t.Errorf("k=%d: receiver message not uniform (chi-square %.0f)", k, chi)
		}
		// Bit j of every block's correction against choice bit j: no correlation (|r| < 5/sqrt(m)).
		w := m / 64
		b := make([]float64, m)
		for j := range b {
			b[j] = float64(choice[j/64] >> (j % 64) & 1)
		}
		for blk := 0; blk < len(msg)/(8*w); blk += 7 {
			x := make([]float64, m)
			for j := range x {
				x[j] = float64(msg[8*w*blk+j/8] >> (j % 8) & 1)
			}
			if r := correlation(b, x); math.Abs(r) > 5/math.Sqrt(m) {
				t.Errorf("k=%d: block %d of the message correlates with the choices (r = %.4f)", k, blk, r)
			}
		}
	}
}

// chiSquareBytes is the chi-square statistic of the byte histogram against uniform (255
// degrees of freedom: mean 255, sd ≈ 22.6).
func chiSquareBytes(b []byte) float64 {
	var h [256]float64
	for _, v := range b {
		h[v]++
	}
	e := float64(len(b)) / 256
	chi := 0.0
	for _, v := range h {
		chi += (v - e) * (v - e) / e
	}
	return chi
}

// correlation is the Pearson correlation of two 0/1 sequences.
func correlation(a, b []float64) float64 {
	var sa, sb, sab, saa, sbb float64
	n := float64(len(a))
	for i := range a {
		sa += a[i]
		sb += b[i]
		sab += a[i] * b[i]
		saa += a[i] * a[i]
		sbb += b[i] * b[i]
	}
	cov := sab/n - sa/n*sb/n
	return cov / math.Sqrt((saa/n-sa/n*sa/n)*(sbb/n-sb/n*sb/n))
}

func TestBadMessages(t *testing.T) {
	both(t, func(p int, c Conn) error {
		s, _, err := Setup(c, p, 4)
		if err != nil {
			return err
		}
		for _, n := range []int{0, 1, s.MsgLen(64) - 1, s.MsgLen(64) + 1} {
			if _, _, err := s.Extend(64, make([]byte, n)); err == nil {
				return errors.New("sender accepted a message of the wrong length")
			}
		}
		if _, _, err := s.Extend(63, make([]byte, s.MsgLen(63))); err == nil {
			return errors.New("sender accepted 63 OTs")
		}
		return nil
	})
}
