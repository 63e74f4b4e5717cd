package protocols

// Shared test helpers for every test file of this package. Keep the API stable: other test
// files depend on it.

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/privinfer/mpcache/mpc"
	"github.com/privinfer/mpcache/mpc/mpctest"
)

// testFrac is the fixed-point precision the helpers encode with; it is the engine default
// (mpc.Config{} gives 16 fractional bits).
const testFrac = 16

// testProtocols lists the backends every test runs on.
var testProtocols = []mpc.Protocol{mpc.TwoPC, mpc.ThreePC}

// shareFloats encodes xs in fixed point (testFrac bits) and secret-shares them for protocol p,
// returning one share per party (index = party; in 2pc entry 2 is the dealer's shape-only share).
// The shape defaults to [len(xs)].
func shareFloats(t testing.TB, p mpc.Protocol, xs []float64, shape ...int) []*mpc.Share {
	t.Helper()
	x, err := mpc.EncodeTensor(xs, testFrac, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return shareTensor(t, p, x)
}

// shareInts secret-shares plain ring integers (bits, indices), not fixed point.
func shareInts(t testing.TB, p mpc.Protocol, xs []int64, shape ...int) []*mpc.Share {
	t.Helper()
	x, err := mpc.IntTensor(xs, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return shareTensor(t, p, x)
}

// shareTensor secret-shares a public ring tensor.
func shareTensor(t testing.TB, p mpc.Protocol, x *mpc.Tensor) []*mpc.Share {
	t.Helper()
	s, err := mpc.Split(p, x)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// revealTensor reconstructs the ring tensor behind the parties' shares (indexed by party).
func revealTensor(t testing.TB, p mpc.Protocol, e []*mpc.Share) *mpc.Tensor {
	t.Helper()
	return mpctest.Reveal(t, p, e)
}

// revealFloats reconstructs and decodes a fixed-point result (testFrac bits).
func revealFloats(t testing.TB, p mpc.Protocol, e []*mpc.Share) []float64 {
	t.Helper()
	return mpc.DecodeTensor(revealTensor(t, p, e), testFrac)
}

// revealInts reconstructs a plain ring integer result as int64 (two's complement).
func revealInts(t testing.TB, p mpc.Protocol, e []*mpc.Share) []int64 {
	t.Helper()
	d := revealTensor(t, p, e).Data
	out := make([]int64, len(d))
	for i, v := range d {
		out[i] = int64(v)
	}
	return out
}

// run runs f at every party of protocol p (in-memory network, default config: testFrac
// fractional bits) and returns its result per party. Any party's error fails the test.
func run(t testing.TB, p mpc.Protocol, f func(e mpc.Engine) (*mpc.Share, error)) []*mpc.Share {
	t.Helper()
	return mpctest.Run(t, p, mpctest.Memory, mpc.Config{}, f)
}

// runAll is run for functions with several outputs: out[k] holds output k of every party,
// ready for revealFloats or revealInts.
func runAll(t testing.TB, p mpc.Protocol, f func(e mpc.Engine) ([]*mpc.Share, error)) [][]*mpc.Share {
	t.Helper()
	res := mpctest.Run(t, p, mpctest.Memory, mpc.Config{}, f)
	return transpose(res)
}

// measure runs f at every party like run, with the meter reset before and f inside the scope
// label, and returns the results and each party's traffic under label (index = party; in 2pc
// the dealer's entry shows only offline bytes sent). Only what f does is counted, so share
// inputs outside f.
func measure(t testing.TB, p mpc.Protocol, label string, f func(e mpc.Engine) (*mpc.Share, error)) ([]*mpc.Share, []mpc.Stat) {
	t.Helper()
	out, st := measureAll(t, p, label, func(e mpc.Engine) ([]*mpc.Share, error) {
		s, err := f(e)
		return []*mpc.Share{s}, err
	})
	return out[0], st
}

// measureAll is measure for functions with several outputs (out[k] as in runAll).
func measureAll(t testing.TB, p mpc.Protocol, label string, f func(e mpc.Engine) ([]*mpc.Share, error)) ([][]*mpc.Share, []mpc.Stat) {
	t.Helper()
	return measureAllOn(t, backend{p: p}, label, f)
}

// testBackends lists both protocols with both comparison methods, for the cost tests.
var testBackends = []backend{
	{p: mpc.TwoPC, cmp: mpc.CompareFSS}, {p: mpc.TwoPC, cmp: mpc.CompareCircuit},
	{p: mpc.ThreePC, cmp: mpc.CompareFSS}, {p: mpc.ThreePC, cmp: mpc.CompareCircuit},
}

func (b backend) String() string { return string(b.p) + "/" + string(b.cmp) }

// measureOn is measure on backend b: protocol b.p with comparisons by b.cmp (empty: the
// engine's default).
func measureOn(t testing.TB, b backend, label string, f func(e mpc.Engine) (*mpc.Share, error)) ([]*mpc.Share, []mpc.Stat) {
	t.Helper()
	out, st := measureAllOn(t, b, label, func(e mpc.Engine) ([]*mpc.Share, error) {
		s, err := f(e)
		return []*mpc.Share{s}, err
	})
	return out[0], st
}

// measureAllOn is measureAll on backend b.
func measureAllOn(t testing.TB, b backend, label string, f func(e mpc.Engine) ([]*mpc.Share, error)) ([][]*mpc.Share, []mpc.Stat) {
	t.Helper()
	return measureAllWith(t, b.p, mpc.Config{Comparison: b.cmp}, label, f)
}

// measureAllWith is measureAll of protocol p on engines configured by cfg.
func measureAllWith(t testing.TB, p mpc.Protocol, cfg mpc.Config, label string, f func(e mpc.Engine) ([]*mpc.Share, error)) ([][]*mpc.Share, []mpc.Stat) {
	t.Helper()
	type res struct {
		out []*mpc.Share
		st  mpc.Stat
	}
	rs := mpctest.Run(t, p, mpctest.Memory, cfg, func(e mpc.Engine) (res, error) {
		e.Meter().Reset()
		done := e.Meter().Scope(label)
		out, err := f(e)
		done()
		return res{out, e.Meter().Under(label)}, err
	})
	outs := make([][]*mpc.Share, 3)
	st := make([]mpc.Stat, 3)
	for i, r := range rs {
		outs[i], st[i] = r.out, r.st
	}
	return transpose(outs), st
}

// transpose turns per-party output lists into per-output party lists.
func transpose(res [][]*mpc.Share) [][]*mpc.Share {
	if len(res) == 0 {
		return nil
	}
	out := make([][]*mpc.Share, len(res[0]))
	for k := range out {
		out[k] = make([]*mpc.Share, len(res))
		for i := range res {
			if k < len(res[i]) {
				out[k][i] = res[i][k]
			}
		}
	}
	return out
}

// randValues returns n fixed-point-exact values uniform in ±2^20 (multiples of 2^-16).
func randValues(r *rand.Rand, n int) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = math.Ldexp(float64(r.Int64N(1<<37)-(1<<36)), -testFrac)
	}
	return xs
}

// tiedValues returns n values drawn from a handful, so that many are equal.
func tiedValues(r *rand.Rand, n int) []float64 {
	pool := []float64{-3.5, 0, 0.25, 7, 7, 1 << 19}
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = pool[r.IntN(len(pool))]
	}
	return xs
}

