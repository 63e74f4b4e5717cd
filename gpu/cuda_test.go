//go:build cuda

package gpu

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
)

// needDevice skips the test when no CUDA device is usable.
func needDevice(tb testing.TB) {
	tb.Helper()
	if err := Init(); err != nil {
		tb.Skipf("no CUDA device: %v", err)
	}
}

func TestMain(m *testing.M) {
	if Init() == nil {
		info, _ := Device()
		fmt.Fprintf(os.Stderr, "gpu: %v\n%s", info, kernelReport())
	}
	os.Exit(m.Run())
}

// refGemm is the naive reference: c = a·op(b) (+ c when acc), batch after batch.
func refGemm(c, a, b []uint64, batch, m, k, n int, transB, acc bool) {
	for z := 0; z < batch; z++ {
		az, bz, cz := a[z*m*k:], b[z*k*n:], c[z*m*n:]
		for i := 0; i < m; i++ {
			row := make([]uint64, n)
			if acc {
				copy(row, cz[i*n:i*n+n])
			}
			for p := 0; p < k; p++ {
				av := az[i*k+p]
				if transB {
					for j := 0; j < n; j++ {
						row[j] += av * bz[j*k+p]
					}
				} else {
					for j, bv := range bz[p*n : p*n+n] {
						row[j] += av * bv
					}
				}
			}
			copy(cz[i*n:], row)
		}
	}
}

// fill writes test values of the given kind: uniformly random words, words whose balanced
// limbs are all −128 (the INT8 path's extreme), all ones, small signed fixed-point values,
// or words made of the bytes 0x00, 0x7f, 0x80 and 0xff.
func fill(r *rand.Rand, x []uint64, kind int) {
	for i := range x {
		switch kind {
		case 1:
			x[i] = 0x7f7f7f7f7f7f7f80
		case 2:
			x[i] = ^uint64(0)
		case 3:
			x[i] = uint64(r.Int64N(1<<21) - 1<<20)
		case 4:
			var w uint64
			for j := 0; j < 8; j++ {
				w = w<<8 | []uint64{0x00, 0x7f, 0x80, 0xff}[r.IntN(4)]
			}
			x[i] = w
		default:
			x[i] = r.Uint64()
		}
	}
}

func randWords(r *rand.Rand, n, kind int) []uint64 {
	x := make([]uint64, n)
	fill(r, x, kind)
	return x
}

func upload(tb testing.TB, x []uint64) *Buffer {
	tb.Helper()
	b, err := Upload(x)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Free() })
	return b
}

func read(tb testing.TB, b *Buffer) []uint64 {
	tb.Helper()
	x := make([]uint64, b.Len())
	if err := b.Read(x); err != nil {
		tb.Fatal(err)
	}
	return x
}

// poison fills a device buffer with a pattern no correct result is likely to equal.
func poison(tb testing.TB, b *Buffer) {
	tb.Helper()
	x := make([]uint64, b.Len())
	for i := range x {
		x[i] = 0xdeadbeefdeadbeef ^ uint64(i)
	}
	if err := b.Write(x); err != nil {
		tb.Fatal(err)
	}
}

func firstDiff(got, want []uint64) string {
	for i := range want {
		if got[i] != want[i] {
			n := 0
			for j := range want {
				if got[j] != want[j] {
					n++
				}
			}
			return fmt.Sprintf("%d of %d words differ; first at %d: got %#x, want %#x", n,
				len(want), i, got[i], want[i])
		}
	}
	return ""
}

type gemmCase struct {
	batch, m, k, n int
}

var gemmCases = []gemmCase{
	{1, 1, 1, 1}, {1, 1, 7, 3}, {1, 2, 3, 5}, {1, 3, 5, 7}, {1, 8, 16, 8}, {1, 9, 33, 17},
	{1, 17, 33, 65}, {1, 31, 64, 33}, {1, 33, 65, 31}, {1, 63, 63, 63}, {1, 64, 64, 64},
	{1, 65, 129, 63}, {1, 100, 1, 100}, {1, 127, 255, 129}, {1, 128, 128, 128},
	{1, 200, 300, 100}, {1, 256, 512, 192}, {1, 1, 768, 2304}, {1, 5, 768, 300},
	{1, 64, 100, 1}, {1, 1, 1000, 64}, {1, 129, 0, 65}, {3, 17, 33, 29}, {4, 70, 50, 90},
	{12, 1, 64, 100},
	// Inner dimensions past one INT8 chunk (16320) and past 2^15.
	{1, 64, 16320, 64}, {1, 65, 16321, 67}, {1, 3, 40000, 5}, {1, 70, 33000, 70},
	// Split k with atomic accumulation: skinny, tiled and INT8 kernels.
	{1, 1, 5000, 100}, {2, 40, 3000, 50}, {1, 100, 20000, 130}, {3, 130, 1000, 70},
}

