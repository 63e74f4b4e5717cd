package twoparty

import (
	"math"
	"testing"
)

func chiSquare(b []byte) float64 {
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

func corr(a, b []float64) float64 {
	var sa, sb, sab, saa, sbb float64
	n := float64(len(a))
	for i := range a {
		sa, sb, sab = sa+a[i], sb+b[i], sab+a[i]*b[i]
		saa, sbb = saa+a[i]*a[i], sbb+b[i]*b[i]
	}
	return (sab/n - sa/n*sb/n) / math.Sqrt((saa/n-sa/n*sa/n)*(sbb/n-sb/n*sb/n))
}

// TestViewsUniform records every message each party receives while producing each kind of
// material and checks that the bytes are uniform (chi-square over 255 degrees of freedom, 400
// is beyond 6 sd): extension messages, Gilboa and truncation corrections and one-hot
// rotations are all masked by hash outputs the receiver cannot compute.
func TestViewsUniform(t *testing.T) {
	kinds := []struct {
		name string
		f    func(g *Generator) error
	}{
		{"triple", func(g *Generator) error { _, _, _, err := g.Triple(300); return err }},
		{"and", func(g *Generator) error { _, _, _, err := g.ANDTriple(300); return err }},
		{"trunc", func(g *Generator) error { _, _, _, err := g.Trunc(300, 16); return err }},
		{"bitpair", func(g *Generator) error { _, _, err := g.BitPair(8000); return err }},
		{"onehot", func(g *Generator) error { _, _, err := g.OneHotPair(4, 256); return err }},
		{"privateand", func(g *Generator) error { _, _, err := g.PrivateAND(300); return err }},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			var rec [2][][]byte
			pair(t, Options{}, &rec, func(g *Generator) (int, error) { return 0, k.f(g) })
			for p := 0; p < 2; p++ {
				var all []byte
				for _, m := range rec[p] {
					all = append(all, m...)
				}
				if len(all) < 4096 {
					t.Fatalf("party %d received only %d bytes", p, len(all))
				}
				if chi := chiSquare(all); chi > 400 {
					t.Errorf("party %d's view is not uniform: chi-square %.0f over %d bytes", p, chi, len(all))
				}
			}
		})
	}
}

// TestGilboaViewIndependent checks that the corrections an OT receiver gets in Gilboa
// multiplication do not reveal the sender's secret multiplicand: the low bit of the first
// correction of each element (d = x1 − x0 − a) is uncorrelated with the low bit of a.
func TestGilboaViewIndependent(t *testing.T) {
	const n = 4000 // one batch at the default ChunkOTs
	var rec [2][][]byte
	res := pair(t, Options{}, &rec, func(g *Generator) ([]uint64, error) {
		a, _, _, err := g.Triple(n)
		return a, err
	})
	// P1's second received message is P0's corrections (the first is the extension message).
	d := rec[1][1]
	if len(d) != packedLen(n*gilboaBits) {
		t.Fatalf("unexpected message of %d bytes", len(d))
	}
	x, y := make([]float64, n), make([]float64, n)
	for e := 0; e < n; e++ {
		off := e * gilboaBits
		x[e] = float64(d[off/8] >> (off % 8) & 1)
		y[e] = float64(res[0][e] & 1)
	}
	if r := corr(x, y); math.Abs(r) > 5/math.Sqrt(n) {
		t.Fatalf("the receiver's corrections correlate with the sender's a (r = %.4f)", r)
	}
}