// benchOp runs f b.N times at every party of protocol p (in-memory network) and reports the
// traffic of one run per element: "rounds" (the most of any party), "online-B/elem" (the most
// online bytes any party sends) and "offline-B/elem" (material received by P1, the most any
// party receives from the dealer, or from P2 in 3pc).
func benchOp(b *testing.B, p mpc.Protocol, elems int, f func(e mpc.Engine) error) {
	b.Helper()
	benchOpOn(b, backend{p: p}, elems, f)
}

// benchOpOn is benchOp on backend be.
func benchOpOn(b *testing.B, be backend, elems int, f func(e mpc.Engine) error) {
	b.Helper()
	st := mpctest.Run(b, be.p, mpctest.Memory, mpc.Config{Comparison: be.cmp}, func(e mpc.Engine) (mpc.Stat, error) {
		if e.Party() == 0 {
			b.ResetTimer()
		}
		var st mpc.Stat
		for i := 0; i < b.N; i++ {
			e.Meter().Reset()
			if err := f(e); err != nil {
				return st, err
			}
			st = e.Meter().Total()
		}
		return st, nil
	})
	b.StopTimer()
	var rounds, sent int64
	for _, s := range st {
		rounds, sent = max(rounds, s.Rounds), max(sent, s.OnlineSent)
	}
	b.ReportMetric(float64(rounds), "rounds")
	b.ReportMetric(float64(sent)/float64(elems), "online-B/elem")
	b.ReportMetric(float64(st[1].OfflineRecv)/float64(elems), "offline-B/elem")
}
