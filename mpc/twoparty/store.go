package twoparty

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// Batch lists elementwise material to produce ahead of its use (see Precompute). Matrix
// triples are not batched here: their fixed masks exist only once the session has fixed its
// weights (docs/DEALERFREE.md describes how they are produced ahead).
type Batch struct {
	Triples     int          // elementwise triples
	ANDs        int          // AND-triple words (64 AND triples each)
	PrivateANDs int          // private-AND words
	BitPairs    int          // bit pairs
	Truncs      map[uint]int // truncation tuples per shift
	OneHots     map[int]int  // one-hot rows per length N (a power of two)
}

// Bytes is the memory (or disk) the batch occupies once produced, at one party.
func (b Batch) Bytes() int64 {
	n := 24*int64(b.Triples) + 24*int64(b.ANDs) + 16*int64(b.PrivateANDs) + 16*int64(b.BitPairs)
	for _, c := range b.Truncs {
		n += 24 * int64(c)
	}
	for N, c := range b.OneHots {
		n += 8 * int64(c) * int64(N+1)
	}
	return n
}

// store keeps precomputed material per kind, first in first out, in memory or sealed in files
// (AES-256-GCM under a key drawn from crypto/rand and held only in memory, so the files are
// unreadable once the session ends; nonce = sequence number, additional data = kind and
// sequence number).
type store struct {
	dir   string
	id    string // random file-name prefix: parties (or sessions) may share a directory
	aead  cipher.AEAD
	seq   uint64
	bytes int64
	q     map[string][]*stored
}

// stored is one produced batch of a kind: parts[i] holds n·mult[i] words.
type stored struct {
	n     int
	mult  []int
	parts [][]uint64 // nil while sealed in file
	file  string
	seq   uint64
}

func newStore(dir string) (*store, error) {
	s := &store{dir: dir, q: map[string][]*stored{}}
	if dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("twoparty: store: %w", err)
	}
	key := make([]byte, 40)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("twoparty: store key: %w", err)
	}
	s.id, key = fmt.Sprintf("%x", key[32:]), key[:32]
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	if s.aead, err = cipher.NewGCM(b); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *store) nonce(seq uint64) []byte {
	n := make([]byte, s.aead.NonceSize())
	binary.BigEndian.PutUint64(n[len(n)-8:], seq)
	return n
}

func (s *store) ad(kind string, seq uint64, n int) []byte {
	return fmt.Appendf(nil, "mpcache/twoparty store v1|%s|%d|%d", kind, seq, n)
}

// put appends a batch of n elements of kind.
func (s *store) put(kind string, n int, mult []int, parts [][]uint64) error {
	st := &stored{n: n, mult: mult, parts: parts, seq: s.seq}
	s.seq++
	for _, p := range parts {
		s.bytes += 8 * int64(len(p))
	}
	if s.dir != "" {
		var plain []byte
		for _, p := range parts {
			plain = append(plain, u64sBytes(p)...)
		}
		st.file = filepath.Join(s.dir, fmt.Sprintf("material-%s-%08d.bin", s.id, st.seq))
		sealed := s.aead.Seal(nil, s.nonce(st.seq), plain, s.ad(kind, st.seq, n))
		if err := os.WriteFile(st.file, sealed, 0o600); err != nil {
			return fmt.Errorf("twoparty: store: %w", err)
		}
		st.parts = nil
	}
	s.q[kind] = append(s.q[kind], st)
	return nil
}

// take removes up to n elements of kind from the front and returns them (parts[i] holds
// got·mult[i] words).
func (s *store) take(kind string, n int, mult []int) (parts [][]uint64, got int, err error) {
	parts = make([][]uint64, len(mult))
	for got < n && len(s.q[kind]) > 0 {
		st := s.q[kind][0]
		if st.parts == nil {
			if st.parts, err = s.open(kind, st); err != nil {
				return nil, 0, err
			}
		}
		k := min(n-got, st.n)
		for i, m := range mult {
			parts[i] = append(parts[i], st.parts[i][:k*m]...)
			st.parts[i] = st.parts[i][k*m:]
			s.bytes -= 8 * int64(k*m)
		}
		st.n -= k
		got += k
		if st.n == 0 {
			s.q[kind] = s.q[kind][1:]
		}
	}
	return parts, got, nil
}

