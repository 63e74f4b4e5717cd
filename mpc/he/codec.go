package he

import (
	"fmt"

	"github.com/tuneinsight/lattigo/v6/ring"
)

// polyBytes is the encoded size of a polynomial at the full modulus.
func (p *Params) polyBytes() int {
	n := 0
	for _, b := range p.limbBytes {
		n += b
	}
	return n * p.n
}

// coefBytesR is the encoded size of one coefficient at the response modulus.
func (p *Params) coefBytesR() int { return p.limbBytes[0] + p.limbBytes[1] }

func putUint(dst []byte, v uint64, n int) {
	for i := 0; i < n; i++ {
		dst[i] = byte(v >> (8 * i))
	}
}

func getUint(src []byte, n int) uint64 {
	var v uint64
	for i := 0; i < n; i++ {
		v |= uint64(src[i]) << (8 * i)
	}
	return v
}

// appendPoly appends every limb of a (full modulus), limb after limb.
func (p *Params) appendPoly(dst []byte, a ring.Poly) []byte {
	for i, c := range a.Coeffs {
		w := p.limbBytes[i]
		off := len(dst)
		dst = append(dst, make([]byte, w*len(c))...)
		for j, v := range c {
			putUint(dst[off+w*j:], v, w)
		}
	}
	return dst
}

// readPoly decodes every limb of a from src (exactly polyBytes long), checking each value
// against its modulus.
func (p *Params) readPoly(a ring.Poly, src []byte) error {
	if len(src) != p.polyBytes() {
		return fmt.Errorf("polynomial of %d bytes, want %d", len(src), p.polyBytes())
	}
	off := 0
	for i, c := range a.Coeffs {
		w, q := p.limbBytes[i], p.q[i]
		for j := range c {
			v := getUint(src[off:], w)
			if v >= q {
				return fmt.Errorf("coefficient %d of limb %d is not reduced", j, i)
			}
			c[j] = v
			off += w
		}
	}
	return nil
}

// appendCoefR appends coefficient j of a (response modulus, two limbs).
func (p *Params) appendCoefR(dst []byte, a ring.Poly, j int) []byte {
	for i := 0; i < 2; i++ {
		w := p.limbBytes[i]
		off := len(dst)
		dst = append(dst, make([]byte, w)...)
		putUint(dst[off:], a.Coeffs[i][j], w)
	}
	return dst
}

// readCoefR decodes one response-modulus coefficient from src.
func (p *Params) readCoefR(src []byte) (v [2]uint64, err error) {
	off := 0
	for i := 0; i < 2; i++ {
		v[i] = getUint(src[off:], p.limbBytes[i])
		if v[i] >= p.q[i] {
			return v, fmt.Errorf("coefficient is not reduced")
		}
		off += p.limbBytes[i]
	}
	return v, nil
}
