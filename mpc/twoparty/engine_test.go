package twoparty_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/mpctest"
	"github.com/privinfer/mpcache/mpc/prg"
	"github.com/privinfer/mpcache/mpc/transport"
	"github.com/privinfer/mpcache/mpc/twoparty"
)

// cfg is a dealer-free 2pc configuration.
func cfg() mpc.Config {
	return mpc.Config{Material: twoparty.Source(twoparty.Options{})}
}

type network int

const (
	memory network = iota
	loopback
)

func (n network) String() string { return [...]string{"memory", "loopback"}[n] }

// endpoints returns two connected transports: in-memory, or a TCP mesh on loopback.
func endpoints(t testing.TB, nw network) []transport.Transport {
	t.Helper()
	if nw == memory {
		return transport.NewMemory(2).Endpoints()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var session [16]byte
	copy(session[:], "dealer-free test")
	out := make([]transport.Transport, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := transport.MeshConfig{Self: i, Parties: 2, Session: session, Timeout: 10 * time.Second,
				Peers: map[int]string{0: ln.Addr().String()}}
			if i == 0 {
				c.Listener = ln
			}
			s, err := transport.Mesh(context.Background(), c)
			out[i], errs[i] = s, err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return out
}

// run sets up dealer-free 2pc engines on nw and runs f for P0 and P1 concurrently.
func run[T any](t testing.TB, nw network, c mpc.Config, f func(e mpc.Engine) (T, error)) []T {
	t.Helper()
	return runWrapped(t, nw, c, nil, f)
}

// runWrapped is run with each party's transport passed through wrap (when not nil).
func runWrapped[T any](t testing.TB, nw network, c mpc.Config, wrap func(int, transport.Transport) transport.Transport, f func(e mpc.Engine) (T, error)) []T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ts := endpoints(t, nw)
	if wrap != nil {
		for i := range ts {
			ts[i] = wrap(i, ts[i])
		}
	}
	defer func() {
		for _, tr := range ts {
			tr.Close()
		}
	}()
	out := make([]T, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := mpc.New(ctx, mpc.TwoPC, ts[i], c)
			if err != nil {
				errs[i] = err
				cancel()
				return
			}
			if out[i], errs[i] = f(e); errs[i] != nil {
				errs[i] = fmt.Errorf("party %d: %w", i, errs[i])
				cancel()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return out
}

// split shares x between P0 and P1 with a fixed test seed.
func split(t testing.TB, x *mpc.Tensor) []*mpc.Share {
	t.Helper()
	var seed prg.Seed
	copy(seed[:], "test seed split!")
	s, err := mpc.SplitWith(mpc.TwoPC, x, prg.New(seed.Derive(fmt.Sprint(x.Shape, len(x.Data)))))
	if err != nil {
		t.Fatal(err)
	}
	return s[:2]
}

func reveal(t testing.TB, s []*mpc.Share) *mpc.Tensor {
	t.Helper()
	x, err := mpc.Reconstruct(mpc.TwoPC, s)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func randRing(r *rand.Rand, n int, bits uint) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		v := int64(r.Uint64() >> (64 - bits))
		v -= 1 << (bits - 1)
		out[i] = uint64(v)
	}
	return out
}

func TestSetup(t *testing.T) {
	// A dealer-free session refuses a third party and 3pc.
	if _, err := mpc.New(context.Background(), mpc.TwoPC, transport.NewMemory(3).Endpoint(2), cfg()); err == nil {
		t.Error("party 2 joined a dealer-free session")
	}
	if _, err := mpc.New(context.Background(), mpc.ThreePC, transport.NewMemory(3).Endpoint(0), cfg()); err == nil {
		t.Error("3pc accepted a two-party material source")
	}
	// Mismatched options are refused by both parties.
	ts := transport.NewMemory(2).Endpoints()
	errs := make(chan error, 2)
	for i, k := range []int{4, 8} {
		go func() {
			_, err := mpc.New(context.Background(), mpc.TwoPC, ts[i], mpc.Config{Material: twoparty.Source(twoparty.Options{OTK: k})})
			errs <- err
		}()
	}
	for i := 0; i < 2; i++ {
		if err := <-errs; err == nil {
			t.Error("a party accepted a peer with other options")
		}
	}
}

func TestMulAndTrunc(t *testing.T) {
	const frac = 16
	for _, nw := range []network{memory, loopback} {
		t.Run(fmt.Sprint(nw), func(t *testing.T) {
			r := rand.New(rand.NewPCG(5, 6))
			n := 1000
			xf, yf := make([]float64, n), make([]float64, n)
			for i := range xf {
				xf[i] = (r.Float64()*2 - 1) * math.Pow(2, float64(r.IntN(15)))
				yf[i] = (r.Float64()*2 - 1) * math.Pow(2, float64(r.IntN(15)))
			}
			x, _ := mpc.EncodeTensor(xf, frac)
			y, _ := mpc.EncodeTensor(yf, frac)
			xs, ys := split(t, x), split(t, y)
			c := cfg()
			c.Frac = frac
			res := run(t, nw, c, func(e mpc.Engine) ([]*mpc.Share, error) {
				m, err := e.Mul(xs[e.Party()], ys[e.Party()])
				if err != nil {
					return nil, err
				}
				mt, err := e.MulTrunc(xs[e.Party()], ys[e.Party()])
				return []*mpc.Share{m, mt}, err
			})
			ring := reveal(t, []*mpc.Share{res[0][0], res[1][0]})
			fx := reveal(t, []*mpc.Share{res[0][1], res[1][1]})
			for i := 0; i < n; i++ {
				if ring.Data[i] != x.Data[i]*y.Data[i] {
					t.Fatalf("ring product wrong at %d", i)
				}
				want := int64(x.Data[i]*y.Data[i]) >> frac
				if d := int64(fx.Data[i]) - want; d < 0 || d > 1 {
					t.Fatalf("truncated product at %d: got %d want %d (+1 allowed)", i, int64(fx.Data[i]), want)
				}
			}
		})
	}
}

func TestTruncRange(t *testing.T) {
	edges := []int64{0, 1, -1, 2, -2, 1<<16 - 1, -(1 << 16), 1<<62 - 1, -(1 << 62), 1<<61 + 12345, -(1<<61 + 12345), 1 << 40, -(1 << 40)}
	r := rand.New(rand.NewPCG(7, 8))
	vals := slices.Clone(edges)
	for i := 0; i < 2000; i++ {
		vals = append(vals, int64(r.Uint64()>>2)-(1<<61)*2)
	}
	x := &mpc.Tensor{Shape: []int{len(vals)}}
	for _, v := range vals {
		x.Data = append(x.Data, uint64(v))
	}
	for _, bits := range []uint{1, 16, 30} {
		t.Run(fmt.Sprintf("%dbits", bits), func(t *testing.T) {
			xs := split(t, x)
			got := reveal(t, run(t, memory, cfg(), func(e mpc.Engine) (*mpc.Share, error) {
				return e.Trunc(xs[e.Party()], bits)
			}))
			for i, v := range vals {
				if d := int64(got.Data[i]) - v>>bits; d < 0 || d > 1 {
					t.Fatalf("trunc(%d, %d) = %d, want %d (+1 allowed)", v, bits, int64(got.Data[i]), v>>bits)
				}
			}
		})
	}
}

func TestMatMul(t *testing.T) {
	cases := []struct {
		name       string
		xs, ys     []int
		fixX, fixY bool
	}{
		{"plain", []int{3, 5}, []int{5, 4}, false, false},
		{"batched", []int{2, 3, 5}, []int{2, 5, 4}, false, false},
		{"weight", []int{2, 3, 5}, []int{5, 4}, false, false},
		{"broadcast-batch", []int{2, 3, 5}, []int{1, 5, 4}, false, true},
		{"fixed-right", []int{3, 5}, []int{5, 4}, false, true},
		{"fixed-left", []int{3, 5}, []int{5, 4}, true, false},
		{"fixed-both", []int{2, 3, 5}, []int{2, 5, 4}, true, true},
		{"row", []int{1, 64}, []int{64, 1}, false, true},
		{"decode-like", []int{1, 96}, []int{96, 80}, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(9, 10))
			x := &mpc.Tensor{Shape: c.xs, Data: randRing(r, mpc.Numel(c.xs), 64)}
			y := &mpc.Tensor{Shape: c.ys, Data: randRing(r, mpc.Numel(c.ys), 64)}
			xs, ys := split(t, x), split(t, y)
			res := run(t, memory, cfg(), func(e mpc.Engine) (*mpc.Share, error) {
				a, b := xs[e.Party()], ys[e.Party()]
				if c.fixX {
					f, err := e.Fix(a)
					if err != nil {
						return nil, err
					}
					a = f[0]
				}
				if c.fixY {
					f, err := e.Fix(b)
					if err != nil {
						return nil, err
					}
					b = f[0]
				}
				if _, err := e.MatMul(a, b); err != nil {
					return nil, err
				}
				return e.MatMul(a, b) // a fixed operand is reused (its encryption cached)
			})
			got := reveal(t, res)
			want := mpctest.MatMul(x, y)
			if !slices.Equal(got.Data, want) {
				t.Fatalf("matmul %v·%v wrong", c.xs, c.ys)
			}
		})
	}
}

