// ring.cu: kernels for arithmetic in Z_2^64 (package gpu).
//
// Every kernel is exact modulo 2^64: it computes the same words as the CPU path in mpc/ring.
// All parameters are 8 bytes wide (pointers and long long) so the Go side can pass them
// as a flat array of uint64 without caring about alignment.
//
// Split k: the matrix products can split the inner dimension over `splits` CTAs (or, for the
// INT8 kernel, work items) whose partial sums are added with 64-bit atomics into a C that the
// host has initialized (atomic != 0); integer addition mod 2^64 is exact in any order, so the
// result is still bit-identical. With atomic == 0 they store C = sum (+ Cin when Cin != 0).
//
// Kernels:
//   ring_ew               c = a op b elementwise (op 0 add, 1 sub, 2 mul, 3 zero)
//   u64_gemm_nn/_nt       tiled 64-bit multiply-add on CUDA cores (strategy "cores")
//   u64_skinny_nn/_nt     the same for few rows (decode), k split over threads
//   split_limbs           u64 -> eight signed 8-bit limb planes (balanced digits)
//   imma_gemm_big/_small  INT8 tensor-core product of limb planes with the 36 limb products
//                         i + j < 8 and the recombination fused (strategy "int8")
//
// Build: gpu/kernels/build.sh (nvcc -ptx for sm_90 and compute_80).

typedef unsigned long long u64;
typedef long long i64;
typedef unsigned int u32;
typedef signed char i8;

// ---------------------------------------------------------------------------------------------
// Elementwise.

extern "C" __global__ void ring_ew(u64* c, const u64* a, const u64* b, i64 n, i64 op)
{
    i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    const i64 stride = (i64)gridDim.x * blockDim.x;
    if (op == 0) {
        for (; i < n; i += stride) c[i] = a[i] + b[i];
    } else if (op == 1) {
        for (; i < n; i += stride) c[i] = a[i] - b[i];
    } else if (op == 2) {
        for (; i < n; i += stride) c[i] = a[i] * b[i];
    } else {
        for (; i < n; i += stride) c[i] = 0;
    }
}

// ---------------------------------------------------------------------------------------------
// Strategy "cores": 64-bit integer multiply-add on CUDA cores.
//
// A CTA of 256 threads computes a 128x128 tile of C; each thread an 8x8 block in registers
// (rows ty*4+{0..3} and 64+ty*4+{0..3}, likewise columns), over k-slices of 8 staged in shared
// memory (double buffered, global loads for the next slice in flight during the current one).

#define CC_BM 128
#define CC_BN 128
#define CC_BK 8

template <bool TRANSB>
__device__ __forceinline__ void u64_gemm_body(u64* C, const u64* Cin, const u64* A, const u64* B,
                                              i64 M, i64 N, i64 K, i64 lda, i64 ldb, i64 ldc,
                                              i64 sA, i64 sB, i64 sC, i64 splits, i64 atomic)
{
    __shared__ __align__(16) u64 As[2][CC_BK][CC_BM];
    __shared__ __align__(16) u64 Bs[2][CC_BK][CC_BN];

    const int tid = threadIdx.x;
    const int tx = tid & 15, ty = tid >> 4;
    const i64 bz = blockIdx.z / splits, sp = blockIdx.z % splits;
    A += bz * sA;
    B += bz * sB;
    C += bz * sC;
    if (Cin) Cin += bz * sC;
    const i64 m0 = (i64)blockIdx.y * CC_BM, n0 = (i64)blockIdx.x * CC_BN;

    u64 ra[4], rb[4];
    // A tile: 128 rows x 8 k; element q of this thread: row tid/8 + 32q, k tid%8.
    const int ar = tid >> 3, ap = tid & 7;
    auto loadA = [&](i64 k0) {
#pragma unroll
        for (int q = 0; q < 4; q++) {
            i64 r = m0 + ar + 32 * q, p = k0 + ap;
            ra[q] = (r < M && p < K) ? A[r * lda + p] : 0ull;
        }
    };
    auto loadB = [&](i64 k0) {
#pragma unroll
        for (int q = 0; q < 4; q++) {
            if (TRANSB) {  // B is N x K: same pattern as A
                i64 c = n0 + ar + 32 * q, p = k0 + ap;
                rb[q] = (c < N && p < K) ? B[c * ldb + p] : 0ull;
            } else {  // B is K x N: 8 k-rows of 128 columns, coalesced along n
                int idx = tid + 256 * q;
                i64 p = k0 + (idx >> 7), c = n0 + (idx & 127);
                rb[q] = (c < N && p < K) ? B[p * ldb + c] : 0ull;
            }
        }
    };
    auto store = [&](int buf) {
#pragma unroll
        for (int q = 0; q < 4; q++) {
            As[buf][ap][ar + 32 * q] = ra[q];
            if (TRANSB) {
                Bs[buf][ap][ar + 32 * q] = rb[q];
            } else {
                int idx = tid + 256 * q;
                Bs[buf][idx >> 7][idx & 127] = rb[q];
            }
        }
    };

    u64 acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; i++)
