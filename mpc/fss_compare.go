package mpc

import (
	"fmt"
	"slices"
	"unsafe"

	"github.com/privinfer/mpcache/mpc/fss"
	"github.com/privinfer/mpcache/mpc/ring"
)

// Comparison selects how LTZ and LessThan compare (see Config.Comparison).
type Comparison string

const (
	// CompareFSS is function secret sharing: the dealer (P2 in 3pc) deals keys of the sign gate
	// of package fss, a distributed comparison function; the parties open x + r for a random
	// mask r and evaluate their keys locally. Online: 2pc 1 round and 8 bytes per element; 3pc
	// 2 rounds and 16 bytes (P2: 1 round, 16 bytes). Offline: 8·fss.KeyWords(bits) bytes per
	// element to each of P0 and P1 (1528 at the full 64 bits; see Engine.WithCompareBits),
	// plus a 16-byte AES key to P1 per batch of signChunk.
	CompareFSS Comparison = "fss"
	// CompareCircuit is the boolean carry circuit of compare.go: 8 rounds; 2pc 184.125 bytes
	// per element and 104 offline, 3pc 168 bytes at P0 and 104 at P1 and P2.
	CompareCircuit Comparison = "circuit"
)

// signChunk is the most sign-gate keys dealt in one message: it bounds the key memory of
// every party (1.5 KiB per key) whatever the batch size.
const signChunk = 4096

// checkComparison rejects an unknown Config.Comparison, or CompareFSS when the material does
// not deal DCF keys.
func (e *engine) checkComparison() error {
	switch e.cfg.Comparison {
	case "", CompareCircuit:
		return nil
	case CompareFSS:
		if _, ok := e.mat.(DCFMaterial); !ok {
			return fmt.Errorf("mpc: comparison %q needs material that deals DCF keys", CompareFSS)
		}
		return nil
	}
	return fmt.Errorf("mpc: unknown comparison %q (want %q or %q)", e.cfg.Comparison, CompareFSS, CompareCircuit)
}

// dcf returns the material's DCF keys, if LTZ is to use them.
func (e *engine) dcf() (DCFMaterial, bool) {
	if e.cfg.Comparison == CompareCircuit {
		return nil, false
	}
	dm, ok := e.mat.(DCFMaterial)
	return dm, ok
}