// TestMatMulRows multiplies with a growing cache of rows (mpc.Rows), x·Rᵀ and x·R, on
// dealer-free material, which gets the rows' mask as a packed copy.
func TestMatMulRows(t *testing.T) {
	const batch, width = 2, 4
	r := rand.New(rand.NewPCG(13, 14))
	k := &mpc.Tensor{Shape: []int{batch, 3, width}, Data: randRing(r, batch*3*width, 64)}
	q := &mpc.Tensor{Shape: []int{batch, 1, width}, Data: randRing(r, batch*width, 64)}
	p := &mpc.Tensor{Shape: []int{batch, 1, 3}, Data: randRing(r, batch*3, 64)}
	ks, qs, ps := split(t, k), split(t, q), split(t, p)
	res := run(t, memory, cfg(), func(e mpc.Engine) ([]*mpc.Share, error) {
		var rows *mpc.Rows
		for i := range 3 { // one row per step, as decoding appends
			kr, err := mpc.Slice(ks[e.Party()], 1, i, i+1)
			if err != nil {
				return nil, err
			}
			f, err := e.Fix(kr)
			if err != nil {
				return nil, err
			}
			if rows, err = mpc.AppendRows(rows, f[0]); err != nil {
				return nil, err
			}
		}
		s, err := e.MatMulRows(qs[e.Party()], rows, true, 0)
		if err != nil {
			return nil, err
		}
		m, err := e.MatMulRows(ps[e.Party()], rows, false, 0)
		return []*mpc.Share{s, m}, err
	})
	kt := &mpc.Tensor{Shape: []int{batch, width, 3}, Data: make([]uint64, batch*3*width)}
	for h := range batch {
		for i := range 3 {
			for j := range width {
				kt.Data[(h*width+j)*3+i] = k.Data[(h*3+i)*width+j]
			}
		}
	}
	if got := reveal(t, []*mpc.Share{res[0][0], res[1][0]}); !slices.Equal(got.Data, mpctest.MatMul(q, kt)) {
		t.Errorf("q·Kᵀ wrong")
	}
	if got := reveal(t, []*mpc.Share{res[0][1], res[1][1]}); !slices.Equal(got.Data, mpctest.MatMul(p, k)) {
		t.Errorf("p·K wrong")
	}
}

