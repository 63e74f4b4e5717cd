package fss

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// widths are the comparison widths the tests cover: the whole ring, the narrow widths the
// protocols use, and the extremes.
var widths = []uint{MaxBits, 63, 48, 38, 17, 3, MinBits}

// signOf is the sign bit of x mod 2^bits as a bits-bit integer.
func signOf(x uint64, bits uint) uint64 { return x >> (bits - 1) & 1 }

// signCase generates keys over bits for masks r, evaluates both parties at x + r and checks
// that the shares add up to the sign of x as a bits-bit integer.
func signCase(t *testing.T, rng *rand.Rand, bits uint, r, x []uint64) {
	t.Helper()
	offsetCase(t, rng, bits, r, x, []uint64{0})
}

// offsetCase generates keys over bits for masks r, evaluates both parties' keys at x − o + r
// for every offset o of offs and checks that the shares add up to the sign of x − o.
func offsetCase(t *testing.T, rng *rand.Rand, bits uint, r, x, offs []uint64) {
	t.Helper()
	m := len(r)
	var key [KeySize]byte
	for i := range key {
		key[i] = byte(rng.Uint32())
	}
	seed0, seed1 := make([]uint64, SeedWords*m), make([]uint64, SeedWords*m)
	for i := range seed0 {
		seed0[i], seed1[i] = rng.Uint64(), rng.Uint64()
	}
	cw := make([]uint64, KeyWords(bits)*m)
	GenSign(key, bits, r, seed0, seed1, cw)
	p := len(offs)
	c := make([]uint64, m*p)
	for i := range m {
		for k, o := range offs {
			c[i*p+k] = x[i] - o + r[i]
		}
	}
	y0, y1 := make([]uint64, m*p), make([]uint64, m*p)
	EvalSign(0, key, bits, c, seed0, cw, y0)
	EvalSign(1, key, bits, c, seed1, cw, y1)
	for i := range m {
		for k, o := range offs {
			if got, want := y0[i*p+k]+y1[i*p+k], signOf(x[i]-o, bits); got != want {
				t.Fatalf("%d-bit sign of %#x − %#x with mask %#x: shares add to %#x, want %d", bits, x[i], o, r[i], got, want)
			}
		}
	}
}

// TestSignGateOffsets evaluates every key at several points, as LessThan does with its
// thresholds, across the tile and worker boundaries of EvalSign.
func TestSignGateOffsets(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	// Offsets close together (paths shared for most levels), far apart, repeated, and 2^63
	// apart (the same low 63 bits, so the same leaf, with different top bits).
	offs := []uint64{0, 1, math.MaxUint64, 5 << 16, 1<<64 - 3<<15, 1 << 62, 12345, 1, 1 << 63, 1<<63 + 1, 0}
	for _, m := range []int{1, 3, 23, 257, 1500} {
		r, x := make([]uint64, m), make([]uint64, m)
		for i := range r {
			r[i] = rng.Uint64()
			x[i] = uint64(int64(rng.Uint64()) >> uint(2+rng.IntN(60)))
			if i%4 == 0 {
				x[i] = offs[rng.IntN(len(offs))] + uint64(rng.IntN(3)) - 1 // next to a threshold
			}
		}
		for _, bits := range widths {
			offsetCase(t, rng, bits, r, x, offs)
		}
	}
}

func TestSignGate(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	edges := []uint64{0, 1, math.MaxUint64, 2, math.MaxUint64 - 1, 1 << 63, 1<<63 - 1, 1<<63 + 1, 1 << 62, 3 << 62, 1 << 32, 12345}
	// Every edge value under every edge mask, and each also next to the mask.
	var r, x []uint64
	for _, a := range edges {
		for _, b := range edges {
			r, x = append(r, a), append(x, b)
			r, x = append(r, a), append(x, -a+b) // c = b
		}
	}
	for _, bits := range widths {
		signCase(t, rng, bits, r, x)
	}
	// Random masks and values, enough keys to split across workers.
	r, x = make([]uint64, 5000), make([]uint64, 5000)
	for i := range r {
		r[i] = rng.Uint64()
		x[i] = rng.Uint64() >> uint(rng.IntN(64))
		if rng.IntN(2) == 0 {
			x[i] = -x[i]
		}
		if i%3 == 0 {
			x[i] = -r[i] + uint64(rng.IntN(5)) - 2 // c near 0: paths share a long prefix with r'
		}
	}
	for _, bits := range widths {
		signCase(t, rng, bits, r, x)
		signCase(t, rng, bits, nil, nil)
	}
}