// TestGemm checks both strategies, both layouts and accumulation against the naive product
// on random words of every kind.
func TestGemm(t *testing.T) {
	needDevice(t)
	r := rand.New(rand.NewPCG(1, 2))
	for ci, tc := range gemmCases {
		for _, s := range []Strategy{Cores, Int8} {
			for _, transB := range []bool{false, true} {
				acc := (ci+int(s))%2 == 1
				name := fmt.Sprintf("%s/%dx%dx%dx%d/T=%v/acc=%v", s, tc.batch, tc.m, tc.k, tc.n,
					transB, acc)
				t.Run(name, func(t *testing.T) {
					kind := (ci + int(s)) % 5
					a := randWords(r, tc.batch*tc.m*tc.k, kind)
					b := randWords(r, tc.batch*tc.k*tc.n, (kind+ci)%5)
					want := randWords(r, tc.batch*tc.m*tc.n, 0)
					da, db, dc := upload(t, a), upload(t, b), upload(t, want)
					if !acc {
						poison(t, dc)
					}
					refGemm(want, a, b, tc.batch, tc.m, tc.k, tc.n, transB, acc)
					err := Gemm(dc, da, db, GemmConfig{Batch: tc.batch, M: tc.m, K: tc.k,
						N: tc.n, TransB: transB, Accumulate: acc, Strategy: s})
					if err != nil {
						t.Fatal(err)
					}
					if d := firstDiff(read(t, dc), want); d != "" {
						t.Fatal(d)
					}
				})
			}
		}
	}
}

// TestGemmExtremes drives every INT8 accumulator to its largest magnitude: all limbs −128
// (and all ones) over a full chunk and over two chunks and a bit.
func TestGemmExtremes(t *testing.T) {
	needDevice(t)
	for _, k := range []int{limbChunk, 2*limbChunk + 17} {
		for _, kind := range []int{1, 2} {
			for _, s := range []Strategy{Int8, Cores} {
				t.Run(fmt.Sprintf("%s/k=%d/kind=%d", s, k, kind), func(t *testing.T) {
					m, n := 64, 65
					r := rand.New(rand.NewPCG(uint64(k), uint64(kind)))
					a := randWords(r, m*k, kind)
					b := randWords(r, k*n, kind)
					want := make([]uint64, m*n)
					refGemm(want, a, b, 1, m, k, n, false, false)
					da, db, dc := upload(t, a), upload(t, b), upload(t, want)
					poison(t, dc)
					if err := Gemm(dc, da, db, GemmConfig{M: m, K: k, N: n, Strategy: s}); err != nil {
						t.Fatal(err)
					}
					if d := firstDiff(read(t, dc), want); d != "" {
						t.Fatal(d)
					}
				})
			}
		}
	}
}

