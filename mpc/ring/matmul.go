package ring

import (
	"fmt"
	"math/bits"
	"os"
	"runtime"
	"sync"
	"unsafe"
)

// useSIMD selects the assembly kernels (AVX2 on amd64). It is on when the CPU has them,
// unless the environment variable MPC_RING_NOASM is set to anything but "" or "0", which
// forces the portable Go path, e.g. to test it or to compare the two. Both paths give
// bit-identical results.
var directK = 64

var useSIMD = hasSIMD && !noASMEnv()

func noASMEnv() bool {
	v := os.Getenv("MPC_RING_NOASM")
	return v != "" && v != "0"
}

// Blocking parameters.
const (
	tileM = 6 // rows of the SIMD register tile (kern6x4)
	tileN = 4 // columns of the SIMD register tile: one ymm of uint64

	blockK = 256  // depth of a packed block: a kern6x4 b panel is blockK·64 B (L1)
	blockM = 96   // rows of a packed a block, blockM·blockK·8 B (L2); multiple of tileM
	blockN = 1024 // columns of a packed b block; multiple of tileN

	// directRows is the largest row count of a that skips packing: the SIMD path then
	// streams b once per row (matrix-vector style) instead of copying it.
	directRows = 3
	strip      = 16 // columns of kernRow16
	directKc   = 64

	portableK = 256 // depth of a block in the portable path

	// parMinMACs is the smallest product (in multiply-adds) that is split across
	// goroutines; smaller ones run on the calling goroutine.
	parMinMACs = 1 << 17
)

// product is one matrix product c = a·b or c = a·bᵀ with checked shapes.
type product struct {
	c, a, b []uint64
	m, k, n int
	bT      bool // b is n×k and the product is a·bᵀ
}

// matMul checks the shapes and computes the product, in parallel when it is large.
func matMul(name string, c, a, b []uint64, m, k, n int, bT bool) {
	if m < 0 || k < 0 || n < 0 {
		panic(fmt.Sprintf("ring: %s: negative shape m=%d k=%d n=%d", name, m, k, n))
	}
	if len(a) < m*k || len(b) < k*n || len(c) < m*n {
		panic(fmt.Sprintf("ring: %s: m=%d k=%d n=%d needs len(a) ≥ %d, len(b) ≥ %d, len(c) ≥ %d; have %d, %d, %d",
			name, m, k, n, m*k, k*n, m*n, len(a), len(b), len(c)))
	}
	c = c[:m*n]
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		clear(c)
		return
	}
	p := &product{c: c, a: a[:m*k], b: b[:k*n], m: m, k: k, n: n, bT: bT}
	p.run(useSIMD, runtime.GOMAXPROCS(0))
}

// run computes p with at most workers goroutines, each owning a band of rows or columns
// of c, on the SIMD kernels if simd is set.
func (p *product) run(simd bool, workers int) {
	var work func(i0, i1, j0, j1 int)
	unit := tileN
	switch {
	case !simd && p.bT:
		work = p.portableNT
	case !simd:
		work = p.portableNN
	case p.m <= directRows && p.bT:
		work = p.directNT
	case p.m <= directRows:
		work, unit = p.directNN, strip
	default:
		work = p.packed
	}
	if float64(p.m)*float64(p.k)*float64(p.n) < parMinMACs {
		workers = 1
	}
	// Split columns when each worker then repacks the smaller operand (a), rows otherwise.
	total, splitCols := p.n, p.m <= directRows || p.n >= p.m
	if !splitCols {
		total, unit = p.m, tileM
	}
	chunks := (total + unit - 1) / unit
	workers = max(1, min(workers, chunks))
	if workers == 1 {
		work(0, p.m, 0, p.n)
		return
	}
	var wg sync.WaitGroup
	for w := workers - 1; w >= 0; w-- {
		lo := min(w*chunks/workers*unit, total)
		hi := min((w+1)*chunks/workers*unit, total)
		f := func() {
			if splitCols {
				work(0, p.m, lo, hi)
			} else {
				work(lo, hi, 0, p.n)
			}
		}
		if w == 0 {
			f()
		} else {
			wg.Go(f)
		}
	}
	wg.Wait()
}