// TestSignGateWidths checks what a narrow gate is for: over bits it gives the sign of every x
// with |x| < 2^(bits−1), whatever the higher bits of the mask, and its keys are
// KeyWords(bits) words.
func TestSignGateWidths(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, bits := range widths {
		r, x := make([]uint64, 600), make([]uint64, 600)
		for i := range r {
			r[i] = rng.Uint64()
			x[i] = uint64(int64(rng.Uint64()) >> (65 - bits)) // |x| < 2^(bits−1)
		}
		offsetCase(t, rng, bits, r, x, []uint64{0})
		for i := range x {
			if signOf(x[i], bits) != x[i]>>63 {
				t.Fatalf("test value %#x out of the %d-bit range", x[i], bits)
			}
		}
	}
	if KeyWords(MaxBits) != 191 || KeyWords(38) != 113 {
		t.Errorf("KeyWords(64) = %d, KeyWords(38) = %d; want 191 and 113", KeyWords(MaxBits), KeyWords(38))
	}
	for _, bad := range []uint{0, 1, 65} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("GenSign over %d bits did not panic", bad)
				}
			}()
			GenSign([KeySize]byte{}, bad, nil, nil, nil, nil)
		}()
	}
}

// BenchmarkSign measures key generation (both parties' keys) and one party's evaluation, per
// comparison, on batches of 8192, for the whole ring and the narrower widths the protocols use.
func BenchmarkSign(b *testing.B) {
	const m = 8192
	rng := rand.New(rand.NewPCG(5, 6))
	r, c := make([]uint64, m), make([]uint64, m)
	seed0, seed1 := make([]uint64, SeedWords*m), make([]uint64, SeedWords*m)
	for i := range r {
		r[i], c[i] = rng.Uint64(), rng.Uint64()
	}
	for i := range seed0 {
		seed0[i], seed1[i] = rng.Uint64(), rng.Uint64()
	}
	for _, bits := range []uint{MaxBits, 48, 38} {
		cw, out := make([]uint64, KeyWords(bits)*m), make([]uint64, m)
		b.Run(fmt.Sprintf("bits=%d/gen", bits), func(b *testing.B) {
			for b.Loop() {
				GenSign([KeySize]byte{}, bits, r, seed0, seed1, cw)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*m), "ns/key")
			b.ReportMetric(float64(8*KeyWords(bits)), "key-B")
		})
		b.Run(fmt.Sprintf("bits=%d/eval", bits), func(b *testing.B) {
			for b.Loop() {
				EvalSign(0, [KeySize]byte{}, bits, c, seed0, cw, out)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*m), "ns/key")
		})
		// Each key at 14 points spread over 2^19, as GeLU's cuts (in ±3.8 at 16 fractional bits).
		const p = 14
		cp, outp := make([]uint64, p*m), make([]uint64, p*m)
		for i := range cp {
			cp[i] = c[i/p] + uint64(i%p)*(1<<19/p)
		}
		b.Run(fmt.Sprintf("bits=%d/eval-14-close", bits), func(b *testing.B) {
			for b.Loop() {
				EvalSign(0, [KeySize]byte{}, bits, cp, seed0, cw, outp)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*m*p), "ns/point")
		})
	}
}

// FuzzSignGate checks the sign gate for arbitrary masks, values and root seeds.
func FuzzSignGate(f *testing.F) {
	for _, v := range []uint64{0, 1, 1<<63 - 1, 1 << 63, math.MaxUint64} {
		f.Add(v, v, uint64(1), uint64(2), uint64(3), uint64(4), uint8(62))
		f.Add(v, -v, uint64(0), uint64(0), uint64(0), uint64(0), uint8(36))
		f.Add(v, 1<<63-v, uint64(0), uint64(0), uint64(0), uint64(0), uint8(0))
	}
	f.Fuzz(func(t *testing.T, r, x, s0lo, s0hi, s1lo, s1hi uint64, w uint8) {
		bits := MinBits + uint(w)%(MaxBits-MinBits+1)
		o := s0lo ^ s1hi // the offset of a second point of the same key
		seed0, seed1 := []uint64{s0lo, s0hi}, []uint64{s1lo, s1hi}
		cw := make([]uint64, KeyWords(bits))
		key := [KeySize]byte{byte(r), byte(x)}
		GenSign(key, bits, []uint64{r}, seed0, seed1, cw)
		c := []uint64{x + r, x - o + r}
		y0, y1 := make([]uint64, 2), make([]uint64, 2)
		EvalSign(0, key, bits, c, seed0, cw, y0)
		EvalSign(1, key, bits, c, seed1, cw, y1)
		if y0[0]+y1[0] != signOf(x, bits) || y0[1]+y1[1] != signOf(x-o, bits) {
			t.Fatalf("%d-bit signs of %#x and %#x − %#x with mask %#x: shares add to %#x, %#x", bits, x, x, o, r, y0[0]+y1[0], y0[1]+y1[1])
		}
	})
}