// lessFSS is LessThan by the sign gate, its result of the given shape (x.Shape + [len(t)] or
// + [w's columns], or x.Shape for LTZ's single threshold 0): with shares of a dealt mask r
// (Mask), the parties open c = x + r and evaluate their DCF key of each element at c − t_k for
// every threshold t_k, which gives additive shares of MSB(x − t_k) = [x < t_k] directly, and
// apply the public map w (if any) to them locally. One mask, one key and one opened word per
// element serve all of its thresholds.
//
// 2pc: P0 and P1 exchange their shares of c (1 round, 8 bytes per element each). 3pc: P2 deals
// the keys on the 2-out-of-2 split of r between P0 and P1 (P2 does not collude, so it may know
// r); P0 and P1 learn c and reshare the results to replicated form (see openToPairAndReshare):
// 2 rounds.
func (e *engine) lessFSS(dm DCFMaterial, x *Share, t []uint64, w *Tensor, shape []int) (*Share, error) {
	n, bits := x.Len(), e.CompareBits()
	if x.mask != nil && e.ReusesFixed() {
		// x was fixed: D = x − M is public already, so with the mask r = −M the opened value
		// c = x + r is D, and no round is needed. The dealer holds all of M.
		out := &Share{Shape: slices.Clone(shape)}
		var err error
		if e.dealer {
			r := make([]uint64, n)
			for i, m := range x.mask.m {
				r[i] = -m
			}
			err = e.dealSign(dm, r, bits)
		} else {
			out.Own, err = e.evalSign(dm, x.mask.d, t, w, bits)
		}
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	r, err := e.mat.Mask(n)
	if err != nil {
		return nil, err
	}
	if e.proto == TwoPC {
		out := &Share{Shape: slices.Clone(shape)}
		if e.dealer {
			if err := e.dealSign(dm, r, bits); err != nil {
				return nil, err
			}
			return out, nil
		}
		c := make([]uint64, n)
		for i := range c {
			c[i] = x.Own[i] + r[i]
		}
		other := 1 - e.party
		in, err := e.round("ltz", []msg{{other, u64sToBytes(c)}}, []int{other}, []int{8 * n})
		if err != nil {
			return nil, err
		}
		o := bytesToU64s(in[0])
		for i := range c {
			c[i] += o[i]
		}
		out.Own, err = e.evalSign(dm, c, t, w, bits)
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	u := e.zeroShare(n)
	for i := range u {
		u[i] += x.Own[i]
		if e.party != 2 {
			u[i] += r[i]
		}
	}
	// finish cannot fail openToPairAndReshare; on an error it returns nothing, which the peer
	// rejects as a short message, and the error is reported here.
	var ferr error
	out, err := e.openToPairAndReshare("ltz", shape, u, func(c []uint64) []uint64 {
		var y []uint64
		y, ferr = e.evalSign(dm, c, t, w, bits)
		return y
	})
	if err == nil {
		err = ferr
	}
	if err == nil && e.party == 2 {
		err = e.dealSign(dm, r, bits) // after P2's message of the opening round, as P0 and P1 expect
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// dealSign produces the sign-gate keys over bits for the masks r, signChunk at a time: keys
// on ⌊r/2^drop⌋ where the engine drops low bits (WithComparePrecision).
func (e *engine) dealSign(dm DCFMaterial, r []uint64, bits uint) error {
	var hi []uint64
	if e.drop > 0 {
		hi = make([]uint64, min(len(r), signChunk))
	}
	for lo := 0; lo < len(r); lo += signChunk {
		chunk := r[lo:min(lo+signChunk, len(r))]
		if e.drop > 0 {
			h := hi[:len(chunk)]
			for i, ri := range chunk {
				h[i] = ri >> e.drop
			}
			chunk = h
		}
		if _, _, _, err := dm.DCFKeys(len(chunk), bits, chunk); err != nil {
			return err
		}
	}
	return nil
}

// evalSign returns this party's shares of the bits-bit sign of c_i − t_k − r_i for the opened c
// (one per mask) and every threshold t_k, element i's len(t) results contiguous, receiving and
// evaluating the keys signChunk at a time; with a public map w (len(t)×cols), element i's row of
// bits times w instead. Where the engine drops low bits, the points are ⌊(c_i − t_k)/2^drop⌋,
// for keys on ⌊r_i/2^drop⌋ (dealSign).
func (e *engine) evalSign(dm DCFMaterial, c, t []uint64, w *Tensor, bits uint) ([]uint64, error) {
	p := len(t)
	pts := make([]uint64, min(len(c), signChunk)*p)
	// With a map only one chunk of bits is live at a time: the result is the mapped values.
	y, z := make([]uint64, len(c)*p), []uint64(nil)
	if w != nil {
		y, z = make([]uint64, len(pts)), make([]uint64, len(c)*w.Shape[1])
	}
	for lo := 0; lo < len(c); lo += signChunk {
		hi := min(lo+signChunk, len(c))
		key, seeds, cw, err := dm.DCFKeys(hi-lo, bits, nil)
		if err != nil {
			return nil, err
		}
		at := pts[:(hi-lo)*p]
		for i, ci := range c[lo:hi] {
			for k, tk := range t {
				at[i*p+k] = (ci - tk) >> e.drop
			}
		}
		if w == nil {
			fss.EvalSign(e.party, key, bits, at, seeds, cw, y[lo*p:hi*p])
			continue
		}
		q := w.Shape[1]
		fss.EvalSign(e.party, key, bits, at, seeds, cw, y[:len(at)])
		ring.MatMul(z[lo*q:hi*q], y[:len(at)], w.Data, hi-lo, p, q)
	}
	if w != nil {
		return z, nil
	}
	return y, nil
}

// recvBytes receives a message of n bytes of material from party from.
func (e *engine) recvBytes(op string, from, n int) ([]byte, error) {
	b, err := e.recv(from, true)
	if err != nil {
		return nil, fmt.Errorf("mpc: %s: %w", op, err)
	}
	if len(b) != n {
		return nil, fmt.Errorf("mpc: %s: party %d sent %d bytes, want %d", op, from, len(b), n)
	}
	return b, nil
}

// wordBytes returns the little-endian bytes of w, sharing w's memory where the machine is
// little-endian (keys are megabytes: no copy).
func wordBytes(w []uint64) []byte {
	if !littleEndian || len(w) == 0 {
		return u64sToBytes(w)
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), 8*len(w))
}

// asWords returns the little-endian words of b (whose length is a multiple of 8), sharing b's
// memory where the machine is little-endian and b is aligned.
func asWords(b []byte) []uint64 {
	if !littleEndian || len(b) == 0 || uintptr(unsafe.Pointer(&b[0]))%8 != 0 {
		return bytesToU64s(b)
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), len(b)/8)
}
