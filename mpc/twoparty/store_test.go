package twoparty

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPrecompute produces material ahead (in memory and sealed on disk), then consumes more
// than was stored: the stored part is used first without messages, the rest generated, and
// every relation holds.
func TestPrecompute(t *testing.T) {
	for _, dir := range []bool{false, true} {
		t.Run(map[bool]string{false: "memory", true: "sealed"}[dir], func(t *testing.T) {
			o := Options{}
			if dir {
				o.StoreDir = t.TempDir()
			}
			type out struct {
				t                  [3][]uint64
				tr                 [3][]uint64
				oh                 [2][]uint64
				sentStored, stored int64
			}
			b := Batch{Triples: 100, ANDs: 10, PrivateANDs: 10, BitPairs: 10, Truncs: map[uint]int{16: 50}, OneHots: map[int]int{8: 3}}
			res := pair(t, o, nil, func(g *Generator) (out, error) {
				var o2 out
				if err := g.Precompute(b); err != nil {
					return o2, err
				}
				o2.stored = g.StoredBytes()
				if dir {
					if fs, _ := filepath.Glob(filepath.Join(o.StoreDir, "material-"+g.store.id+"-*")); len(fs) != 6 {
						return o2, os.ErrNotExist
					}
				}
				before := g.Stats()["triple"].Sent
				a, bb, c, err := g.Triple(60) // served from the store
				if err != nil {
					return o2, err
				}
				o2.sentStored = g.Stats()["triple"].Sent - before
				a2, b2, c2, err := g.Triple(70) // 40 stored, 30 generated
				if err != nil {
					return o2, err
				}
				o2.t = [3][]uint64{append(a, a2...), append(bb, b2...), append(c, c2...)}
				r, hi, msb, err := g.Trunc(60, 16)
				o2.tr = [3][]uint64{r, hi, msb}
				if err != nil {
					return o2, err
				}
				rr, oh, err := g.OneHotPair(4, 8)
				o2.oh = [2][]uint64{rr, oh}
				return o2, err
			})
			if res[0].sentStored != 0 || res[0].stored != b.Bytes() {
				t.Fatalf("stored triples sent %d bytes; stored %d bytes, want %d", res[0].sentStored, res[0].stored, b.Bytes())
			}
			for i := 0; i < 130; i++ {
				a, bb, c := res[0].t[0][i]+res[1].t[0][i], res[0].t[1][i]+res[1].t[1][i], res[0].t[2][i]+res[1].t[2][i]
				if a*bb != c {
					t.Fatalf("triple %d wrong", i)
				}
			}
			for i := 0; i < 60; i++ {
				r := res[0].tr[0][i] + res[1].tr[0][i]
				if res[0].tr[1][i]+res[1].tr[1][i] != r>>16 || res[0].tr[2][i]+res[1].tr[2][i] != r>>63 {
					t.Fatalf("trunc tuple %d wrong", i)
				}
			}
			for i := 0; i < 4; i++ {
				r := int((res[0].oh[0][i] + res[1].oh[0][i]) & 7)
				for j := 0; j < 8; j++ {
					if v := res[0].oh[1][i*8+j] + res[1].oh[1][i*8+j]; (v == 1) != (j == r) || v > 1 {
						t.Fatalf("one-hot row %d wrong", i)
					}
				}
			}
		})
	}
}

// TestSealedStoreTamper checks that a modified sealed batch is refused.
func TestSealedStoreTamper(t *testing.T) {
	s, err := newStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.put("triple", 2, []int{1, 1, 1}, [][]uint64{{1, 2}, {3, 4}, {5, 6}}); err != nil {
		t.Fatal(err)
	}
	f := s.q["triple"][0].file
	b, _ := os.ReadFile(f)
	if len(b) != 48+16 || string(b[:8]) == "\x01\x00\x00\x00\x00\x00\x00\x00" {
		t.Fatal("batch is not sealed")
	}
	b[3] ^= 1
	os.WriteFile(f, b, 0o600)
	if _, _, err := s.take("triple", 1, []int{1, 1, 1}); err == nil {
		t.Fatal("a tampered batch was accepted")
	}
}
