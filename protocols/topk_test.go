package protocols

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/transport"
)

// plainTopK returns the positions TopKWith selects in one row, in rank order: forced positions
// first in increasing order, then eligible before ineligible, larger values first, lower
// positions first among equals.
func plainTopK(row []float64, k int, force []int, eligible []int64) []int {
	out := slices.Sorted(slices.Values(force))
	var rest []int
	for i := range row {
		if !slices.Contains(force, i) {
			rest = append(rest, i)
		}
	}
	elig := func(i int) bool { return eligible == nil || eligible[i] == 1 }
	slices.SortStableFunc(rest, func(a, b int) int {
		switch {
		case elig(a) != elig(b):
			if elig(a) {
				return -1
			}
			return 1
		case row[a] > row[b]:
			return -1
		case row[a] < row[b]:
			return 1
		}
		return a - b
	})
	return append(out, rest...)[:k]
}

type topkCase struct {
	name     string
	shape    []int
	k        int
	force    []int
	tied     bool
	eligible bool
}

func topkCases() []topkCase {
	return []topkCase{
		{"n=1", []int{3, 1}, 1, nil, false, false},
		{"n=2", []int{4, 2}, 1, nil, true, false},
		{"k=1", []int{2, 9}, 1, nil, false, false},
		{"k=n", []int{2, 9}, 9, nil, true, false},
		{"odd", []int{3, 11}, 4, nil, false, false},
		{"ties", []int{5, 16}, 6, nil, true, false},
		{"heads", []int{12, 1, 64}, 16, nil, false, false},
		{"heads-ties", []int{12, 1, 64}, 16, nil, true, false},
		{"force", []int{4, 20}, 5, []int{19, 0}, true, false},
		{"force-all", []int{2, 10}, 3, []int{2, 5, 7}, false, false},
		{"force-all-but-one", []int{2, 4}, 4, []int{0, 1, 3}, false, false},
		{"eligible", []int{3, 24}, 8, nil, true, true},
		{"eligible-force", []int{3, 24}, 8, []int{0, 23}, false, true},
		{"32-of-128", []int{2, 128}, 32, []int{0, 127}, false, false},
	}
}

func TestTopK(t *testing.T) {
	for _, p := range testProtocols {
		for ci, c := range topkCases() {
			t.Run(fmt.Sprintf("%s/%s", p, c.name), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(ci), 7))
				n := c.shape[len(c.shape)-1]
				total := mpc.Numel(c.shape)
				rows := total / n
				xs := randValues(r, total)
				if c.tied {
					xs = tiedValues(r, total)
				}
				var elig []int64
				if c.eligible {
					for i := 0; i < total; i++ {
						elig = append(elig, int64(r.IntN(3)%2)) // a third eligible
					}
				}
				sh := shareFloats(t, p, xs, c.shape...)
				var es []*mpc.Share
				if c.eligible {
					es = shareInts(t, p, elig, c.shape...)
				}
				out := runAll(t, p, func(e mpc.Engine) ([]*mpc.Share, error) {
					opt := TopKOptions{Force: c.force}
					if es != nil {
						opt.Eligible = es[e.Party()]
					}
					sel, idx, err := TopKWith(e, sh[e.Party()], c.k, opt)
					if err != nil {
						return nil, err
					}
					mask, err := TopKMask(e, sh[e.Party()], c.k, opt)
					return []*mpc.Share{sel, idx, mask}, err
				})
				lead := c.shape[:len(c.shape)-1]
				if s := out[0][0].Shape; !slices.Equal(s, append(slices.Clone(lead), c.k, n)) {
					t.Fatalf("selection shape %v", s)
				}
				if s := out[1][0].Shape; !slices.Equal(s, append(slices.Clone(lead), c.k)) {
					t.Fatalf("index shape %v", s)
				}
				if s := out[2][0].Shape; !slices.Equal(s, c.shape) {
					t.Fatalf("mask shape %v", s)
				}
				sel, idx, mask := revealInts(t, p, out[0]), revealInts(t, p, out[1]), revealInts(t, p, out[2])
				for row := 0; row < rows; row++ {
					var el []int64
					if elig != nil {
						el = elig[row*n : (row+1)*n]
					}
					want := plainTopK(xs[row*n:(row+1)*n], c.k, c.force, el)
					for rk, pos := range want {
						if got := idx[row*c.k+rk]; got != int64(pos) {
							t.Fatalf("row %d rank %d: index %d, want %d (all: %v)", row, rk, got, pos, want)
						}
						for i := 0; i < n; i++ {
							w := int64(0)
							if i == pos {
								w = 1
							}
							if got := sel[(row*c.k+rk)*n+i]; got != w {
								t.Fatalf("row %d rank %d: sel[%d] = %d, want %d", row, rk, i, got, w)
							}
						}
					}
					for i := 0; i < n; i++ {
						w := int64(0)
						if slices.Contains(want, i) {
							w = 1
						}
						if got := mask[row*n+i]; got != w {
							t.Fatalf("row %d: mask[%d] = %d, want %d", row, i, got, w)
						}
					}
				}
			})
		}
	}
}