// swap32 exchanges the 32-bit halves of v: the kernels multiply a by swap32(b) with 32-bit
// lanes to get both cross products a_lo·b_hi and a_hi·b_lo.
func swap32(v uint64) uint64 { return bits.RotateLeft64(v, 32) }

var scratchPool = sync.Pool{New: func() any { return new([]uint64) }}

// aligned returns n elements of *buf, grown as needed, starting on a 64-byte boundary.
func aligned(buf *[]uint64, n int) []uint64 {
	if cap(*buf) < n+8 {
		*buf = make([]uint64, n+8)
	}
	s := (*buf)[:n+8]
	off := int((64 - uintptr(unsafe.Pointer(&s[0]))%64) % 64 / 8)
	return s[off : off+n]
}

func roundUp(x, to int) int { return (x + to - 1) / to * to }

// packed computes the block c[i0:i1, j0:j1] with kern6x4 on packed operands: for each
// blockN×blockK block of b, packed into panels of tileN columns (each k step holding the
// four values and their swap32 copies), and each blockM×blockK block of a, packed into
// panels of tileM rows, every tileM×tileN tile of c is one kern6x4 call.
func (p *product) packed(i0, i1, j0, j1 int) {
	bufA := scratchPool.Get().(*[]uint64)
	bufB := scratchPool.Get().(*[]uint64)
	defer scratchPool.Put(bufA)
	defer scratchPool.Put(bufB)
	kcMax := min(blockK, p.k)
	ap := aligned(bufA, roundUp(min(blockM, i1-i0), tileM)*kcMax)
	bp := aligned(bufB, roundUp(min(blockN, j1-j0), tileN)*kcMax*2)
	var tile [tileM * tileN]uint64
	n := p.n
	for jc := j0; jc < j1; jc += blockN {
		nc := min(blockN, j1-jc)
		for pc := 0; pc < p.k; pc += blockK {
			kc := min(blockK, p.k-pc)
			p.packB(bp, pc, kc, jc, nc)
			acc := 0
			if pc > 0 {
				acc = 1
			}
			for ic := i0; ic < i1; ic += blockM {
				mc := min(blockM, i1-ic)
				p.packA(ap, ic, mc, pc, kc)
				for jr := 0; jr < nc; jr += tileN {
					bPanel := &bp[jr*kc*2]
					nn := min(tileN, nc-jr)
					for ir := 0; ir < mc; ir += tileM {
						aPanel := &ap[ir*kc]
						ci := (ic+ir)*n + jc + jr
						mm := min(tileM, mc-ir)
						if mm == tileM && nn == tileN {
							kern6x4(kc, aPanel, bPanel, &p.c[ci], n, acc)
							continue
						}
						kern6x4(kc, aPanel, bPanel, &tile[0], tileN, 0)
						for r := range mm {
							row := p.c[ci+r*n : ci+r*n+nn]
							t := tile[r*tileN : r*tileN+nn]
							if acc == 0 {
								copy(row, t)
							} else {
								for j, v := range t {
									row[j] += v
								}
							}
						}
					}
				}
			}
		}
	}
}

