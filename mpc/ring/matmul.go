package ring

import (
	"fmt"
	"math/bits"
	"os"
	"runtime"
	"sync"
	"unsafe"

	"github.com/privinfer/mpcache/gpu"
)

// Blocking parameters of the kernels. They are variables only so that tests can shrink
// them to reach every block edge with small shapes.
var (
	// SIMD path, packed (kern6x4).
	blockK = 256 // depth of a packed block: a b panel is blockK·64 B (L1)
	blockM = 96  // rows of a per pass over a b block (blockM·blockK·8 B, L2); multiple of tileM
	blockN = 128 // columns of a packed b block (blockN·blockK·16 B, L2); multiple of tileN

	// SIMD path, direct (kernRow16, kernDot4). directRowsNN and directRowsNT are the
	// largest row counts of a for which the SIMD path skips packing and streams b once per
	// row of a instead (matrix-vector style): packing b costs about as much as a product
	// with that many rows.
	directRowsNN = 8
	directRowsNT = 12
	directK      = 8 // rows of b per pass of kernRow16: few enough streams for the prefetchers

	// Portable path.
	portableK      = 128 // rows of b (columns, for a·bᵀ) per block
	portableN      = 256 // columns of b (rows, for a·bᵀ) per block
	portableNTRows = 8   // fewest rows of a for which a·bᵀ transposes blocks of b

	// parMinMACs is the smallest product, in multiply-adds, split across goroutines;
	// smaller ones run on the calling goroutine.
	parMinMACs = 1 << 17
)

// useSIMD selects the assembly kernels (AVX2 on amd64). It is on when the CPU has them,
// unless the environment variable MPC_RING_NOASM is set to anything but "" or "0", which
// forces the portable Go path, e.g. to test it or to compare the two. Both paths give
// bit-identical results.
var useSIMD = hasSIMD && !noASMEnv()

func noASMEnv() bool {
	v := os.Getenv("MPC_RING_NOASM")
	return v != "" && v != "0"
}

const (
	tileM = 6  // rows of the SIMD register tile (kern6x4)
	tileN = 4  // columns of the SIMD register tile: one ymm of uint64
	strip = 16 // columns of kernRow16
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
	p := &product{c: c[:m*n], a: a[:m*k], b: b[:k*n], m: m, k: k, n: n, bT: bT}
	p.compute(useSIMD, runtime.GOMAXPROCS(0))
}

// compute computes p with at most workers goroutines, on the SIMD kernels if simd is set.
func (p *product) compute(simd bool, workers int) {
	switch {
	case p.m == 0 || p.n == 0:
	case p.k == 0:
		clear(p.c)
	default:
		p.run(simd, workers)
	}
}