// TestTopKCost asserts the exact traffic of TopK from the meter, on both comparison methods,
// and the per-element figures of its doc comment.
func TestTopKCost(t *testing.T) {
	type doc struct {
		rounds          int64
		online, offline float64 // per element: P0's online bytes, P1's offline bytes (0: not stated)
	}
	cases := []struct {
		shape     []int
		k, nforce int
		docs      map[backend]doc
	}{
		{[]int{12, 64}, 16, 0, map[backend]doc{
			{p: mpc.TwoPC, cmp: mpc.CompareFSS}: {2, 260, 48644.1}, {p: mpc.ThreePC, cmp: mpc.CompareFSS}: {3, 388, 48644.1},
			{p: mpc.TwoPC, cmp: mpc.CompareCircuit}: {9, 5808, 3788}, {p: mpc.ThreePC, cmp: mpc.CompareCircuit}: {10, 5564, 512},
		}},
		{[]int{12, 128}, 32, 0, map[backend]doc{
			{p: mpc.TwoPC, cmp: mpc.CompareFSS}: {2, 516, 98052.3}, {p: mpc.ThreePC, cmp: mpc.CompareFSS}: {3, 772, 98052.3},
			{p: mpc.TwoPC, cmp: mpc.CompareCircuit}: {9, 11700, 7628}, {p: mpc.ThreePC, cmp: mpc.CompareCircuit}: {10, 11196, 1024},
		}},
		{[]int{3, 20}, 5, 2, map[backend]doc{
			{p: mpc.TwoPC, cmp: mpc.CompareFSS}: {rounds: 2}, {p: mpc.ThreePC, cmp: mpc.CompareFSS}: {rounds: 3},
			{p: mpc.TwoPC, cmp: mpc.CompareCircuit}: {rounds: 9}, {p: mpc.ThreePC, cmp: mpc.CompareCircuit}: {rounds: 10},
		}},
		{[]int{3, 20}, 2, 2, nil}, // everything forced: no traffic
	}
	for _, b := range testBackends {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%v/%v/k=%d/force=%d", b, c.shape, c.k, c.nforce), func(t *testing.T) {
				rows, n := c.shape[0], c.shape[1]
				sh := shareFloats(t, b.p, make([]float64, rows*n), c.shape...)
				force := make([]int, c.nforce)
				for i := range force {
					force[i] = i
				}
				_, st := measureOn(t, b, "topk", func(e mpc.Engine) (*mpc.Share, error) {
					sel, _, err := TopKWith(e, sh[e.Party()], c.k, TopKOptions{Force: force})
					return sel, err
				})
				assertMeterCost(t, st, topkCost(b, rows, n, c.k, c.nforce))
				el := float64(rows * n)
				per, off := float64(st[0].OnlineSent)/el, float64(st[1].OfflineRecv)/el
				d := c.docs[b]
				if st[0].Rounds != d.rounds {
					t.Errorf("rounds %d, doc says %d", st[0].Rounds, d.rounds)
				}
				if d.online != 0 && (math.Abs(per-d.online) > 0.5 || math.Abs(off-d.offline) > 0.5) {
					t.Errorf("P0 sends %.2f B/elem, P1 receives %.2f offline; doc says %v and %v", per, off, d.online, d.offline)
				}
				t.Logf("rounds %d, online B/elem %.2f (P0) %.2f (P1), offline B/elem %.2f", st[0].Rounds, per,
					float64(st[1].OnlineSent)/el, off)
			})
		}
	}
}