// packB packs columns jc..jc+nc of rows pc..pc+kc of b (of bᵀ when p.bT) into dst: panel q
// holds columns jc+4q..jc+4q+3, and its k step s is the 8 values
// b[s][0..3], swap32(b[s][0..3]), zero beyond column jc+nc.
func (p *product) packB(dst []uint64, pc, kc, jc, nc int) {
	for jr := 0; jr < nc; jr += tileN {
		d := dst[jr*kc*2 : (jr+tileN)*kc*2]
		nn := min(tileN, nc-jr)
		j := jc + jr
		switch {
		case p.bT:
			for r := range tileN {
				if r >= nn {
					for s := range kc {
						d[s*8+r], d[s*8+4+r] = 0, 0
					}
					continue
				}
				src := p.b[(j+r)*p.k+pc : (j+r)*p.k+pc+kc]
				for s, v := range src {
					d[s*8+r], d[s*8+4+r] = v, swap32(v)
				}
			}
		case nn == tileN:
			off := pc*p.n + j
			for s := range kc {
				src := p.b[off : off+4 : off+4]
				e := d[s*8 : s*8+8 : s*8+8]
				e[0], e[1], e[2], e[3] = src[0], src[1], src[2], src[3]
				e[4], e[5], e[6], e[7] = swap32(src[0]), swap32(src[1]), swap32(src[2]), swap32(src[3])
				off += p.n
			}
		default:
			off := pc*p.n + j
			for s := range kc {
				e := d[s*8 : s*8+8 : s*8+8]
				clear(e)
				for r, v := range p.b[off : off+nn] {
					e[r], e[4+r] = v, swap32(v)
				}
				off += p.n
			}
		}
	}
}

// packA packs rows ic..ic+mc of columns pc..pc+kc of a into dst: panel q holds rows
// ic+6q..ic+6q+5, and its k step s is the 6 values a[r][s], zero beyond row ic+mc.
func (p *product) packA(dst []uint64, ic, mc, pc, kc int) {
	for ir := 0; ir < mc; ir += tileM {
		d := dst[ir*kc : (ir+tileM)*kc]
		for r := range tileM {
			if ir+r >= mc {
				for s := range kc {
					d[s*tileM+r] = 0
				}
				continue
			}
			i := ic + ir + r
			for s, v := range p.a[i*p.k+pc : i*p.k+pc+kc] {
				d[s*tileM+r] = v
			}
		}
	}
}

// directNN computes c[i0:i1, j0:j1] = a·b without packing b: for each block of
// directK rows of b (kept in L2 across the rows of a), kernRow16 and kernRow4 stream strips
// of its columns; the last n mod 4 columns are plain Go.
func (p *product) directNN(i0, i1, j0, j1 int) {
	buf := scratchPool.Get().(*[]uint64)
	defer scratchPool.Put(buf)
	k, n := p.k, p.n
	ap := aligned(buf, 2*k*(i1-i0))
	for i := i0; i < i1; i++ {
		d := ap[2*k*(i-i0) : 2*k*(i-i0+1)]
		for s, v := range p.a[i*k : i*k+k] {
			d[2*s], d[2*s+1] = v, swap32(v)
		}
	}
	j4 := j1 - (j1-j0)%tileN
	for pc := 0; pc < k; pc += directK {
		kc := min(directK, k-pc)
		acc := 0
		if pc > 0 {
			acc = 1
		}
		for i := i0; i < i1; i++ {
			ai := &ap[2*k*(i-i0)+2*pc]
			ci := p.c[i*n : i*n+n]
			j := j0
			for ; j+strip <= j4; j += strip {
				kernRow16(kc, ai, &p.b[pc*n+j], n, &ci[j], acc)
			}
			for ; j < j4; j += tileN {
				kernRow4(kc, ai, &p.b[pc*n+j], n, &ci[j], acc)
			}
		}
	}
	for i := i0; i < i1; i++ {
		ar := p.a[i*k : i*k+k]
		for j := j4; j < j1; j++ {
			var sum uint64
			for s, v := range ar {
				sum += v * p.b[s*n+j]
			}
			p.c[i*n+j] = sum
		}
	}
}

