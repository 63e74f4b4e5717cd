//go:build amd64 && !purego

#include "textflag.h"

// The kernels multiply in Z_2^64 with AVX2, which has no 64×64-bit multiply. Writing
// a = a0 + 2^32·a1 and b = b0 + 2^32·b1 (32-bit halves),
//
//	a·b mod 2^64 = a0·b0 + 2^32·(a0·b1 + a1·b0) mod 2^64,
//
// so only the low 32 bits of the cross sum matter. VPMULUDQ gives a0·b0 in full for four
// 64-bit lanes. VPMULLD of a against b with its halves swapped, swap(b) = b1 + 2^32·b0, gives
// a0·b1 and a1·b0 mod 2^32 in the two 32-bit halves of each lane. Each output vector keeps
// two accumulators: lo (VPADDQ of the a0·b0 products) and x (VPADDD of the cross products,
// two independent 32-bit sums per lane). At the end
//
//	c = lo + ((x.low + x.high) mod 2^32)·2^32 = lo + (x << 32) + ((x >> 32) << 32),
//
// which COMBINE computes. That is 2 multiplies and 2 adds per 4 multiply-adds.

// COMBINE folds the cross accumulator x into lo, using t and u as scratch.
#define COMBINE(lo, x, t, u) \
	VPSLLQ $32, x, t; \
	VPSRLQ $32, x, u; \
	VPSLLQ $32, u, u; \
	VPADDQ t, lo, lo; \
	VPADDQ u, lo, lo

// MAC6 processes one row of the 6×4 tile for one k step: Y12 = b, Y13 = swap(b), and the
// row's a element is broadcast from mem.
#define MAC6(mem, lo, x) \
	VPBROADCASTQ mem, Y14; \
	VPMULUDQ     Y12, Y14, Y15; \
	VPADDQ       Y15, lo, lo; \
	VPMULLD      Y13, Y14, Y15; \
	VPADDD       Y15, x, x

// func kern6x4(kc int, a *uint64, lda int, b, c *uint64, ldc int, acc int)
//
// kern6x4 computes the 6×4 tile c[r][j] (row stride ldc elements) as
// (acc != 0 ? c[r][j] : 0) + Σ_p a[r·lda+p]·b[8p+j] for p < kc: a is read in place (six rows,
// row stride lda elements) and b is a packed panel that holds, for each p, the four b values
// followed by their half-swapped copies.
TEXT ·kern6x4(SB), NOSPLIT, $0-56
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ lda+16(FP), R8
	SHLQ $3, R8
	LEAQ (AX)(R8*2), R10
	ADDQ R8, R10 // row 3 of a
	MOVQ b+24(FP), BX
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R9
	SHLQ $3, R9
	LEAQ (DX)(R9*2), R11 // row 2 of c
	LEAQ (R11)(R9*2), R12 // row 4 of c
	MOVQ acc+48(FP), R13

	VPXOR Y1, Y1, Y1
	VPXOR Y3, Y3, Y3
	VPXOR Y5, Y5, Y5
	VPXOR Y7, Y7, Y7
	VPXOR Y9, Y9, Y9
	VPXOR Y11, Y11, Y11
	TESTQ R13, R13
	JZ    zero6
	VMOVDQU (DX), Y0
	VMOVDQU (DX)(R9*1), Y2
	VMOVDQU (R11), Y4
	VMOVDQU (R11)(R9*1), Y6
	VMOVDQU (R12), Y8
	VMOVDQU (R12)(R9*1), Y10
	JMP     start6

zero6:
	VPXOR Y0, Y0, Y0
	VPXOR Y2, Y2, Y2
	VPXOR Y4, Y4, Y4
	VPXOR Y6, Y6, Y6
	VPXOR Y8, Y8, Y8
	VPXOR Y10, Y10, Y10

start6:
	TESTQ CX, CX
	JZ    done6

loop6:
	VMOVDQU (BX), Y12
	VMOVDQU 32(BX), Y13
	MAC6((AX), Y0, Y1)
	MAC6((AX)(R8*1), Y2, Y3)
	MAC6((AX)(R8*2), Y4, Y5)
	MAC6((R10), Y6, Y7)
	MAC6((R10)(R8*1), Y8, Y9)
	MAC6((R10)(R8*2), Y10, Y11)
	ADDQ $8, AX
	ADDQ $8, R10
	ADDQ $64, BX
	DECQ CX
	JNZ  loop6