func TestTopKBadInput(t *testing.T) {
	for _, p := range testProtocols {
		t.Run(string(p), func(t *testing.T) {
			sh := shareFloats(t, p, make([]float64, 6), 2, 3)
			wrong := shareInts(t, p, make([]int64, 3), 3)
			run(t, p, func(e mpc.Engine) (*mpc.Share, error) {
				x := sh[e.Party()]
				for _, c := range []struct {
					k    int
					opt  TopKOptions
					want string
				}{
					{4, TopKOptions{}, "k = 4 is out of range"},
					{0, TopKOptions{}, "k = 0 is out of range"},
					{2, TopKOptions{Force: []int{3}}, "forced position 3 is out of range"},
					{2, TopKOptions{Force: []int{1, 1}}, "forced position 1 is repeated"},
					{1, TopKOptions{Force: []int{0, 1}}, "2 forced positions exceed k = 1"},
					{1, TopKOptions{Eligible: wrong[e.Party()]}, "eligibility mask of shape"},
				} {
					if _, _, err := TopKWith(e, x, c.k, c.opt); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "top-k") {
						return nil, fmt.Errorf("want error %q, got %v", c.want, err)
					}
				}
				if _, _, err := TopK(e, &mpc.Share{Shape: []int{}}, 1); err == nil {
					return nil, errors.New("top-k of a scalar succeeded")
				}
				if _, err := SelectionMask(e, &mpc.Share{Shape: []int{3}}); err == nil {
					return nil, errors.New("selection mask of a vector succeeded")
				}
				return x, nil
			})
		})
	}
}

// recorder wraps a transport and keeps every message it sends and receives once on.
type recorder struct {
	transport.Transport
	mu         sync.Mutex
	on         bool
	sent, recv [3][][]byte // by peer
}

func (r *recorder) Send(ctx context.Context, to int, msg []byte) error {
	r.mu.Lock()
	if r.on && to >= 0 && to < 3 {
		r.sent[to] = append(r.sent[to], slices.Clone(msg))
	}
	r.mu.Unlock()
	return r.Transport.Send(ctx, to, msg)
}

func (r *recorder) Recv(ctx context.Context, from int) ([]byte, error) {
	b, err := r.Transport.Recv(ctx, from)
	r.mu.Lock()
	if err == nil && r.on && from >= 0 && from < 3 {
		r.recv[from] = append(r.recv[from], slices.Clone(b))
	}
	r.mu.Unlock()
	return b, err
}

// view is what one party sent and received after the engine's setup, by peer.
type view struct{ sent, recv [3][][]byte }

// received returns every message the party received, from any peer.
func (v view) received() [][]byte {
	var out [][]byte
	for _, m := range v.recv {
		out = append(out, m...)
	}
	return out
}

// runRecorded runs f at every party over an in-memory network and returns each party's view.
func runRecorded(t *testing.T, p mpc.Protocol, f func(e mpc.Engine) error) [3]view {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	eps := transport.NewMemory(3).Endpoints()
	recs := make([]*recorder, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		recs[i] = &recorder{Transport: eps[i]}
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := mpc.New(ctx, p, recs[i], mpc.Config{})
			if err == nil {
				recs[i].mu.Lock()
				recs[i].on = true
				recs[i].mu.Unlock()
				err = f(e)
			}
			if err != nil {
				errs[i] = err
				cancel()
			}
		}()
	}
	wg.Wait()
	for _, ep := range eps {
		ep.Close()
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	var out [3]view
	for i, r := range recs {
		out[i] = view{r.sent, r.recv}
	}
	return out
}

// opened2pc returns, for a 2pc computing party, the values opened in its exchanges with the
// other computing party: every round is a symmetric exchange, and message i sent plus message
// i received (as 64-bit words, or bytes for packed bits) is the opened, masked value.
func opened2pc(t *testing.T, v view, party int) [][]byte {
	t.Helper()
	other := 1 - party
	s, r := v.sent[other], v.recv[other]
	if len(s) != len(r) {
		t.Fatalf("party %d sent %d and received %d messages: not symmetric exchanges", party, len(s), len(r))
	}
	out := make([][]byte, len(s))
	for i := range s {
		if len(s[i]) != len(r[i]) {
			t.Fatalf("party %d: exchange %d of %d and %d bytes", party, i, len(s[i]), len(r[i]))
		}
		o := make([]byte, len(s[i]))
		if len(o)%8 == 0 {
			for j := 0; j < len(o); j += 8 {
				binary.LittleEndian.PutUint64(o[j:], binary.LittleEndian.Uint64(s[i][j:])+binary.LittleEndian.Uint64(r[i][j:]))
			}
		} else {
			for j := range o {
				o[j] = s[i][j] ^ r[i][j]
			}
		}
		out[i] = o
	}
	return out
}