// directNT computes c[i0:i1, j0:j1] = a·bᵀ as dot products of rows of a with rows of b,
// four rows of b per kernDot4 call; the k mod 4 last terms and the last rows are plain Go.
func (p *product) directNT(i0, i1, j0, j1 int) {
	k, n := p.k, p.n
	k4 := k &^ 3
	buf := scratchPool.Get().(*[]uint64)
	defer scratchPool.Put(buf)
	as := aligned(buf, k4)
	var out [4]uint64
	for i := i0; i < i1; i++ {
		ar := p.a[i*k : i*k+k]
		for s, v := range ar[:k4] {
			as[s] = swap32(v)
		}
		ci := p.c[i*n : i*n+n]
		j := j0
		for ; j+4 <= j1 && k4 > 0; j += 4 {
			kernDot4(k4/4, &ar[0], &as[0], &p.b[j*k], k, &out[0])
			for r := range 4 {
				ci[j+r] = out[r] + dot(ar[k4:], p.b[(j+r)*k+k4:(j+r+1)*k])
			}
		}
		for ; j < j1; j++ {
			ci[j] = dot(ar, p.b[j*k:j*k+k])
		}
	}
}

// dot returns Σ x[i]·y[i] mod 2^64 over len(x) terms; y must be at least as long.
func dot(x, y []uint64) uint64 {
	y = y[:len(x)]
	var s0, s1, s2, s3 uint64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return s0 + s1 + s2 + s3
}

// portableNN computes c[i0:i1, j0:j1] = a·b in plain Go: blocks of portableK along k, 4×4
// register tiles reading a and b in place.
func (p *product) portableNN(i0, i1, j0, j1 int) {
	k, n := p.k, p.n
	for pc := 0; pc < k; pc += portableK {
		kc := min(portableK, k-pc)
		acc := pc > 0
		j := j0
		for ; j+4 <= j1; j += 4 {
			i := i0
			for ; i+4 <= i1; i += 4 {
				nnTile4x4(p.c[i*n+j:], n, p.a[i*k+pc:], k, p.b[pc*n+j:], n, kc, acc)
			}
			for ; i < i1; i++ {
				nnTile1x4(p.c[i*n+j:], p.a[i*k+pc:i*k+pc+kc], p.b[pc*n+j:], n, acc)
			}
		}
		for ; j < j1; j++ {
			for i := i0; i < i1; i++ {
				var sum uint64
				off := pc*n + j
				for _, v := range p.a[i*k+pc : i*k+pc+kc] {
					sum += v * p.b[off]
					off += n
				}
				if acc {
					sum += p.c[i*n+j]
				}
				p.c[i*n+j] = sum
			}
		}
	}
}

// nnTile4x4 sets (or, with acc, adds to) the 4×4 tile of c with row stride ldc the product
// of 4 rows of a (stride lda, kc columns) and kc rows of b (stride ldb, 4 columns).
func nnTile4x4(c []uint64, ldc int, a []uint64, lda int, b []uint64, ldb int, kc int, acc bool) {
	a0 := a[:kc]
	a1 := a[lda : lda+kc]
	a2 := a[2*lda : 2*lda+kc]
	a3 := a[3*lda : 3*lda+kc]
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 uint64
	off := 0
	for s, x0 := range a0 {
		bs := b[off : off+4 : off+4]
		b0, b1, b2, b3 := bs[0], bs[1], bs[2], bs[3]
		x1, x2, x3 := a1[s], a2[s], a3[s]
		c00 += x0 * b0
		c01 += x0 * b1
		c02 += x0 * b2
		c03 += x0 * b3
		c10 += x1 * b0
		c11 += x1 * b1
		c12 += x1 * b2
		c13 += x1 * b3
		c20 += x2 * b0
		c21 += x2 * b1
		c22 += x2 * b2
		c23 += x2 * b3
		c30 += x3 * b0
		c31 += x3 * b1
		c32 += x3 * b2
		c33 += x3 * b3
		off += ldb
	}
	store4(c[:4:4], acc, c00, c01, c02, c03)
	store4(c[ldc:ldc+4:ldc+4], acc, c10, c11, c12, c13)
	store4(c[2*ldc:2*ldc+4:2*ldc+4], acc, c20, c21, c22, c23)
	store4(c[3*ldc:3*ldc+4:3*ldc+4], acc, c30, c31, c32, c33)
}