func TestLTZAndSelect(t *testing.T) {
	edges := []int64{0, 1, -1, 2, -2, math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1, 1 << 62, -(1 << 62), 1 << 32, -(1 << 32)}
	r := rand.New(rand.NewPCG(13, 14))
	vals := slices.Clone(edges)
	for i := 0; i < 500; i++ {
		vals = append(vals, int64(r.Uint64()), int64(r.Uint64()>>uint(r.IntN(64)))*int64(1-2*r.IntN(2)))
	}
	x := &mpc.Tensor{Shape: []int{len(vals)}}
	for _, v := range vals {
		x.Data = append(x.Data, uint64(v))
	}
	a := &mpc.Tensor{Shape: x.Shape, Data: randRing(r, len(vals), 64)}
	b := &mpc.Tensor{Shape: x.Shape, Data: randRing(r, len(vals), 64)}
	for _, nw := range []network{memory, loopback} {
		t.Run(fmt.Sprint(nw), func(t *testing.T) {
			xs, as, bs := split(t, x), split(t, a), split(t, b)
			res := run(t, nw, cfg(), func(e mpc.Engine) ([]*mpc.Share, error) {
				c, err := e.LTZ(xs[e.Party()])
				if err != nil {
					return nil, err
				}
				s, err := e.Select(c, as[e.Party()], bs[e.Party()])
				return []*mpc.Share{c, s}, err
			})
			c := reveal(t, []*mpc.Share{res[0][0], res[1][0]})
			s := reveal(t, []*mpc.Share{res[0][1], res[1][1]})
			for i, v := range vals {
				want, sel := uint64(0), b.Data[i]
				if v < 0 {
					want, sel = 1, a.Data[i]
				}
				if c.Data[i] != want || s.Data[i] != sel {
					t.Fatalf("LTZ/select wrong for %d", v)
				}
			}
		})
	}
}