#pragma unroll
        for (int j = 0; j < 8; j++) acc[i][j] = 0;

    const i64 nkAll = (K + CC_BK - 1) / CC_BK;
    const i64 kt0 = sp * nkAll / splits, nk = (sp + 1) * nkAll / splits;
    loadA(kt0 * CC_BK);
    loadB(kt0 * CC_BK);
    store(0);
    __syncthreads();
    for (i64 kt = kt0; kt < nk; kt++) {
        const int buf = (int)((kt - kt0) & 1);
        if (kt + 1 < nk) {
            loadA((kt + 1) * CC_BK);
            loadB((kt + 1) * CC_BK);
        }
#pragma unroll
        for (int p = 0; p < CC_BK; p++) {
            u64 a[8], b[8];
            const ulonglong2* pa = (const ulonglong2*)&As[buf][p][0];
            const ulonglong2* pb = (const ulonglong2*)&Bs[buf][p][0];
            ulonglong2 v;
            v = pa[ty * 2];          a[0] = v.x; a[1] = v.y;
            v = pa[ty * 2 + 1];      a[2] = v.x; a[3] = v.y;
            v = pa[32 + ty * 2];     a[4] = v.x; a[5] = v.y;
            v = pa[32 + ty * 2 + 1]; a[6] = v.x; a[7] = v.y;
            v = pb[tx * 2];          b[0] = v.x; b[1] = v.y;
            v = pb[tx * 2 + 1];      b[2] = v.x; b[3] = v.y;
            v = pb[32 + tx * 2];     b[4] = v.x; b[5] = v.y;
            v = pb[32 + tx * 2 + 1]; b[6] = v.x; b[7] = v.y;
#pragma unroll
            for (int i = 0; i < 8; i++)
#pragma unroll
                for (int j = 0; j < 8; j++) acc[i][j] += a[i] * b[j];
        }
        if (kt + 1 < nk) store(buf ^ 1);
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < 8; i++) {
        const i64 r = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + i - 4);
        if (r >= M) continue;
#pragma unroll
        for (int j = 0; j < 8; j++) {
            const i64 c = n0 + (j < 4 ? tx * 4 + j : 64 + tx * 4 + j - 4);
            if (c < N) {
                u64 v = acc[i][j];
                if (atomic) {
                    atomicAdd(&C[r * ldc + c], v);
                } else {
                    if (Cin) v += Cin[r * ldc + c];
                    C[r * ldc + c] = v;
                }
            }
        }
    }
}

// C = A*B (+ Cin when Cin != 0): A is M x K (lda), B is K x N (ldb), C is M x N (ldc), all
// row-major; batch z at offsets z*sA, z*sB, z*sC. Grid (ceil(N/128), ceil(M/128),
// batch*splits), block 256.
extern "C" __global__ void __launch_bounds__(256, 1)
u64_gemm_nn(u64* C, const u64* Cin, const u64* A, const u64* B, i64 M, i64 N, i64 K, i64 lda,
            i64 ldb, i64 ldc, i64 sA, i64 sB, i64 sC, i64 splits, i64 atomic)
{
    u64_gemm_body<false>(C, Cin, A, B, M, N, K, lda, ldb, ldc, sA, sB, sC, splits, atomic);
}

