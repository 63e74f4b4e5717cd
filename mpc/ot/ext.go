package ot

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
)

// Sender is the sending side of one direction of SoftSpoken OT extension: it holds Δ and, per
// block of k bits of Δ, the 2^k − 1 seeds other than the one at those bits. Not safe for
// concurrent use.
type Sender struct {
	k, nb   int
	delta   Block
	alpha   []int             // Δ's k-bit piece per block
	streams [][]cipher.Stream // [block][x]; nil at x == alpha[block]
	hash    *Hasher
	count   uint64
}

// Receiver is the receiving side: it holds all 2^k seeds of every block. Not safe for
// concurrent use.
type Receiver struct {
	k, nb   int
	streams [][]cipher.Stream
	hash    *Hasher
	count   uint64
}

// scratch holds reusable stream buffers.
type scratch struct{ zero, buf []byte }

func (s *scratch) words(st cipher.Stream, dst []uint64) {
	n := 8 * len(dst)
	if len(s.zero) < n {
		s.zero, s.buf = make([]byte, n), make([]byte, n)
	}
	st.XORKeyStream(s.buf[:n], s.zero[:n])
	getWords(dst, s.buf)
}

// ValidK reports whether k is a supported SoftSpoken parameter (it must divide 128).
func ValidK(k int) bool { return k == 1 || k == 2 || k == 4 || k == 8 }

// Setup runs the base OTs of both directions of a session and returns this party's Sender
// (for the direction in which it sends) and Receiver. Both parties call it at once with the
// same k. party (0 or 1) fixes the hash tweaks: the direction in which P0 sends is tagged 0.
// Cost: 128 base OTs each way (3 flows, about 15 KiB each way) and 2^(k+1)·128/k AES key
// schedules.
func Setup(c Conn, party, k int) (*Sender, *Receiver, error) {
	if !ValidK(k) {
		return nil, nil, fmt.Errorf("ot: SoftSpoken k = %d (want 1, 2, 4 or 8)", k)
	}
	if party != 0 && party != 1 {
		return nil, nil, fmt.Errorf("ot: party %d is not 0 or 1", party)
	}
	nb := 128 / k
	// Receiver role: a GGM tree per block; base-OT pairs are the level sums.
	trees := make([][][]Block, nb)
	pairs := make([][2][16]byte, 0, 128)
	for i := range trees {
		var root [16]byte
		if _, err := rand.Read(root[:]); err != nil {
			return nil, nil, fmt.Errorf("ot: drawing a seed: %w", err)
		}
		trees[i] = ggmTree(BlockFrom(root[:]), k)
		for l := 1; l <= k; l++ {
			var sum [2]Block
			for x, v := range trees[i][l] {
				sum[x&1] = sum[x&1].Xor(v)
			}
			var p [2][16]byte
			sum[0].PutBytes(p[0][:])
			sum[1].PutBytes(p[1][:])
			pairs = append(pairs, p)
		}
	}
	// Sender role: Δ and the choices 1 − α_l (the sibling side at each level).
	s := &Sender{k: k, nb: nb, alpha: make([]int, nb), hash: NewHasher(uint64(party))}
	var d [16]byte
	if _, err := rand.Read(d[:]); err != nil {
		return nil, nil, fmt.Errorf("ot: drawing Δ: %w", err)
	}
	s.delta = BlockFrom(d[:])
	choices := make([]int, 0, 128)
	for i := 0; i < nb; i++ {
		a := 0
		for j := 0; j < k; j++ {
			a |= int(s.delta.Bit(i*k+j)) << j
		}
		s.alpha[i] = a
		for l := 1; l <= k; l++ {
			choices = append(choices, 1-(a>>(k-l))&1)
		}
	}
	got, err := BaseOTs(c, pairs, choices)
	if err != nil {
		return nil, nil, err
	}
	r := &Receiver{k: k, nb: nb, hash: NewHasher(uint64(1 - party)), streams: make([][]cipher.Stream, nb)}
	for i := range trees {
		r.streams[i] = make([]cipher.Stream, 1<<k)
		for x, v := range trees[i][k] {
			r.streams[i][x] = leafStream(v)
		}
	}
	s.streams = make([][]cipher.Stream, nb)
	for i := 0; i < nb; i++ {
		sums := make([]Block, k+1)
		for l := 1; l <= k; l++ {
			sums[l] = BlockFrom(got[i*k+l-1][:])
		}
		leaves := puncturedLeaves(sums, s.alpha[i], k)
		s.streams[i] = make([]cipher.Stream, 1<<k)
		for x, v := range leaves {
			if x != s.alpha[i] {
				s.streams[i][x] = leafStream(v)
			}
		}
	}
	return s, r, nil
}

// prf returns AES_key(0) and AES_key(1): the GGM expansion of a node.
func prf(key Block) (l, r Block) {
	var k, b [16]byte
	key.PutBytes(k[:])
	c, err := aes.NewCipher(k[:])
	if err != nil {
		panic("ot: AES rejected a 16-byte key") // unreachable
	}
	c.Encrypt(b[:], b[:]) // AES_key(0)
	l = BlockFrom(b[:])
	clear(b[:])
	b[0] = 1
	c.Encrypt(b[:], b[:])
	return l, BlockFrom(b[:])
}

// ggmTree expands root into levels 0..k; node x of level l has children 2x and 2x+1.
func ggmTree(root Block, k int) [][]Block {
	t := make([][]Block, k+1)
	t[0] = []Block{root}
	for l := 1; l <= k; l++ {
		t[l] = make([]Block, 1<<l)
		for x, v := range t[l-1] {
			t[l][2*x], t[l][2*x+1] = prf(v)
		}
	}
	return t
}