done6:
	COMBINE(Y0, Y1, Y12, Y13)
	COMBINE(Y2, Y3, Y14, Y15)
	COMBINE(Y4, Y5, Y12, Y13)
	COMBINE(Y6, Y7, Y14, Y15)
	COMBINE(Y8, Y9, Y12, Y13)
	COMBINE(Y10, Y11, Y14, Y15)
	VMOVDQU Y0, (DX)
	VMOVDQU Y2, (DX)(R9*1)
	VMOVDQU Y4, (R11)
	VMOVDQU Y6, (R11)(R9*1)
	VMOVDQU Y8, (R12)
	VMOVDQU Y10, (R12)(R9*1)
	VZEROUPPER
	RET

// MACR processes one 4-column vector of a row strip: Y8 = a broadcast, Y9 = swap(a)
// broadcast, b loaded from off(BX).
#define MACR(off, lo, x) \
	VMOVDQU  off(BX), Y10; \
	VPMULUDQ Y10, Y8, Y11; \
	VPADDQ   Y11, lo, lo; \
	VPMULLD  Y10, Y9, Y11; \
	VPADDD   Y11, x, x

// func kernRow16(k int, a, b *uint64, ldb int, c *uint64, acc int)
//
// kernRow16 sets c[j] = (acc != 0 ? c[j] : 0) + Σ_p a[2p]·b[p·ldb+j] for j < 16 and p < k,
// where a holds, for each p, the row element followed by its half-swapped copy, and ldb is
// b's row stride in elements.
TEXT ·kernRow16(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ ldb+24(FP), R8
	SHLQ $3, R8
	MOVQ c+32(FP), DX
	MOVQ acc+40(FP), R9
	VPXOR Y1, Y1, Y1
	VPXOR Y3, Y3, Y3
	VPXOR Y5, Y5, Y5
	VPXOR Y7, Y7, Y7
	TESTQ R9, R9
	JZ    zeroR16
	VMOVDQU (DX), Y0
	VMOVDQU 32(DX), Y2
	VMOVDQU 64(DX), Y4
	VMOVDQU 96(DX), Y6
	JMP     startR16

zeroR16:
	VPXOR Y0, Y0, Y0
	VPXOR Y2, Y2, Y2
	VPXOR Y4, Y4, Y4
	VPXOR Y6, Y6, Y6

startR16:
	TESTQ CX, CX
	JZ    doneR16

loopR16:
	VPBROADCASTQ (AX), Y8
	VPBROADCASTQ 8(AX), Y9
	MACR(0, Y0, Y1)
	MACR(32, Y2, Y3)
	MACR(64, Y4, Y5)
	MACR(96, Y6, Y7)
	ADDQ $16, AX
	ADDQ R8, BX
	DECQ CX
	JNZ  loopR16

doneR16:
	COMBINE(Y0, Y1, Y8, Y9)
	COMBINE(Y2, Y3, Y10, Y11)
	COMBINE(Y4, Y5, Y8, Y9)
	COMBINE(Y6, Y7, Y10, Y11)
	VMOVDQU Y0, (DX)
	VMOVDQU Y2, 32(DX)
	VMOVDQU Y4, 64(DX)
	VMOVDQU Y6, 96(DX)
	VZEROUPPER
	RET

// func kernRow4(k int, a, b *uint64, ldb int, c *uint64, acc int)
//
// kernRow4 is kernRow16 for 4 columns.
TEXT ·kernRow4(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ ldb+24(FP), R8
	SHLQ $3, R8
	MOVQ c+32(FP), DX
	MOVQ acc+40(FP), R9
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	TESTQ R9, R9
	JZ    startR4
	VMOVDQU (DX), Y0

startR4:
	TESTQ CX, CX
	JZ    doneR4

loopR4:
	VPBROADCASTQ (AX), Y8
	VPBROADCASTQ 8(AX), Y9
	MACR(0, Y0, Y1)
	ADDQ $16, AX
	ADDQ R8, BX
	DECQ CX
	JNZ  loopR4

doneR4:
	COMBINE(Y0, Y1, Y8, Y9)
	VMOVDQU Y0, (DX)
	VZEROUPPER
	RET

// MACD processes one row of b for four k values at offset SI: Y8 = a[p:p+4],
// Y9 = swap(a[p:p+4]).
#define MACD(row, lo, x) \
	VMOVDQU  (row)(SI*1), Y10; \
	VPMULUDQ Y10, Y8, Y11; \
	VPADDQ   Y11, lo, lo; \
	VPMULLD  Y10, Y9, Y11; \
	VPADDD   Y11, x, x

// func kernDot4(k4 int, a, as, b *uint64, ldb int, out *uint64)
//
// kernDot4 sets out[r] = Σ_p a[p]·b[r·ldb+p] for r < 4 and p < 4·k4, where as holds the
// half-swapped copies of a[:4·k4] and ldb is b's row stride in elements.
TEXT ·kernDot4(SB), NOSPLIT, $0-48
	MOVQ k4+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ as+16(FP), DI
	MOVQ b+24(FP), R10
	MOVQ ldb+32(FP), R8
	SHLQ $3, R8
	MOVQ out+40(FP), DX
	LEAQ (R10)(R8*1), R11
	LEAQ (R11)(R8*1), R12
	LEAQ (R12)(R8*1), R13
	XORQ SI, SI
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	TESTQ CX, CX
	JZ    doneD4

loopD4:
	VMOVDQU (AX)(SI*1), Y8
	VMOVDQU (DI)(SI*1), Y9
	MACD(R10, Y0, Y1)
	MACD(R11, Y2, Y3)
	MACD(R12, Y4, Y5)
	MACD(R13, Y6, Y7)
	ADDQ $32, SI
	DECQ CX
	JNZ  loopD4

doneD4:
	COMBINE(Y0, Y1, Y8, Y9)
	COMBINE(Y2, Y3, Y10, Y11)
	COMBINE(Y4, Y5, Y8, Y9)
	COMBINE(Y6, Y7, Y10, Y11)

	// Horizontal sums: out = (Σ Y0, Σ Y2, Σ Y4, Σ Y6).
	VPUNPCKLQDQ Y2, Y0, Y8  // (Y0[0], Y2[0], Y0[2], Y2[2])
	VPUNPCKHQDQ Y2, Y0, Y9  // (Y0[1], Y2[1], Y0[3], Y2[3])
	VPADDQ      Y9, Y8, Y8
	VPUNPCKLQDQ Y6, Y4, Y10
	VPUNPCKHQDQ Y6, Y4, Y11
	VPADDQ      Y11, Y10, Y10
	VPERM2I128  $0x20, Y10, Y8, Y0
	VPERM2I128  $0x31, Y10, Y8, Y1
	VPADDQ      Y1, Y0, Y0
	VMOVDQU     Y0, (DX)
	VZEROUPPER
	RET

// func packNN(dst, b *uint64, ldb, kc, np int)
//
// packNN packs np panels of 4 columns and kc rows of the row-major b (row stride ldb
// elements) for kern6x4: panel q starts at dst[q·8·kc], and its k step s is the 8 values
// b[s][4q..4q+3] and their half-swapped copies. It reads 8 rows at a time, panel by panel,
// so that both the reads and the writes stay sequential.
TEXT ·packNN(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ b+8(FP), SI
	MOVQ ldb+16(FP), R8
	SHLQ $3, R8
	MOVQ kc+24(FP), CX
	MOVQ np+32(FP), DX
	MOVQ CX, R9
	SHLQ $6, R9 // panel stride in bytes
	XORQ R10, R10 // s0

rowsP:
	CMPQ R10, CX
	JGE  doneP
	MOVQ CX, R11
	SUBQ R10, R11
	CMPQ R11, $8
	JLE  haveRowsP
	MOVQ $8, R11

haveRowsP:
	// R12: source of row s0, column 0; R13: destination of panel 0, step s0.
	MOVQ  R10, R12
	IMULQ R8, R12
	ADDQ  SI, R12
	MOVQ  R10, R13
	SHLQ  $6, R13
	ADDQ  DI, R13
	MOVQ  DX, R14 // panels left

panelP:
	TESTQ R14, R14
	JZ    nextRowsP
	MOVQ  R12, AX
	MOVQ  R13, BX
	MOVQ  R11, R15

stepP:
	VMOVDQU (AX), Y0
	VPSHUFD $0xb1, Y0, Y1
	VMOVDQU Y0, (BX)
	VMOVDQU Y1, 32(BX)
	ADDQ    R8, AX
	ADDQ    $64, BX
	DECQ    R15
	JNZ     stepP
	ADDQ    $32, R12
	ADDQ    R9, R13
	DECQ    R14
	JMP     panelP

nextRowsP:
	ADDQ R11, R10
	JMP  rowsP

doneP:
	VZEROUPPER
	RET