func TestOneHot(t *testing.T) {
	for _, n := range []int{1, 5, 8, 33} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			idx := &mpc.Tensor{Shape: []int{2, n}}
			for i := 0; i < 2*n; i++ {
				idx.Data = append(idx.Data, uint64((i*7+3)%n))
			}
			xs := split(t, idx)
			got := reveal(t, run(t, memory, cfg(), func(e mpc.Engine) (*mpc.Share, error) {
				return e.OneHot(xs[e.Party()], n)
			}))
			for i, v := range idx.Data {
				for j := 0; j < n; j++ {
					want := uint64(0)
					if uint64(j) == v {
						want = 1
					}
					if got.Data[i*n+j] != want {
						t.Fatalf("onehot(%d)[%d] = %d", v, j, got.Data[i*n+j])
					}
				}
			}
		})
	}
}

// TestMeter checks that dealer-free material leaves the online costs of the dealer's 2pc
// unchanged and is charged as offline bytes on both sides.
func TestMeter(t *testing.T) {
	const n = 1000
	ops := []struct {
		name   string
		op     func(e mpc.Engine, x *mpc.Share) error
		rounds int64
		sent   int64
	}{
		{"mul", func(e mpc.Engine, x *mpc.Share) error { _, err := e.Mul(x, x); return err }, 1, 16 * n},
		{"trunc", func(e mpc.Engine, x *mpc.Share) error { _, err := e.Trunc(x, 16); return err }, 1, 8 * n},
		{"ltz", func(e mpc.Engine, x *mpc.Share) error { _, err := e.LTZ(x); return err }, 8, 184*n + n/8},
	}
	for _, o := range ops {
		t.Run(o.name, func(t *testing.T) {
			xs := split(t, &mpc.Tensor{Shape: []int{n}, Data: make([]uint64, n)})
			res := run(t, memory, cfg(), func(e mpc.Engine) (mpc.Stat, error) {
				e.Meter().Reset()
				defer e.Meter().Scope("op")()
				err := o.op(e, xs[e.Party()])
				return e.Meter().Under("op"), err
			})
			for i, s := range res {
				if s.Rounds != o.rounds || s.OnlineSent != o.sent {
					t.Errorf("party %d: %d rounds, %d online bytes; want %d, %d", i, s.Rounds, s.OnlineSent, o.rounds, o.sent)
				}
				if s.OfflineSent == 0 || s.OfflineSent != res[1-i].OfflineRecv {
					t.Errorf("party %d: offline sent %d, peer received %d", i, s.OfflineSent, res[1-i].OfflineRecv)
				}
			}
			t.Logf("%s: offline bytes per element sent by P0 %.0f, by P1 %.0f", o.name, float64(res[0].OfflineSent)/n, float64(res[1].OfflineSent)/n)
		})
	}
}