// puncturedLeaves rebuilds every leaf except the one at alpha from the sums (sums[l] is the XOR
// of the level-l nodes on the side opposite to alpha's path). The leaf at alpha is left zero.
func puncturedLeaves(sums []Block, alpha, k int) []Block {
	cur := []Block{{}} // level 0: the root is unknown (on alpha's path)
	for l := 1; l <= k; l++ {
		next := make([]Block, 1<<l)
		p := alpha >> (k - l + 1) // alpha's node at level l-1
		for x, v := range cur {
			if x != p {
				next[2*x], next[2*x+1] = prf(v)
			}
		}
		b := (alpha >> (k - l)) & 1
		sib := 2*p + 1 - b
		v := sums[l]
		for x := 1 - b; x < len(next); x += 2 {
			if x != sib {
				v = v.Xor(next[x])
			}
		}
		next[sib] = v
		cur = next
	}
	return cur
}

func leafStream(seed Block) cipher.Stream {
	var k [16]byte
	seed.PutBytes(k[:])
	c, err := aes.NewCipher(k[:])
	if err != nil {
		panic("ot: AES rejected a 16-byte key") // unreachable
	}
	var iv [16]byte
	return cipher.NewCTR(c, iv[:])
}

// K is the SoftSpoken parameter.
func (r *Receiver) K() int { return r.k }

// MsgLen is the length in bytes of the receiver's message for m OTs: (128/k − 1)·m/8.
func (r *Receiver) MsgLen(m int) int { return (r.nb - 1) * m / 8 }

// MsgLen is the length in bytes of the receiver's message for m OTs.
func (s *Sender) MsgLen(m int) int { return (s.nb - 1) * m / 8 }

// Count is the number of OTs extended so far (the tweak of the next one).
func (r *Receiver) Count() uint64 { return r.count }

// Count is the number of OTs extended so far.
func (s *Sender) Count() uint64 { return s.count }

// Delta is the sender's correlation Δ.
func (s *Sender) Delta() Block { return s.delta }

// Hasher is the hash of this direction.
func (s *Sender) Hasher() *Hasher { return s.hash }

// Hasher is the hash of this direction.
func (r *Receiver) Hasher() *Hasher { return r.hash }

// Extend produces m more OTs (m a positive multiple of 64): random choice bits (bit j of
// choice[j/64]), the receiver's blocks t_j, the tweak of the first OT, and the message for the
// sender, of MsgLen(m) bytes. Cost: 2^k·(128/k)·m stream bits and about (k/2 + 1)·2^k·m/64·128/k
// word XORs.
func (r *Receiver) Extend(m int) (choice []uint64, t []Block, first uint64, msg []byte, err error) {
	if m <= 0 || m%64 != 0 {
		return nil, nil, 0, nil, fmt.Errorf("ot: extending %d OTs (want a positive multiple of 64)", m)
	}
	w := m / 64
	var rows [128][]uint64
	us := make([][]uint64, r.nb)
	eachBlock(r.nb, m, func(i int, sc *scratch) {
		rx := make([]uint64, w)
		u := make([]uint64, w)
		for j := 0; j < r.k; j++ {
			rows[i*r.k+j] = make([]uint64, w)
		}
		for x, st := range r.streams[i] {
			sc.words(st, rx)
			xorInto(u, rx)
			for j := 0; j < r.k; j++ {
				if x>>j&1 == 1 {
					xorInto(rows[i*r.k+j], rx)
				}
			}
		}
		us[i] = u
	})
	msg = make([]byte, 0, r.MsgLen(m))
	for i := 1; i < r.nb; i++ {
		xorInto(us[i], us[0])
		msg = putWords(msg, us[i])
	}
	first = r.count
	r.count += uint64(m)
	return us[0], transpose128(&rows, m), first, msg, nil
}

// Extend consumes the receiver's message for m OTs and returns q_j = t_j ⊕ b_j·Δ and the tweak
// of the first OT. A message of the wrong length is an error.
func (s *Sender) Extend(m int, msg []byte) (q []Block, first uint64, err error) {
	if m <= 0 || m%64 != 0 {
		return nil, 0, fmt.Errorf("ot: extending %d OTs (want a positive multiple of 64)", m)
	}
	if len(msg) != s.MsgLen(m) {
		return nil, 0, fmt.Errorf("ot: extension message of %d bytes, want %d", len(msg), s.MsgLen(m))
	}
	w := m / 64
	var rows [128][]uint64
	eachBlock(s.nb, m, func(i int, sc *scratch) {
		rx := make([]uint64, w)
		a := s.alpha[i]
		for j := 0; j < s.k; j++ {
			rows[i*s.k+j] = make([]uint64, w)
		}
		for x, st := range s.streams[i] {
			if x == a {
				continue
			}
			sc.words(st, rx)
			d := x ^ a
			for j := 0; j < s.k; j++ {
				if d>>j&1 == 1 {
					xorInto(rows[i*s.k+j], rx)
				}
			}
		}
		if i == 0 {
			return
		}
		getWords(rx, msg[8*w*(i-1):])
		for j := 0; j < s.k; j++ {
			if a>>j&1 == 1 {
				xorInto(rows[i*s.k+j], rx)
			}
		}
	})
	first = s.count
	s.count += uint64(m)
	return transpose128(&rows, m), first, nil
}