// batchMatMul computes batch products laid out one after another. Products too small to be
// split across goroutines are instead handed out whole to GOMAXPROCS workers.
// b_h starts at b[h·strideB] (strideB ≥ k·n).
func batchMatMul(name string, c, a, b []uint64, batch, m, k, n, strideB int, bT bool) {
	if batch < 0 || m < 0 || k < 0 || n < 0 {
		panic(fmt.Sprintf("ring: %s: negative shape batch=%d m=%d k=%d n=%d", name, batch, m, k, n))
	}
	if strideB < k*n {
		panic(fmt.Sprintf("ring: %s: stride %d of b is below its matrices' k·n = %d", name, strideB, k*n))
	}
	needB := 0
	if batch > 0 {
		needB = (batch-1)*strideB + k*n
	}
	if len(a) < batch*m*k || len(b) < needB || len(c) < batch*m*n {
		panic(fmt.Sprintf("ring: %s: batch=%d m=%d k=%d n=%d needs len(a) ≥ %d, len(b) ≥ %d, len(c) ≥ %d; have %d, %d, %d",
			name, batch, m, k, n, batch*m*k, needB, batch*m*n, len(a), len(b), len(c)))
	}
	if m == 1 && k == 1 && n == 1 {
		// A batch of scalar products (element-wise products through the matrix-product path,
		// as the engine's products with a fixed operand do): no per-batch dispatch.
		for h := range batch {
			c[h] = a[h] * b[h*strideB]
		}
		return
	}
	one := func(h, workers int) {
		ch, ah, bh := c[h*m*n:(h+1)*m*n], a[h*m*k:(h+1)*m*k], b[h*strideB:h*strideB+k*n]
		if !gpu.MatMul(ch, ah, bh, m, k, n, bT) {
			p := &product{c: ch, a: ah, b: bh, m: m, k: k, n: n, bT: bT}
			p.compute(useSIMD, workers)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), batch)
	if workers <= 1 || float64(m)*float64(k)*float64(n) >= float64(parMinMACs) {
		for h := range batch {
			one(h, runtime.GOMAXPROCS(0))
		}
		return
	}
	var wg sync.WaitGroup
	for w := workers - 1; w >= 0; w-- {
		f := func() {
			for h := w * batch / workers; h < (w+1)*batch/workers; h++ {
				one(h, 1)
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

// run computes p, which has m, k, n > 0, with at most workers goroutines, each owning a
// band of rows or columns of c, on the SIMD kernels if simd is set.
func (p *product) run(simd bool, workers int) {
	var work func(i0, i1, j0, j1 int)
	unit := tileN
	direct := false
	switch {
	case !simd && p.bT:
		work = p.portableNT
	case !simd:
		work = p.portableNN
	case p.bT && p.m <= directRowsNT:
		work, direct = p.directNT, true
	case !p.bT && p.m <= directRowsNN:
		work, unit, direct = p.directNN, strip, true
	default:
		work = p.packed
	}
	if float64(p.m)*float64(p.k)*float64(p.n) < float64(parMinMACs) {
		workers = 1
	}
	// Split the columns of c when each worker then reads all of the smaller operand (a),
	// the rows otherwise.
	total, splitCols := p.n, direct || p.n >= p.m
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

// packed computes the block c[i0:i1, j0:j1] with kern6x4. Each blockN×blockK block of b is
// packed into panels of tileN columns (each k step holding the four values and their
// swap32 copies) that stay in L2; then, blockM rows of a at a time, each tileM×tileN tile of
// c is one kern6x4 call reading six rows of a in place. The last rows of a, if fewer than
// tileM, are copied into a zero-padded buffer first.
func (p *product) packed(i0, i1, j0, j1 int) {
	k, n := p.k, p.n
	kcMax := min(blockK, k)
	nb := roundUp(min(blockN, j1-j0), tileN) * kcMax * 2
	iFull := i1 - (i1-i0)%tileM
	ne := 0
	if iFull < i1 {
		ne = tileM * k
	}
	buf := scratchPool.Get().(*[]uint64)
	defer scratchPool.Put(buf)
	s := aligned(buf, nb+ne)
	bp := s[:nb]
	edge := s[nb:] // the last (i1-i0) mod tileM rows of a, zero-padded to tileM rows
	clear(edge[copy(edge, p.a[iFull*k:i1*k]):])
	var tile [tileM * tileN]uint64
	for jc := j0; jc < j1; jc += blockN {
		nc := min(blockN, j1-jc)
		for pc := 0; pc < k; pc += blockK {
			kc := min(blockK, k-pc)
			p.packB(bp, pc, kc, jc, nc)
			acc := 0
			if pc > 0 {
				acc = 1
			}
			for ic := i0; ic < i1; ic += blockM {
				ie := min(ic+blockM, i1)
				for jr := 0; jr < nc; jr += tileN {
					bPanel := &bp[jr*kc*2]
					nn := min(tileN, nc-jr)
					for i := ic; i < ie; i += tileM {
						ci := i*n + jc + jr
						if i < iFull && nn == tileN {
							kern6x4(kc, &p.a[i*k+pc], k, bPanel, &p.c[ci], n, acc)
							continue
						}
						if i < iFull {
							kern6x4(kc, &p.a[i*k+pc], k, bPanel, &tile[0], tileN, 0)
						} else {
							kern6x4(kc, &edge[pc], k, bPanel, &tile[0], tileN, 0)
						}
						for r := range min(tileM, i1-i) {
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
	const panel = 2 * tileN // values per k step of a panel
	full := nc / tileN
	if !p.bT {
		if full > 0 {
			_ = dst[full*kc*panel-1]
			_ = p.b[(pc+kc-1)*p.n+jc+full*tileN-1]
			packNN(&dst[0], &p.b[pc*p.n+jc], p.n, kc, full)
		}
		if full*tileN < nc {
			d := dst[full*kc*panel : (full+1)*kc*panel]
			for s := range kc {
				off := (pc+s)*p.n + jc
				e := d[s*panel : s*panel+panel : s*panel+panel]
				clear(e)
				for r, v := range p.b[off+full*tileN : off+nc] {
					e[r], e[tileN+r] = v, swap32(v)
				}
			}
		}
		return
	}
	// Column j of bᵀ is row j of b: read four rows of b side by side.
	for jr := 0; jr < nc; jr += tileN {
		d := dst[jr/tileN*kc*panel : (jr/tileN+1)*kc*panel]
		for r := range tileN {
			if jr+r >= nc {
				for s := range kc {
					d[s*panel+r], d[s*panel+tileN+r] = 0, 0
				}
				continue
			}
			j := jc + jr + r
			for s, v := range p.b[j*p.k+pc : j*p.k+pc+kc] {
				d[s*panel+r], d[s*panel+tileN+r] = v, swap32(v)
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

// portableNN computes c[i0:i1, j0:j1] = a·b in plain Go: for each block of portableN
// columns and portableK rows of b (kept in L2), each row of c's block (kept in L1) gets four
// rows of b at a time scaled by the matching elements of a (axpy4), reading b in place.
func (p *product) portableNN(i0, i1, j0, j1 int) {
	for jc := j0; jc < j1; jc += portableN {
		nc := min(portableN, j1-jc)
		for pc := 0; pc < p.k; pc += portableK {
			kc := min(portableK, p.k-pc)
			p.portableBlock(i0, i1, jc, nc, pc, kc, p.b[pc*p.n+jc:], p.n)
		}
	}
}

// portableBlock adds to c[i0:i1, jc:jc+nc] (sets it, if pc is 0) the product of
// a[i0:i1, pc:pc+kc] and the kc×nc block held in blk with row stride ldb.
func (p *product) portableBlock(i0, i1, jc, nc, pc, kc int, blk []uint64, ldb int) {
	k, n := p.k, p.n
	for i := i0; i < i1; i++ {
		ci := p.c[i*n+jc : i*n+jc+nc]
		if pc == 0 {
			clear(ci)
		}
		ai := p.a[i*k+pc : i*k+pc+kc]
		off := 0
		s := 0
		for ; s+4 <= kc; s += 4 {
			axpy4(ci, blk[off:off+nc], blk[off+ldb:off+ldb+nc], blk[off+2*ldb:off+2*ldb+nc], blk[off+3*ldb:off+3*ldb+nc],
				ai[s], ai[s+1], ai[s+2], ai[s+3])
			off += 4 * ldb
		}
		for ; s < kc; s++ {
			x := ai[s]
			for j, v := range blk[off : off+nc] {
				ci[j] += x * v
			}
			off += ldb
		}
	}
}

// axpy4 adds a0·b0 + a1·b1 + a2·b2 + a3·b3 to c; each b is at least as long as c.
func axpy4(c, b0, b1, b2, b3 []uint64, a0, a1, a2, a3 uint64) {
	b0 = b0[:len(c)]
	b1 = b1[:len(c)]
	b2 = b2[:len(c)]
	b3 = b3[:len(c)]
	for j := range c {
		c[j] += a0*b0[j] + a1*b1[j] + a2*b2[j] + a3*b3[j]
	}
}

// portableNT computes c[i0:i1, j0:j1] = a·bᵀ in plain Go. With few rows of a, it takes dot
// products of a row of a with four rows of b at a time; otherwise it transposes each block of
// portableN rows and portableK columns of b and proceeds as portableNN.
func (p *product) portableNT(i0, i1, j0, j1 int) {
	k, n := p.k, p.n
	if i1-i0 < portableNTRows {
		for i := i0; i < i1; i++ {
			ai, ci := p.a[i*k:i*k+k], p.c[i*n:i*n+n]
			j := j0
			for ; j+4 <= j1; j += 4 {
				ci[j], ci[j+1], ci[j+2], ci[j+3] = dot1x4(ai, p.b[j*k:], p.b[(j+1)*k:], p.b[(j+2)*k:], p.b[(j+3)*k:])
			}
			for ; j < j1; j++ {
				ci[j] = dot(ai, p.b[j*k:])
			}
		}
		return
	}
	buf := scratchPool.Get().(*[]uint64)
	defer scratchPool.Put(buf)
	blk := aligned(buf, min(portableK, k)*min(portableN, j1-j0))
	for jc := j0; jc < j1; jc += portableN {
		nc := min(portableN, j1-jc)
		for pc := 0; pc < k; pc += portableK {
			kc := min(portableK, k-pc)
			for j := range nc {
				for s, v := range p.b[(jc+j)*k+pc : (jc+j)*k+pc+kc] {
					blk[s*nc+j] = v
				}
			}
			p.portableBlock(i0, i1, jc, nc, pc, kc, blk, nc)
		}
	}
}

// dot1x4 returns the dot products of a with b0..b3, each at least as long as a.
func dot1x4(a, b0, b1, b2, b3 []uint64) (c0, c1, c2, c3 uint64) {
	b0 = b0[:len(a)]
	b1 = b1[:len(a)]
	b2 = b2[:len(a)]
	b3 = b3[:len(a)]
	for s, x := range a {
		c0 += x * b0[s]
		c1 += x * b1[s]
		c2 += x * b2[s]
		c3 += x * b3[s]
	}
	return
}
