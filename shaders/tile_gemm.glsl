// The 64x64 (or -DTILE32: 32x32) output tile loop shared by matmul_tile.comp and
// conv2d_tile.comp: operands staged through shared memory, products in fp32 (plain) or on NV
// cooperative matrices (COOPMAT). The including shader defines, before including this file:
//   float tile_a(uint m, uint k), float tile_b(uint n, uint k): operand elements, 0 outside;
//   void tile_store(uint m, uint n, float v): the epilogue (it checks the bounds);
//   and B_N_FAST when neighbouring n (not k) are adjacent in memory for tile_b.
// Then it calls tile_gemm(m0, n0, K) with local size TILE_LOCAL.
#ifndef TILE_GEMM_GLSL
#define TILE_GEMM_GLSL

#if defined(TILE32)
// 32x32 tiles: four times the workgroups, for products whose 64x64 grid leaves most of a
// GPU idle (iris-small's 340-row prefill at N = 256: 24 workgroups).
#if defined(COOPMAT)
#error "the cooperative-matrix tiles are 64x64"
#endif
const uint BM = 32, BN = 32;
#else
const uint BM = 64, BN = 64;
#endif
// Outputs per invocation along each side: 4, or with -DTILE_WIDE (32x32 tiles) 2, so 256
// invocations instead of 64. A 32x32 grid of iris-small's prefill has ~2 workgroups per
// multiprocessor: at 64 invocations each, 4 warps, too few to hide a shared-memory load's
// latency behind another warp's products (H200 profile: ~1.5 us per 16-deep K step).
#if defined(TILE_WIDE)
const uint TO = 2;
#else
const uint TO = 4;
#endif
#ifdef COOPMAT
const uint TILE_LOCAL = 128, BK = 32;
const uint SA = BK + 8;     // fp16 row stride: 80 bytes keeps 16-byte alignment, spreads banks
const uint SC = BN + 4;     // fp32 row stride of the epilogue tile
shared float16_t sh_a[BM * SA];   // [m][k]
shared float16_t sh_w[BN * SA];   // [n][k]
shared float sh_c[BM * SC];       // [m][n]
#else
const uint TILE_LOCAL = (BM / TO) * (BN / TO), BK = 16;   // TO x TO outputs per invocation
const uint SA = BM + 1;     // [k][m] rows padded against bank conflicts on the staging stores
shared float sh_a[BK * SA];       // [k][m]
shared float sh_w[BK * SA];       // [k][n]
#endif

// Element e of a BM x BK slab: row e / BK, k e % BK (neighbouring invocations read
// neighbouring k), or for B_N_FAST row e % BN, k e / BN.
const uint STAGE_PER_INV = BM * BK / TILE_LOCAL;

uint stage_row_a(uint e) { return e / BK; }
uint stage_k_a(uint e) { return e % BK; }
#ifdef B_N_FAST
uint stage_row_b(uint e) { return e % BN; }
uint stage_k_b(uint e) { return e / BN; }
#else
uint stage_row_b(uint e) { return e / BK; }
uint stage_k_b(uint e) { return e % BK; }
#endif

// The shared slabs: [row][k] fp16 for the cooperative-matrix loads, [k][row] fp32 for the
// plain products.
#ifdef COOPMAT
#define SH_AT(row, k) ((row) * SA + (k))
#define SH_TYPE float16_t
#else
#define SH_AT(row, k) ((k) * SA + (row))
#define SH_TYPE float
#endif

// (Fetching the next slab into registers during the products was tried on the plain path:
// matmuls unchanged, 1x1 convolutions 27-39% slower on an H100.)
void tile_stage(uint k0)
{
    const uint tid = gl_LocalInvocationID.x;
    for (uint r = 0; r < STAGE_PER_INV; r++) {
        uint e = tid + r * TILE_LOCAL;
        uint ra = stage_row_a(e), ka = stage_k_a(e), rb = stage_row_b(e), kb = stage_k_b(e);
        sh_a[SH_AT(ra, ka)] = SH_TYPE(tile_a(ra, k0 + ka));
        sh_w[SH_AT(rb, kb)] = SH_TYPE(tile_b(rb, k0 + kb));
    }
}

// tile_a/tile_b get rows relative to the tile (m - m0, n - n0): the includer adds m0/n0,
// which it knows from gl_WorkGroupID.
void tile_gemm(uint m0, uint n0, uint K)
{
    const uint tid = gl_LocalInvocationID.x;
#ifdef COOPMAT
    const uint sg = tid / 32;                       // the C side requires subgroups of 32
    const uint wm = (sg / 2) * 32, wn = (sg % 2) * 32;
    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> acc[2][2];
    for (uint i = 0; i < 2; i++)
        for (uint j = 0; j < 2; j++)
            acc[i][j] = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);
    for (uint k0 = 0; k0 < K; k0 += BK) {
        tile_stage(k0);
        barrier();
        for (uint kk = 0; kk < BK; kk += 16) {
            fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> fa[2], fb[2];
            for (uint i = 0; i < 2; i++)
                coopMatLoadNV(fa[i], sh_a, (wm + 16 * i) * SA + kk, SA, false);
            // B(k, n) = W(n, k): the [n][k] rows read column-major.
            for (uint j = 0; j < 2; j++)
                coopMatLoadNV(fb[j], sh_w, (wn + 16 * j) * SA + kk, SA, true);
            for (uint i = 0; i < 2; i++)
                for (uint j = 0; j < 2; j++)
                    acc[i][j] = coopMatMulAddNV(fa[i], fb[j], acc[i][j]);
        }
        barrier();
    }
    for (uint i = 0; i < 2; i++)
        for (uint j = 0; j < 2; j++)
            coopMatStoreNV(acc[i][j], sh_c, (wm + 16 * i) * SC + wn + 16 * j, SC, false);
    barrier();
    // Neighbouring invocations store neighbouring n.
    for (uint r = 0; r < BM * BN / TILE_LOCAL; r++) {
        uint e = tid + r * TILE_LOCAL, row = e / BN, col = e % BN;
        tile_store(m0 + row, n0 + col, sh_c[row * SC + col]);
    }
#else
    const uint TX = BN / TO, TY = BM / TO;
    const uint tx = tid % TX, ty = tid / TX;
    float acc[TO * TO];
    for (uint t = 0; t < TO * TO; t++)
        acc[t] = 0.0;
    for (uint k0 = 0; k0 < K; k0 += BK) {
        tile_stage(k0);
        barrier();
        for (uint kk = 0; kk < BK; kk++) {
            float av[TO], wv[TO];
            for (uint i = 0; i < TO; i++)
                av[i] = sh_a[kk * SA + ty + TY * i];
            for (uint j = 0; j < TO; j++)
                wv[j] = sh_w[kk * SA + tx + TX * j];
            for (uint i = 0; i < TO; i++)
                for (uint j = 0; j < TO; j++)
                    acc[i * TO + j] = fma(av[i], wv[j], acc[i * TO + j]);
        }
        barrier();
    }
    // Rows ty + TY i, columns tx + TX j: neighbouring invocations store neighbouring n.
    for (uint i = 0; i < TO; i++)
        for (uint j = 0; j < TO; j++)
            tile_store(m0 + ty + TY * i, n0 + tx + TX * j, acc[i * TO + j]);
#endif
}

#endif
