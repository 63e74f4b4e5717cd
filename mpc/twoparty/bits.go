package twoparty

import "encoding/binary"

// bitWriter packs values of given widths (≤ 64 bits) little-endian into bytes.
type bitWriter struct {
	buf []byte
	acc uint64
	n   uint
}

func (w *bitWriter) write(v uint64, width uint) {
	if width < 64 {
		v &= 1<<width - 1
	}
	w.acc |= v << w.n
	if w.n+width >= 64 {
		w.buf = binary.LittleEndian.AppendUint64(w.buf, w.acc)
		w.acc = v >> (64 - w.n) // the bits of v not yet written (0 when w.n = 0)
		w.n = w.n + width - 64
		return
	}
	w.n += width
}

// bytes flushes and returns the packed bytes.
func (w *bitWriter) bytes() []byte {
	for i := uint(0); i < w.n; i += 8 {
		w.buf = append(w.buf, byte(w.acc>>i))
	}
	w.acc, w.n = 0, 0
	return w.buf
}

// bitReader unpacks what bitWriter packed. Reading past the end yields zero bits (callers check
// the total length beforehand).
type bitReader struct {
	buf []byte
	pos uint // bit position
}

func (r *bitReader) read(width uint) uint64 {
	var v uint64
	for got := uint(0); got < width; {
		byteI := r.pos >> 3
		if int(byteI) >= len(r.buf) {
			return v
		}
		off := r.pos & 7
		take := min(8-off, width-got)
		b := uint64(r.buf[byteI]>>off) & (1<<take - 1)
		v |= b << got
		got += take
		r.pos += take
	}
	return v
}

// packedLen is the byte length of values of the given widths.
func packedLen(bits int) int { return (bits + 7) / 8 }
