//go:build amd64 && !purego

#include "textflag.h"

// EXPAND derives the next AES-128 round key in X0 from the current one (X1 and X2 are
// scratch) and stores it at off(BX): k' = k ⊕ (k << 32) ⊕ (k << 64) ⊕ (k << 96) ⊕ broadcast of
// the last word of AESKEYGENASSIST(k, rcon).
#define EXPAND(rcon, off) \
	AESKEYGENASSIST $rcon, X0, X1; \
	PSHUFD $0xff, X1, X1; \
	MOVO X0, X2; \
	PSLLO $4, X2; \
	PXOR X2, X0; \
	PSLLO $4, X2; \
	PXOR X2, X0; \
	PSLLO $4, X2; \
	PXOR X2, X0; \
	PXOR X1, X0; \
	MOVOU X0, off(BX)

// func expandKeyAsm(key *byte, xk *uint32)
TEXT ·expandKeyAsm(SB), NOSPLIT, $0-16
	MOVQ key+0(FP), AX
	MOVQ xk+8(FP), BX
	MOVOU (AX), X0
	MOVOU X0, (BX)
	EXPAND(0x01, 16)
	EXPAND(0x02, 32)
	EXPAND(0x04, 48)
	EXPAND(0x08, 64)
	EXPAND(0x10, 80)
	EXPAND(0x20, 96)
	EXPAND(0x40, 112)
	EXPAND(0x80, 128)
	EXPAND(0x1b, 144)
	EXPAND(0x36, 160)
	RET

// ROUND8 applies the AES round with the key at off(AX) to X0–X7 (X8 is scratch).
#define ROUND8(off) \
	MOVOU off(AX), X8; \
	AESENC X8, X0; \
	AESENC X8, X1; \
	AESENC X8, X2; \
	AESENC X8, X3; \
	AESENC X8, X4; \
	AESENC X8, X5; \
	AESENC X8, X6; \
	AESENC X8, X7

// FEED XORs the input block at off(DI) into r and stores the result there.
#define FEED(off, r) \
	MOVOU off(DI), X8; \
	PXOR X8, r; \
	MOVOU r, off(DI)

// func mmoAsm(xk *uint32, buf *block, n int)
TEXT ·mmoAsm(SB), NOSPLIT, $0-24
	MOVQ xk+0(FP), AX
	MOVQ buf+8(FP), DI
	MOVQ n+16(FP), CX
	MOVOU (AX), X9

loop8:
	CMPQ CX, $8
	JB   loop1
	MOVOU 0(DI), X0
	MOVOU 16(DI), X1
	MOVOU 32(DI), X2
	MOVOU 48(DI), X3
	MOVOU 64(DI), X4
	MOVOU 80(DI), X5
	MOVOU 96(DI), X6
	MOVOU 112(DI), X7
	PXOR X9, X0
	PXOR X9, X1
	PXOR X9, X2
	PXOR X9, X3
	PXOR X9, X4
	PXOR X9, X5
	PXOR X9, X6
	PXOR X9, X7
	ROUND8(16)
	ROUND8(32)
	ROUND8(48)
	ROUND8(64)
	ROUND8(80)
	ROUND8(96)
	ROUND8(112)
	ROUND8(128)
	ROUND8(144)
	MOVOU 160(AX), X8
	AESENCLAST X8, X0
	AESENCLAST X8, X1
	AESENCLAST X8, X2
	AESENCLAST X8, X3
	AESENCLAST X8, X4
	AESENCLAST X8, X5
	AESENCLAST X8, X6
	AESENCLAST X8, X7
	FEED(0, X0)
	FEED(16, X1)
	FEED(32, X2)
	FEED(48, X3)
	FEED(64, X4)
	FEED(80, X5)
	FEED(96, X6)
	FEED(112, X7)
	ADDQ $128, DI
	SUBQ $8, CX
	JMP  loop8

loop1:
	TESTQ CX, CX
	JZ    done
	MOVOU (DI), X0
	PXOR  X9, X0
	MOVOU 16(AX), X8
	AESENC X8, X0
	MOVOU 32(AX), X8
	AESENC X8, X0
	MOVOU 48(AX), X8
	AESENC X8, X0
	MOVOU 64(AX), X8
	AESENC X8, X0
	MOVOU 80(AX), X8
	AESENC X8, X0
	MOVOU 96(AX), X8
	AESENC X8, X0
	MOVOU 112(AX), X8
	AESENC X8, X0
	MOVOU 128(AX), X8
	AESENC X8, X0
	MOVOU 144(AX), X8
	AESENC X8, X0
	MOVOU 160(AX), X8
	AESENCLAST X8, X0
	FEED(0, X0)
	ADDQ $16, DI
	DECQ CX
	JMP  loop1

done:
	RET