// TestSelectionOblivious runs top-k and argmax on very different inputs (all equal, sorted,
// reversed, random) and checks what every party sees: the same sequence of message sizes
// whatever the data; received bytes that are uniform (a chi-square test over byte values); and,
// in 2pc, opened values (the sum of the two messages of each exchange) that are uniform too, so
// every opened value is masked. TestSelectionObliviousControl shows the test catches an opening
// of the data.
func TestSelectionOblivious(t *testing.T) {
	const rows, n, k = 4, 48, 8
	inputs := map[string][]float64{}
	r := rand.New(rand.NewPCG(9, 9))
	inputs["random"] = randValues(r, rows*n)
	eq, inc, dec := make([]float64, rows*n), make([]float64, rows*n), make([]float64, rows*n)
	for i := range eq {
		eq[i], inc[i], dec[i] = 5, float64(i%n), -float64(i%n)
	}
	inputs["equal"], inputs["sorted"], inputs["reversed"] = eq, inc, dec
	for _, p := range testProtocols {
		t.Run(string(p), func(t *testing.T) {
			var ref [3][]int
			for _, name := range []string{"random", "equal", "sorted", "reversed"} {
				sh := shareFloats(t, p, inputs[name], rows, n)
				views := runRecorded(t, p, func(e mpc.Engine) error {
					if _, _, err := TopKWith(e, sh[e.Party()], k, TopKOptions{Force: []int{0}}); err != nil {
						return err
					}
					_, _, err := ArgmaxWith(e, sh[e.Party()], Tournament{4, 12})
					return err
				})
				for party, v := range views {
					msgs := v.received()
					sizes := make([]int, len(msgs))
					for i, m := range msgs {
						sizes[i] = len(m)
					}
					if ref[party] == nil {
						ref[party] = sizes
					} else if !slices.Equal(ref[party], sizes) {
						t.Fatalf("%s: party %d received messages of other sizes than for the random input", name, party)
					}
					chi, total := byteChiSquare(msgs)
					if total < 1<<14 {
						continue // too little to test (the 2pc dealer receives almost nothing)
					}
					// 255 degrees of freedom: mean 255, sd 22.6; 400 is far in the tail (p < 1e-8).
					if chi > 400 {
						t.Errorf("%s: party %d received %d bytes that are not uniform (chi-square %.0f)", name, party, total, chi)
					}
					if p == mpc.TwoPC {
						ochi, _ := byteChiSquare(opened2pc(t, v, party))
						if ochi > 400 {
							t.Errorf("%s: party %d opened values that are not uniform (chi-square %.0f)", name, party, ochi)
						}
					}
				}
			}
		})
	}
}

// byteChiSquare returns the chi-square statistic of the byte values in msgs against the uniform
// distribution, and the number of bytes.
func byteChiSquare(msgs [][]byte) (float64, int) {
	var hist [256]float64
	total := 0
	for _, m := range msgs {
		for _, b := range m {
			hist[b]++
		}
		total += len(m)
	}
	exp := float64(total) / 256
	chi := 0.0
	for _, h := range hist {
		chi += (h - exp) * (h - exp) / exp
	}
	return chi, total
}

// TestSelectionObliviousControl checks that the 2pc opened-value test of
// TestSelectionOblivious notices a leak: opening the values fails it.
func TestSelectionObliviousControl(t *testing.T) {
	xs := make([]float64, 4096)
	for i := range xs {
		xs[i] = float64(i%100) - 50
	}
	p := mpc.TwoPC
	sh := shareFloats(t, p, xs)
	views := runRecorded(t, p, func(e mpc.Engine) error {
		_, err := e.Open(sh[e.Party()])
		return err
	})
	if chi, _ := byteChiSquare(views[0].received()); chi > 400 {
		t.Errorf("the shares received are not uniform (chi-square %.0f)", chi)
	}
	if chi, _ := byteChiSquare(opened2pc(t, views[0], 0)); chi < 400 {
		t.Errorf("opening the values went unnoticed (chi-square %.0f)", chi)
	}
}

// BenchmarkTopK: MPCache's selections, over 12 heads: top 16 of 64 clusters and 32 of 128, on
// both comparison methods.
func BenchmarkTopK(b *testing.B) {
	const h = 12
	for _, be := range testBackends {
		for _, c := range []struct{ k, n int }{{16, 64}, {32, 128}} {
			b.Run(fmt.Sprintf("%v/%dof%d", be, c.k, c.n), func(b *testing.B) {
				sh := shareFloats(b, be.p, randValues(rand.New(rand.NewPCG(2, 2)), h*c.n), h, c.n)
				benchOpOn(b, be, h*c.n, func(e mpc.Engine) error {
					_, _, err := TopK(e, sh[e.Party()], c.k)
					return err
				})
			})
		}
	}
}