// recorder keeps every message its party receives.
type recorder struct {
	transport.Transport
	mu  sync.Mutex
	got []byte
}

func (r *recorder) Recv(ctx context.Context, from int) ([]byte, error) {
	b, err := r.Transport.Recv(ctx, from)
	if err == nil {
		r.mu.Lock()
		r.got = append(r.got, b...)
		r.mu.Unlock()
	}
	return b, err
}

// TestViewIndependentOfSecret checks that what each party receives in a dealer-free session,
// material generation included, does not depend on the secret: the byte histograms of its view
// under two secrets (all zeros and all ones, the extremes of a sign test) pass a two-sample
// chi-square test of homogeneity, and, where no RLWE ciphertext travels (their 46-bit residues
// packed in 6 bytes are not uniform bytes), a chi-square test of uniformity; 255 degrees of
// freedom, 400 is beyond 6 sd.
func TestViewIndependentOfSecret(t *testing.T) {
	n := 2048
	if testing.Short() {
		n = 1024
	}
	ops := []struct {
		name string
		he   bool
		f    func(e mpc.Engine, x *mpc.Share) error
	}{
		{"multrunc", false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.MulTrunc(x, x); return err }},
		{"ltz", false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.LTZ(x); return err }},
		{"onehot", false, func(e mpc.Engine, x *mpc.Share) error { _, err := e.OneHot(x, 16); return err }},
		{"matmul-fixed", true, func(e mpc.Engine, x *mpc.Share) error {
			w, err := mpc.Reshape(x, 32, x.Len()/32)
			if err != nil {
				return err
			}
			f, err := e.Fix(w)
			if err != nil {
				return err
			}
			r, err := mpc.Reshape(x, x.Len()/32, 32)
			if err != nil {
				return err
			}
			_, err = e.MatMul(r, f[0])
			return err
		}},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			var hist [2][2][256]float64 // [secret][party]
			for si, secret := range []uint64{0, math.MaxUint64} {
				x := mpc.NewTensor(n)
				for i := range x.Data {
					x.Data[i] = secret
					if op.name == "onehot" {
						x.Data[i] = secret & 7
					}
				}
				shares, err := mpc.Split(mpc.TwoPC, x)
				if err != nil {
					t.Fatal(err)
				}
				recs := make([]*recorder, 2)
				runWrapped(t, memory, cfg(), func(i int, tr transport.Transport) transport.Transport {
					recs[i] = &recorder{Transport: tr}
					return recs[i]
				}, func(e mpc.Engine) (struct{}, error) {
					recs[e.Party()].mu.Lock()
					recs[e.Party()].got = nil // drop set-up (seeds, base OTs: group elements)
					recs[e.Party()].mu.Unlock()
					return struct{}{}, op.f(e, shares[e.Party()])
				})
				for p, r := range recs {
					for _, b := range r.got {
						hist[si][p][b]++
					}
				}
			}
			for p := 0; p < 2; p++ {
				a, b := hist[0][p], hist[1][p]
				var ta, tb float64
				for i := range a {
					ta, tb = ta+a[i], tb+b[i]
				}
				if ta < 4096 || ta != tb {
					t.Fatalf("party %d received %.0f and %.0f bytes", p, ta, tb)
				}
				chi := 0.0
				for i := range a {
					if a[i]+b[i] > 0 {
						d := a[i]*math.Sqrt(tb/ta) - b[i]*math.Sqrt(ta/tb)
						chi += d * d / (a[i] + b[i])
					}
				}
				if chi > 400 {
					t.Errorf("party %d's view depends on the secret: homogeneity chi-square %.0f", p, chi)
				}
				if op.he {
					continue
				}
				for _, h := range [][256]float64{a, b} {
					u := 0.0
					for _, v := range h {
						u += (v - ta/256) * (v - ta/256) / (ta / 256)
					}
					if u > 400 {
						t.Errorf("party %d's view is not uniform: chi-square %.0f over %.0f bytes", p, u, ta)
					}
				}
			}
		})
	}
}