// nnTile1x4 is nnTile4x4 for one row of a.
func nnTile1x4(c []uint64, a []uint64, b []uint64, ldb int, acc bool) {
	var c0, c1, c2, c3 uint64
	off := 0
	for _, x := range a {
		bs := b[off : off+4 : off+4]
		c0 += x * bs[0]
		c1 += x * bs[1]
		c2 += x * bs[2]
		c3 += x * bs[3]
		off += ldb
	}
	store4(c[:4:4], acc, c0, c1, c2, c3)
}

func store4(c []uint64, acc bool, v0, v1, v2, v3 uint64) {
	c = c[:4]
	if acc {
		v0 += c[0]
		v1 += c[1]
		v2 += c[2]
		v3 += c[3]
	}
	c[0], c[1], c[2], c[3] = v0, v1, v2, v3
}

// portableNT computes c[i0:i1, j0:j1] = a·bᵀ in plain Go: blocks of portableK along k and
// 4×4 tiles of dot products of rows of a with rows of b.
func (p *product) portableNT(i0, i1, j0, j1 int) {
	k, n := p.k, p.n
	for pc := 0; pc < k; pc += portableK {
		kc := min(portableK, k-pc)
		acc := pc > 0
		i := i0
		for ; i+4 <= i1; i += 4 {
			j := j0
			for ; j+4 <= j1; j += 4 {
				ntTile4x4(p.c[i*n+j:], n, p.a[i*k+pc:], p.b[j*k+pc:], k, kc, acc)
			}
			for ; j < j1; j++ {
				for r := range 4 {
					p.ntOne(i+r, j, pc, kc, acc)
				}
			}
		}
		for ; i < i1; i++ {
			for j := j0; j < j1; j++ {
				p.ntOne(i, j, pc, kc, acc)
			}
		}
	}
}

func (p *product) ntOne(i, j, pc, kc int, acc bool) {
	k := p.k
	s := dot(p.a[i*k+pc:i*k+pc+kc], p.b[j*k+pc:])
	if acc {
		s += p.c[i*p.n+j]
	}
	p.c[i*p.n+j] = s
}

// ntTile4x4 sets (or, with acc, adds to) the 4×4 tile of c with row stride ldc the dot
// products over kc terms of 4 rows of a with 4 rows of b, both with row stride ld.
func ntTile4x4(c []uint64, ldc int, a, b []uint64, ld, kc int, acc bool) {
	a0, a1, a2, a3 := a[:kc], a[ld:ld+kc], a[2*ld:2*ld+kc], a[3*ld:3*ld+kc]
	b0, b1, b2, b3 := b[:kc], b[ld:ld+kc], b[2*ld:2*ld+kc], b[3*ld:3*ld+kc]
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 uint64
	for s, x0 := range a0 {
		x1, x2, x3 := a1[s], a2[s], a3[s]
		y0, y1, y2, y3 := b0[s], b1[s], b2[s], b3[s]
		c00 += x0 * y0
		c01 += x0 * y1
		c02 += x0 * y2
		c03 += x0 * y3
		c10 += x1 * y0
		c11 += x1 * y1
		c12 += x1 * y2
		c13 += x1 * y3
		c20 += x2 * y0
		c21 += x2 * y1
		c22 += x2 * y2
		c23 += x2 * y3
		c30 += x3 * y0
		c31 += x3 * y1
		c32 += x3 * y2
		c33 += x3 * y3
	}
	store4(c[:4:4], acc, c00, c01, c02, c03)
	store4(c[ldc:ldc+4:ldc+4], acc, c10, c11, c12, c13)
	store4(c[2*ldc:2*ldc+4:2*ldc+4], acc, c20, c21, c22, c23)
	store4(c[3*ldc:3*ldc+4:3*ldc+4], acc, c30, c31, c32, c33)
}