// As u64_gemm_nn with B stored N x K (C = A*B^T).
extern "C" __global__ void __launch_bounds__(256, 1)
u64_gemm_nt(u64* C, const u64* Cin, const u64* A, const u64* B, i64 M, i64 N, i64 K, i64 lda,
            i64 ldb, i64 ldc, i64 sA, i64 sB, i64 sC, i64 splits, i64 atomic)
{
    u64_gemm_body<true>(C, Cin, A, B, M, N, K, lda, ldb, ldc, sA, sB, sC, splits, atomic);
}

// Skinny products (M <= 8 rows per grid row), memory-bound on B.
//
// NN: a block of 512 threads covers 8 columns of C: lane l of warp w takes column l%8 and
// k-slice 4w + l/8 (64 slices), so a warp reads 4 rows x 64 bytes of B a step; the partial sums
// are reduced in shared memory and by shuffles. Grid (ceil(N/8), ceil(M/8), batch*splits).
#define SK_ROWS 8
extern "C" __global__ void __launch_bounds__(512)
u64_skinny_nn(u64* C, const u64* Cin, const u64* __restrict__ A, const u64* __restrict__ B, i64 M,
              i64 N, i64 K, i64 lda, i64 ldb, i64 ldc, i64 sA, i64 sB, i64 sC, i64 splits,
              i64 atomic)
{
    __shared__ u64 red[SK_ROWS][64][9];
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int cl = lane & 7, ks = w * 4 + (lane >> 3);
    const i64 bz = blockIdx.z / splits, sp = blockIdx.z % splits;
    const i64 kBeg = sp * K / splits, kEnd = (sp + 1) * K / splits;
    A += bz * sA;
    B += bz * sB;
    C += bz * sC;
    if (Cin) Cin += bz * sC;
    const i64 c0 = (i64)blockIdx.x * 8;
    const i64 r0 = (i64)blockIdx.y * SK_ROWS;
    const int rows = (int)(M - r0 < SK_ROWS ? M - r0 : SK_ROWS);
    u64 acc[SK_ROWS];
#pragma unroll
    for (int r = 0; r < SK_ROWS; r++) acc[r] = 0;
    if (c0 + cl < N) {
        const u64* a = A + r0 * lda;
        const u64* b = B + c0 + cl;
#pragma unroll 4
        for (i64 p = kBeg + ks; p < kEnd; p += 64) {
            const u64 bv = b[p * ldb];
#pragma unroll
            for (int r = 0; r < SK_ROWS; r++)
                if (r < rows) acc[r] += a[r * lda + p] * bv;
        }
    }
#pragma unroll
    for (int r = 0; r < SK_ROWS; r++) red[r][ks][cl] = acc[r];
    __syncthreads();
    // Output o = (row o/8, column o%8) is summed by the 8 lanes 8o..8o+7, 8 slices each.
    const int o = threadIdx.x >> 3, part = threadIdx.x & 7;
    const int r = o >> 3, c = o & 7;
    u64 s = 0;
#pragma unroll
    for (int q = 0; q < 8; q++) s += red[r][part * 8 + q][c];
    s += __shfl_xor_sync(0xffffffffu, s, 1);
    s += __shfl_xor_sync(0xffffffffu, s, 2);
    s += __shfl_xor_sync(0xffffffffu, s, 4);
    if (part == 0 && r < rows && c0 + c < N) {
        const i64 off = (r0 + r) * ldc + c0 + c;
        if (atomic) {
            atomicAdd(&C[off], s);
        } else {
            if (Cin) s += Cin[off];
            C[off] = s;
        }
    }
}