// TestLimbCache checks that cached limb planes of a right operand are dropped when the
// buffer is written, and kept (same results) while it is not.
func TestLimbCache(t *testing.T) {
	needDevice(t)
	r := rand.New(rand.NewPCG(3, 4))
	m, k, n := 96, 80, 72
	a, b := randWords(r, m*k, 0), randWords(r, k*n, 0)
	da, db, dc := upload(t, a), upload(t, b), upload(t, make([]uint64, m*n))
	cfg := GemmConfig{M: m, K: k, N: n, Strategy: Int8}
	for round := 0; round < 3; round++ {
		want := make([]uint64, m*n)
		refGemm(want, a, b, 1, m, k, n, false, false)
		if err := Gemm(dc, da, db, cfg); err != nil {
			t.Fatal(err)
		}
		if d := firstDiff(read(t, dc), want); d != "" {
			t.Fatalf("round %d: %s", round, d)
		}
		if round == 1 { // overwrite b by a kernel, then by a host write
			if err := Add(db, db, db); err != nil {
				t.Fatal(err)
			}
			for i := range b {
				b[i] += b[i]
			}
		} else {
			fill(r, b, 0)
			if err := db.Write(b); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestElementwise(t *testing.T) {
	needDevice(t)
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 1000, 1<<20 + 3} {
		a, b := randWords(r, n, 0), randWords(r, n, 4)
		da, db := upload(t, a), upload(t, b)
		dc := upload(t, make([]uint64, n))
		for _, op := range []struct {
			name string
			f    func(c, a, b *Buffer) error
			g    func(x, y uint64) uint64
		}{
			{"add", Add, func(x, y uint64) uint64 { return x + y }},
			{"sub", Sub, func(x, y uint64) uint64 { return x - y }},
			{"mul", Mul, func(x, y uint64) uint64 { return x * y }},
		} {
			poison(t, dc)
			if err := op.f(dc, da, db); err != nil {
				t.Fatal(err)
			}
			want := make([]uint64, n)
			for i := range want {
				want[i] = op.g(a[i], b[i])
			}
			if d := firstDiff(read(t, dc), want); d != "" {
				t.Fatalf("%s n=%d: %s", op.name, n, d)
			}
		}
	}
}

// TestBeaver runs the local step of a 2-party Beaver matrix product on both parties and checks
// that the output shares add up to x·y.
func TestBeaver(t *testing.T) {
	needDevice(t)
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []gemmCase{{1, 5, 33, 7}, {1, 100, 200, 80}, {1, 1, 768, 300},
		{1, 64, 20000, 64}, {1, 2, 5000, 40}} {
		for _, transB := range []bool{false, true} {
			m, k, n := tc.m, tc.k, tc.n
			x, y := randWords(r, m*k, 0), randWords(r, k*n, 0)
			A, B := randWords(r, m*k, 0), randWords(r, k*n, 0)
			C := make([]uint64, m*n)
			refGemm(C, A, B, 1, m, k, n, transB, false)
			want := make([]uint64, m*n)
			refGemm(want, x, y, 1, m, k, n, transB, false)
			share := func(v []uint64) (s0, s1 []uint64) {
				s0 = randWords(r, len(v), 0)
				s1 = make([]uint64, len(v))
				for i := range v {
					s1[i] = v[i] - s0[i]
				}
				return
			}
			y0, y1 := share(y)
			A0, A1 := share(A)
			C0, C1 := share(C)
			e, f := make([]uint64, m*k), make([]uint64, k*n)
			for i := range e {
				e[i] = x[i] - A[i]
			}
			for i := range f {
				f[i] = y[i] - B[i]
			}
			de, df := upload(t, e), upload(t, f)
			got := make([]uint64, m*n)
			for _, p := range []struct{ y, a, c []uint64 }{{y0, A0, C0}, {y1, A1, C1}} {
				z := upload(t, make([]uint64, m*n))
				poison(t, z)
				if err := BeaverMatMul(z, de, upload(t, p.y), upload(t, p.a), df, upload(t, p.c),
					m, k, n, transB); err != nil {
					t.Fatal(err)
				}
				for i, v := range read(t, z) {
					got[i] += v
				}
			}
			if d := firstDiff(got, want); d != "" {
				t.Fatalf("%dx%dx%d T=%v: %s", m, k, n, transB, d)
			}
		}
	}
}

// TestReplicated runs the local step of a 3-party replicated product on all parties and
// checks that the three outputs add up to x·y.
func TestReplicated(t *testing.T) {
	needDevice(t)
	r := rand.New(rand.NewPCG(9, 10))
	for _, tc := range []gemmCase{{1, 3, 17, 5}, {1, 128, 96, 160}} {
		for _, transB := range []bool{false, true} {
			m, k, n := tc.m, tc.k, tc.n
			x, y := randWords(r, m*k, 0), randWords(r, k*n, 0)
			want := make([]uint64, m*n)
			refGemm(want, x, y, 1, m, k, n, transB, false)
			split3 := func(v []uint64) [3][]uint64 {
				s := [3][]uint64{randWords(r, len(v), 0), randWords(r, len(v), 0), make([]uint64, len(v))}
				for i := range v {
					s[2][i] = v[i] - s[0][i] - s[1][i]
				}
				return s
			}
			xs, ys := split3(x), split3(y)
			got := make([]uint64, m*n)
			for i := 0; i < 3; i++ {
				z := upload(t, make([]uint64, m*n))
				poison(t, z)
				err := ReplicatedMatMul(z, upload(t, xs[i]), upload(t, xs[(i+1)%3]),
					upload(t, ys[i]), upload(t, ys[(i+1)%3]), m, k, n, transB)
				if err != nil {
					t.Fatal(err)
				}
				for j, v := range read(t, z) {
					got[j] += v
				}
			}
			if d := firstDiff(got, want); d != "" {
				t.Fatalf("%dx%dx%d T=%v: %s", m, k, n, transB, d)
			}
		}
	}
}

// TestMatMulHost checks the host-slice entry point, with and without a pinned b.
func TestMatMulHost(t *testing.T) {
	needDevice(t)
	defer func(m string) { dev.mode = m }(dev.mode)
	dev.mode = ModeCUDA
	r := rand.New(rand.NewPCG(11, 12))
	for _, tc := range []gemmCase{{1, 1, 5, 3}, {1, 7, 300, 9}, {1, 130, 70, 190}, {1, 64, 64, 64}} {
		for _, transB := range []bool{false, true} {
			for _, pin := range []bool{false, true} {
				m, k, n := tc.m, tc.k, tc.n
				a, b := randWords(r, m*k, 0), randWords(r, k*n, 0)
				want := make([]uint64, m*n)
				refGemm(want, a, b, 1, m, k, n, transB, false)
				if pin {
					if err := Pin(b); err != nil {
						t.Fatal(err)
					}
				}
				for rep := 0; rep < 2; rep++ {
					c := randWords(r, m*n, 0)
					if !MatMul(c, a, b, m, k, n, transB) {
						t.Fatalf("%v: MatMul declined", tc)
					}
					if d := firstDiff(c, want); d != "" {
						t.Fatalf("%v T=%v pin=%v rep=%d: %s", tc, transB, pin, rep, d)
					}
				}
				if pin {
					Unpin(b)
				}
			}
		}
	}
	if len(dev.pinned) != 0 {
		t.Fatalf("%d matrices still pinned", len(dev.pinned))
	}
}

// TestNoDevice checks, where no device is usable, that everything declines without panicking.
func TestNoDevice(t *testing.T) {
	err := Init()
	if err == nil {
		t.Skip("a CUDA device is present")
	}
	if !errors.Is(err, ErrNoDriver) && !errors.Is(err, ErrDisabled) {
		t.Logf("Init: %v", err)
	}
	if Available() {
		t.Error("Available with a failed Init")
	}
	c := make([]uint64, 4)
	if MatMul(c, []uint64{1, 2, 3, 4}, []uint64{1, 2, 3, 4}, 2, 2, 2, false) {
		t.Error("MatMul accepted without a device")
	}
	if _, err := Alloc(4); err == nil {
		t.Error("Alloc succeeded without a device")
	}
	if err := Pin(c); err == nil {
		t.Error("Pin succeeded without a device")
	}
	Unpin(c)
}

func TestBufferErrors(t *testing.T) {
	needDevice(t)
	a := upload(t, make([]uint64, 4))
	c := upload(t, make([]uint64, 4))
	if err := Gemm(c, a, a, GemmConfig{M: 2, K: 3, N: 2}); err == nil {
		t.Error("Gemm with short operands succeeded")
	}
	if err := Gemm(a, a, c, GemmConfig{M: 2, K: 2, N: 2}); err == nil {
		t.Error("Gemm with c == a succeeded")
	}
	if err := Add(c, a, upload(t, make([]uint64, 5))); err == nil {
		t.Error("Add with different lengths succeeded")
	}
	if err := BeaverMatMul(c, c, a, a, a, a, 2, 2, 2, false); err == nil {
		t.Error("BeaverMatMul with z == e succeeded")
	}
	if err := ReplicatedMatMul(c, a, a, a, c, 2, 2, 2, false); err == nil {
		t.Error("ReplicatedMatMul with z == y1 succeeded")
	}
	b, err := Alloc(3)
	if err != nil {
		t.Fatal(err)
	}
	b.Free()
	if err := b.Write([]uint64{1}); err != ErrFreed {
		t.Errorf("Write after Free: %v, want ErrFreed", err)
	}
	if err := b.Free(); err != nil {
		t.Errorf("second Free: %v", err)
	}
}

// ---------------------------------------------------------------------------------------------
// Benchmarks: device time (CUDA events) of one product, operands resident on the device.
//
//	go test -tags cuda -run '^$' -bench Gemm ./gpu
//
// Sub-benchmarks are strategy/shape; "int8" reuses the right operand's limb planes (weights),
// "int8split" splits both operands every call (activation × activation, e.g. attention).

type benchShape struct {
	name           string
	batch, m, k, n int
	transB         bool
}

var benchShapes = []benchShape{
	{"768^3", 1, 768, 768, 768, false},
	{"4096^3", 1, 4096, 4096, 4096, false},
	{"prefill1024/qkv_1024x768x2304", 1, 1024, 768, 2304, false},
	{"prefill1024/attnout_1024x768x768", 1, 1024, 768, 768, false},
	{"prefill1024/fc1_1024x768x3072", 1, 1024, 768, 3072, false},
	{"prefill1024/fc2_1024x3072x768", 1, 1024, 3072, 768, false},
	{"prefill1024/qkT_12x1024x64x1024", 12, 1024, 64, 1024, true},
	{"prefill1024/av_12x1024x1024x64", 12, 1024, 1024, 64, false},
	{"decode/qkv_1x768x2304", 1, 1, 768, 2304, false},
	{"decode/attnout_1x768x768", 1, 1, 768, 768, false},
	{"decode/fc1_1x768x3072", 1, 1, 768, 3072, false},
	{"decode/fc2_1x3072x768", 1, 1, 3072, 768, false},
	{"decode/qkT_12x1x64x1024", 12, 1, 64, 1024, true},
	{"decode/av_12x1x1024x64", 12, 1, 1024, 64, false},
}

func BenchmarkGemm(b *testing.B) {
	needDevice(b)
	for _, st := range []struct {
		name  string
		s     Strategy
		split bool
	}{{"cores", Cores, false}, {"int8", Int8, false}, {"int8split", Int8, true}} {
		for _, sh := range benchShapes {
			b.Run(st.name+"/"+sh.name, func(b *testing.B) {
				r := rand.New(rand.NewPCG(13, 14))
				da := upload(b, randWords(r, sh.batch*sh.m*sh.k, 0))
				db := upload(b, randWords(r, sh.batch*sh.k*sh.n, 0))
				dc := upload(b, make([]uint64, sh.batch*sh.m*sh.n))
				cfg := GemmConfig{Batch: sh.batch, M: sh.m, K: sh.k, N: sh.n, TransB: sh.transB,
					Strategy: st.s}
				if err := Gemm(dc, da, db, cfg); err != nil { // warm-up, fills the limb cache
					b.Fatal(err)
				}
				if err := Synchronize(); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				el, err := Elapsed(func() error {
					for i := 0; i < b.N; i++ {
						if st.split {
							db.s.gen++ // as if b had been written: split it again
						}
						if err := Gemm(dc, da, db, cfg); err != nil {
							return err
						}
					}
					return nil
				})
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				macs := float64(sh.batch) * float64(sh.m) * float64(sh.k) * float64(sh.n)
				b.ReportMetric(macs*float64(b.N)/el.Seconds(), "MAC/s")
				b.ReportMetric(el.Seconds()*1e6/float64(b.N), "dev-µs/op")
			})
		}
	}
}

// BenchmarkMatMulHost times the host-slice entry point (copies included) on the prefill
// shapes, with the weight matrix pinned and not.
func BenchmarkMatMulHost(b *testing.B) {
	needDevice(b)
	defer func(m string) { dev.mode = m }(dev.mode)
	dev.mode = ModeCUDA
	for _, pin := range []bool{true, false} {
		for _, sh := range benchShapes {
			if sh.batch != 1 || sh.m == 4096 {
				continue
			}
			b.Run(fmt.Sprintf("pin=%v/%s", pin, sh.name), func(b *testing.B) {
				r := rand.New(rand.NewPCG(15, 16))
				a := randWords(r, sh.m*sh.k, 0)
				w := randWords(r, sh.k*sh.n, 0)
				c := make([]uint64, sh.m*sh.n)
				if pin {
					if err := Pin(w); err != nil {
						b.Fatal(err)
					}
					defer Unpin(w)
				}
				if !MatMul(c, a, w, sh.m, sh.k, sh.n, sh.transB) {
					b.Fatal("MatMul declined")
				}
				b.ResetTimer()
				for b.Loop() {
					MatMul(c, a, w, sh.m, sh.k, sh.n, sh.transB)
				}
				macs := float64(sh.m) * float64(sh.k) * float64(sh.n)
				b.ReportMetric(macs*float64(b.N)/b.Elapsed().Seconds(), "MAC/s")
			})
		}
	}
}