// open reads, authenticates and deletes a sealed batch.
func (s *store) open(kind string, st *stored) ([][]uint64, error) {
	sealed, err := os.ReadFile(st.file)
	if err != nil {
		return nil, fmt.Errorf("twoparty: store: %w", err)
	}
	plain, err := s.aead.Open(nil, s.nonce(st.seq), sealed, s.ad(kind, st.seq, st.n))
	if err != nil {
		return nil, fmt.Errorf("twoparty: store: batch %d of %s fails authentication: %w", st.seq, kind, err)
	}
	os.Remove(st.file)
	words := bytesU64s(plain)
	parts := make([][]uint64, len(st.mult))
	for i, m := range st.mult {
		if len(words) < st.n*m {
			return nil, fmt.Errorf("twoparty: store: batch %d of %s is short", st.seq, kind)
		}
		parts[i], words = words[:st.n*m:st.n*m], words[st.n*m:]
	}
	return parts, nil
}

// serve returns n elements of kind: first from precomputed batches, the rest from gen. Both
// parties hold the same batches, so they agree on the split without messages.
func (g *Generator) serve(kind string, n int, mult []int, gen func(n int) ([][]uint64, error)) ([][]uint64, error) {
	parts, got, err := g.store.take(kind, n, mult)
	if err != nil {
		return nil, err
	}
	if got == n {
		return parts, nil
	}
	more, err := gen(n - got)
	if err != nil {
		return nil, err
	}
	if got == 0 {
		return more, nil
	}
	for i := range parts {
		parts[i] = slices.Concat(parts[i], more[i])
	}
	return parts, nil
}

// Precompute produces the batch now and keeps it (sealed on disk when Options.StoreDir is set)
// for later Material calls, which consume it in order before generating anything. Both parties
// call it at the same point with the same batch. It fails when the store would exceed
// Options.StoreBytes.
func (g *Generator) Precompute(b Batch) error {
	if g.o.StoreBytes > 0 && g.store.bytes+b.Bytes() > g.o.StoreBytes {
		return fmt.Errorf("twoparty: precomputing %d bytes exceeds the store budget of %d", b.Bytes(), g.o.StoreBytes)
	}
	put := func(kind string, n int, mult []int, gen func(int) ([][]uint64, error)) error {
		if n <= 0 {
			return nil
		}
		parts, err := gen(n)
		if err != nil {
			return err
		}
		return g.store.put(kind, n, mult, parts)
	}
	if err := put("triple", b.Triples, []int{1, 1, 1}, g.genTriples); err != nil {
		return err
	}
	if err := put("and", b.ANDs, []int{1, 1, 1}, g.genANDs); err != nil {
		return err
	}
	if err := put("private-and", b.PrivateANDs, []int{1, 1}, g.genPrivateANDs); err != nil {
		return err
	}
	if err := put("bitpair", b.BitPairs, []int{1, 1}, g.genBitPairs); err != nil {
		return err
	}
	for _, bits := range sortedKeys(b.Truncs) {
		if err := put(fmt.Sprintf("trunc/%d", bits), b.Truncs[bits], []int{1, 1, 1}, func(n int) ([][]uint64, error) {
			return g.genTruncs(n, bits)
		}); err != nil {
			return err
		}
	}
	for _, N := range sortedKeys(b.OneHots) {
		if err := put(fmt.Sprintf("onehot/%d", N), b.OneHots[N], []int{1, N}, func(n int) ([][]uint64, error) {
			return g.genOneHots(n, N)
		}); err != nil {
			return err
		}
	}
	return nil
}

// StoredBytes is the size of the material held for later use.
func (g *Generator) StoredBytes() int64 { return g.store.bytes }

func sortedKeys[K uint | int](m map[K]int) []K {
	var ks []K
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