// NT: one warp per column of C, lanes split k (coalesced along B's rows), warp shuffle
// reduction. Block 256 (8 columns), grid (ceil(N/8), ceil(M/8), batch*splits).
extern "C" __global__ void __launch_bounds__(256)
u64_skinny_nt(u64* C, const u64* Cin, const u64* __restrict__ A, const u64* __restrict__ B, i64 M,
              i64 N, i64 K, i64 lda, i64 ldb, i64 ldc, i64 sA, i64 sB, i64 sC, i64 splits,
              i64 atomic)
{
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const i64 bz = blockIdx.z / splits, sp = blockIdx.z % splits;
    const i64 kBeg = sp * K / splits, kEnd = (sp + 1) * K / splits;
    A += bz * sA;
    B += bz * sB;
    C += bz * sC;
    if (Cin) Cin += bz * sC;
    const i64 col = (i64)blockIdx.x * 8 + w;
    if (col >= N) return;
    const i64 r0 = (i64)blockIdx.y * SK_ROWS;
    const int rows = (int)(M - r0 < SK_ROWS ? M - r0 : SK_ROWS);
    u64 acc[SK_ROWS];
#pragma unroll
    for (int r = 0; r < SK_ROWS; r++) acc[r] = 0;
    const u64* a = A + r0 * lda;
    const u64* b = B + col * ldb;
#pragma unroll 4
    for (i64 p = kBeg + lane; p < kEnd; p += 32) {
        const u64 bv = b[p];
#pragma unroll
        for (int r = 0; r < SK_ROWS; r++)
            if (r < rows) acc[r] += a[r * lda + p] * bv;
    }
#pragma unroll
    for (int r = 0; r < SK_ROWS; r++) {
        u64 s = acc[r];
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        acc[r] = s;
    }
    if (lane < rows) {
        u64 s = 0;
#pragma unroll
        for (int r = 0; r < SK_ROWS; r++)
            if (r == lane) s = acc[r];
        const i64 off = (r0 + lane) * ldc + col;
        if (atomic) {
            atomicAdd(&C[off], s);
        } else {
            if (Cin) s += Cin[off];
            C[off] = s;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Strategy "int8": INT8 tensor cores on limb planes.
//
// x = sum_i x_i 2^(8i) mod 2^64 with signed digits x_i in [-128, 127]: the bytes of
// x + 0x8080808080808080 with their top bits flipped. Modulo 2^64,
//   a*b = sum_{s<8} 2^(8s) P_s,  P_s = sum_{i+j=s} a_i b_j   (36 limb products).
// |a_i b_j| <= 2^14, so P_s over a k-chunk is exact in int32 while 8*k*2^14 < 2^31; the host
// splits k into work items of at most 16320 each, whose u64 results are added atomically.
// The epilogue sign-extends each P_s, shifts it by 8s and adds in u64 (wrapping mod 2^64).

// split_limbs writes the limb planes of a rows x cols u64 matrix (row-major, leading dimension
// ld; with trans != 0 the source is cols x rows, i.e. element (r, p) at src[p*ld + r]) as
// dst[l*plane + r*Kp + p] (int8), zero-filled up to the padded size. Grid (Kp/64, Rp/64, batch),
// block 256; batch z reads src + z*sBatch and writes dst + z*dBatch.
extern "C" __global__ void __launch_bounds__(256)
split_limbs(i8* dst, const u64* src, i64 rows, i64 cols, i64 ld, i64 trans, i64 Kp, i64 plane,
            i64 dBatch, i64 sBatch)
{
    __shared__ __align__(16) unsigned char sm[8][64][80];
    const int tid = threadIdx.x;
    const i64 r0 = (i64)blockIdx.y * 64, p0 = (i64)blockIdx.x * 64;
    src += (i64)blockIdx.z * sBatch;
    dst += (i64)blockIdx.z * dBatch;
#pragma unroll 4
    for (int q = 0; q < 16; q++) {
        const int idx = q * 256 + tid;
        int r, p;
        if (trans) {
            p = idx >> 6;
            r = idx & 63;
        } else {
            r = idx >> 6;
            p = idx & 63;
        }
        const i64 gr = r0 + r, gp = p0 + p;
        u64 x = 0;
        if (gr < rows && gp < cols) x = trans ? src[gp * ld + gr] : src[gr * ld + gp];
        const u64 y = (x + 0x8080808080808080ull) ^ 0x8080808080808080ull;
#pragma unroll
        for (int l = 0; l < 8; l++) sm[l][r][p] = (unsigned char)(y >> (8 * l));
    }
    __syncthreads();
#pragma unroll
    for (int q = 0; q < 8; q++) {
        const int idx = q * 256 + tid;
        const int l = idx >> 8, r = (idx >> 2) & 63, c = idx & 3;
        *(uint4*)(dst + l * plane + (r0 + r) * Kp + p0 + c * 16) = *(const uint4*)&sm[l][r][c * 16];
    }
}

__device__ __forceinline__ u32 smem_addr(const void* p)
{
    u32 r;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(r) : "l"(p));
    return r;
}

__device__ __forceinline__ void cp_async16(u32 saddr, const void* g)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(saddr), "l"(g) : "memory");
}

__device__ __forceinline__ void cp_async_commit()
{
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}

template <int N>
__device__ __forceinline__ void cp_async_wait()
{
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldsm_x4(u32 (&r)[4], u32 addr)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr)
                 : "memory");
}

__device__ __forceinline__ void mma_s8(int (&d)[4], const u32 (&a)[4], u32 b0, u32 b1)
{
    asm("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Physical 16-byte chunk of logical chunk c in row r of a tile whose rows are BK bytes: an XOR
// swizzle that makes the 8 row addresses of each ldmatrix phase hit distinct bank groups.
template <int BK>
__device__ __forceinline__ int swz(int r, int c)
{
    return BK == 64 ? (c ^ ((r >> 1) & 3)) : (c ^ ((r >> 2) & 1));
}

// The INT8 product of limb planes, persistent over work items.
//
// A work item is one 64x64 tile of C of one batch entry over one split of the k-blocks; items
// are numbered ((z*splits + split)*tilesM*tilesN + tile), tiles in grouped raster order (runs
// of 8 tile rows share B columns in L2), and CTA b takes items b, b + gridDim.x, ... Its
// STAGES-deep cp.async pipeline runs over the concatenated k-blocks of its items, so the loads
// of the next item are in flight during the current item's last k-blocks and epilogue.
//
// A CTA has 8 warps, 2 along M x 4 along N; each warp computes 32x16 of the tile with 2x2 mma
// tiles of m16n8 for each of the 8 limb sums P_s (128 int32 accumulators a thread). A stage
// holds BK k-bytes of all 8 limb planes of both operands (rows XOR-swizzled). Limb planes: A at
// Al + z*aBatch + l*aPlane + row*ldk + k (rows padded to 64), B likewise (B's rows are C's
// columns); nkb k-blocks of BK bytes in all, each split at most 16320/BK of them.
template <int BK, int STAGES>
__device__ __forceinline__ void imma_body(u64* C, const u64* Cin, i64 ldc, i64 sC, const i8* Al,
                                          i64 aPlane, i64 aBatch, const i8* Bl, i64 bPlane,
                                          i64 bBatch, i64 M, i64 N, i64 ldk, i64 nkb, i64 splits,
                                          i64 atomic, i64 tilesM, i64 tilesN, i64 items)
{
    extern __shared__ __align__(128) unsigned char smem[];
    constexpr int CH = BK / 16;       // 16-byte chunks a row
    constexpr int TILE = 64 * BK;     // bytes of one limb tile
    constexpr int OPB = 8 * TILE;     // bytes of one operand a stage
    constexpr int STAGE = 2 * OPB;    // bytes a stage

    constexpr int TPL = 64 * CH;      // threads copying one limb tile (one 16-byte chunk each)
    constexpr int LPP = 256 / TPL;    // limb tiles a pass of the CTA's 256 threads

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp & 1, wn = warp >> 1;
    // Item indices fit in 32 bits (the host launches fewer than 2^31 items); 32-bit division
    // is much cheaper than 64-bit.
    const int tiles = (int)(tilesM * tilesN), tN = (int)tilesN, tMs = (int)tilesM;
    const int nsplit = (int)splits, nk = (int)nkb;
    const u32 sbase = smem_addr(smem);

    // This thread's cp.async chunk: row r, chunk c of limb tiles l0, l0 + LPP, ...
    const int l0 = tid / TPL, cr = (tid % TPL) / CH, cc = tid % CH;
    const u32 sOff = l0 * TILE + cr * BK + swz<BK>(cr, cc) * 16;
    const i64 gOff = l0 * aPlane + cr * ldk + cc * 16;
    const i64 gOffB = l0 * bPlane + cr * ldk + cc * 16;

    // Item -> batch entry z, tile (tm, tn) in grouped raster order.
    auto tileOf = [&](int item, int& z, int& tm, int& tn) {
        const int t = item % tiles;
        z = item / tiles / nsplit;
        const int width = 8 * tN;
        const int firstM = (t / width) * 8;
        const int gsize = tMs - firstM < 8 ? tMs - firstM : 8;
        tm = firstM + (t % width) % gsize;
        tn = (t % width) / gsize;
    };
    // A cursor walks the k-blocks of this CTA's items; A and B point at the current k-block of
    // this thread's first chunk.
    struct Cursor {
        int item, kb, kbEnd;
        const i8* A;
        const i8* B;
    };
    auto start = [&](Cursor& c, int item) {
        c.item = item;
        if (item >= items) return;
        int z, tm, tn;
        tileOf(item, z, tm, tn);
        const int sp = (item / tiles) % nsplit;
        c.kb = (int)((i64)sp * nk / nsplit);
        c.kbEnd = (int)((i64)(sp + 1) * nk / nsplit);
        c.A = Al + z * aBatch + (i64)tm * 64 * ldk + (i64)c.kb * BK + gOff;
        c.B = Bl + z * bBatch + (i64)tn * 64 * ldk + (i64)c.kb * BK + gOffB;
    };
    auto advance = [&](Cursor& c) {
        if (++c.kb == c.kbEnd) {
            start(c, c.item + (int)gridDim.x);
        } else {
            c.A += BK;
            c.B += BK;
        }
    };
    auto load_stage = [&](int stage, const Cursor& c) {
        const u32 s0 = sbase + stage * STAGE + sOff;
#pragma unroll
        for (int q = 0; q < 8 / LPP; q++) {
            cp_async16(s0 + q * LPP * TILE, c.A + q * LPP * aPlane);
            cp_async16(s0 + OPB + q * LPP * TILE, c.B + q * LPP * bPlane);
        }
    };

    int acc[8][2][2][4];
#pragma unroll
    for (int s = 0; s < 8; s++)
#pragma unroll
        for (int mb = 0; mb < 2; mb++)
#pragma unroll
            for (int nb = 0; nb < 2; nb++)
#pragma unroll
                for (int e = 0; e < 4; e++) acc[s][mb][nb][e] = 0;

    // Per-lane ldmatrix rows within a limb tile (the k-chunk varies with kk).
    const int q = lane >> 3;
    const int brow = wn * 16 + (q >> 1) * 8 + (lane & 7);
    int arow[2];
#pragma unroll
    for (int mb = 0; mb < 2; mb++) arow[mb] = wm * 32 + mb * 16 + (q & 1) * 8 + (lane & 7);

    Cursor ld, cp;
    start(ld, (int)blockIdx.x);
    cp = ld;
#pragma unroll
    for (int s = 0; s < STAGES - 1; s++) {
        if (ld.item < items) {
            load_stage(s, ld);
            advance(ld);
        }
        cp_async_commit();
    }

    int cs = 0, ls = STAGES - 1;
    while (cp.item < items) {
        cp_async_wait<STAGES - 2>();
        __syncthreads();
        if (ld.item < items) {
            load_stage(ls, ld);
            advance(ld);
        }
        cp_async_commit();
        ls = ls + 1 == STAGES ? 0 : ls + 1;

        const u32 sA = sbase + (u32)cs * STAGE;
        const u32 sB = sA + OPB;
        cs = cs + 1 == STAGES ? 0 : cs + 1;
#pragma unroll
        for (int kk = 0; kk < BK / 32; kk++) {
            u32 bf[8][4];
            const u32 boff = brow * BK + swz<BK>(brow, kk * 2 + (q & 1)) * 16;
#pragma unroll
            for (int j = 0; j < 8; j++) ldsm_x4(bf[j], sB + j * TILE + boff);
            u32 aoff[2];
#pragma unroll
            for (int mb = 0; mb < 2; mb++)
                aoff[mb] = arow[mb] * BK + swz<BK>(arow[mb], kk * 2 + (q >> 1)) * 16;
#pragma unroll
            for (int i = 0; i < 8; i++) {
                u32 af[2][4];
#pragma unroll
                for (int mb = 0; mb < 2; mb++) ldsm_x4(af[mb], sA + i * TILE + aoff[mb]);
#pragma unroll
                for (int j = 0; j < 8 - i; j++)
#pragma unroll
                    for (int mb = 0; mb < 2; mb++)
#pragma unroll
                        for (int nb = 0; nb < 2; nb++)
                            mma_s8(acc[i + j][mb][nb], af[mb], bf[j][nb * 2], bf[j][nb * 2 + 1]);
            }
        }

        if (++cp.kb < cp.kbEnd) continue;

        // Epilogue of the item: recombine sum_s 2^(8s) P_s in u64, add Cin or add atomically.
        int z, tm, tn;
        tileOf(cp.item, z, tm, tn);
        u64* Cz = C + z * sC;
        const u64* Ci = Cin ? Cin + z * sC : Cin;
        const int g = lane >> 2, t = lane & 3;
#pragma unroll
        for (int mb = 0; mb < 2; mb++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const i64 row = (i64)tm * 64 + wm * 32 + mb * 16 + h * 8 + g;
#pragma unroll
                for (int nb = 0; nb < 2; nb++) {
                    const i64 col = (i64)tn * 64 + wn * 16 + nb * 8 + 2 * t;
                    u64 v[2] = {0, 0};
#pragma unroll
                    for (int s = 0; s < 8; s++) {
#pragma unroll
                        for (int e = 0; e < 2; e++) {
                            v[e] += (u64)(i64)acc[s][mb][nb][2 * h + e] << (8 * s);
                            acc[s][mb][nb][2 * h + e] = 0;
                        }
                    }
                    if (row >= M) continue;
                    const i64 off = row * ldc + col;
#pragma unroll
                    for (int e = 0; e < 2; e++) {
                        if (col + e >= N) continue;
                        if (atomic) {
                            atomicAdd(&Cz[off + e], v[e]);
                        } else {
                            if (Ci) v[e] += Ci[off + e];
                            Cz[off + e] = v[e];
                        }
                    }
                }
            }
        start(cp, cp.item + (int)gridDim.x);
    }
    cp_async_wait<0>();
}

#define IMMA_PARAMS                                                                              \
    u64 *C, const u64 *Cin, i64 ldc, i64 sC, const i8 *Al, i64 aPlane, i64 aBatch, const i8 *Bl, \
        i64 bPlane, i64 bBatch, i64 M, i64 N, i64 ldk, i64 nkb, i64 splits, i64 atomic,           \
        i64 tilesM, i64 tilesN, i64 items
#define IMMA_ARGS \
    C, Cin, ldc, sC, Al, aPlane, aBatch, Bl, bPlane, bBatch, M, N, ldk, nkb, splits, atomic, tilesM, tilesN, items

// 64 k-bytes a stage, 3 stages: 192 KiB of dynamic shared memory (Hopper). nkb counts 64-byte
// k-blocks. Grid (min(items, SMs)), block 256.
extern "C" __global__ void __launch_bounds__(256, 1) imma_gemm_big(IMMA_PARAMS)
{
    imma_body<64, 3>(IMMA_ARGS);
}

// 32 k-bytes a stage, 3 stages: 96 KiB (Ampere and Ada). nkb counts 32-byte k-blocks.
extern "C" __global__ void __launch_bounds__(256, 1) imma_gemm_small(IMMA_PARAMS)
{
    imma_body<32, 3>(IMMA_ARGS);
}
