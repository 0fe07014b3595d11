#version 450
// Matmul for GPUs: the same product and epilogue as matmul.comp (see there), computed by
// workgroups that stage 64x64 output tiles' operands through shared memory, so that each A
// and W element is read from device memory once per tile instead of once per thread.
//
// Plain path: 256 invocations, each accumulating a 4x4 block in fp32 from fp32 copies in
// shared memory. COOPMAT (VK_NV_cooperative_matrix, fp16 storage only): 4 subgroups of 32,
// each multiplying a 32x32 quarter of the tile with 16x16x16 fp16 matrices into fp32
// accumulators; the tile goes through shared memory once more for the epilogue.
// Out-of-range rows, columns and K are staged as zeros, so any shape works.
#ifdef COOPMAT
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#endif
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "activation.glsl"

const uint BM = 64, BN = 64;
#ifdef COOPMAT
const uint LOCAL = 128, BK = 32;
const uint SA = BK + 8;     // fp16 row stride: 80 bytes keeps 16-byte alignment, spreads banks
const uint SC = BN + 4;     // fp32 row stride of the epilogue tile
#else
const uint LOCAL = 256, BK = 16;
const uint SA = BM + 1;     // [k][m] rows padded against bank conflicts on the staging stores
#endif
layout(local_size_x = LOCAL) in;

layout(std430, binding = 0) readonly buffer A { STYPE a[]; };
layout(std430, binding = 1) readonly buffer W { STYPE w[]; };
layout(std430, binding = 2) readonly buffer Bias { STYPE bias[]; };
layout(std430, binding = 3) buffer O { STYPE o[]; };

layout(push_constant) uniform Push {
    uint M, N, K;
    uint a_off, a_ld, a_bs;
    uint w_off, w_sn, w_sk, w_bs;
    uint o_off, o_ld, o_bs;
    uint has_bias;
    float alpha;
    uint accumulate;
    float eps;      // matvec.comp's norm prologue; unused here
} pc;

#ifdef COOPMAT
shared float16_t sh_a[BM * SA];   // [m][k]
shared float16_t sh_w[BN * SA];   // [n][k]
shared float sh_c[BM * SC];       // [m][n]
#else
shared float sh_a[BK * SA];       // [k][m]
shared float sh_w[BK * SA];       // [k][n]
#endif

void store_out(uint b, uint m, uint n, float v)
{
    if (m >= pc.M || n >= pc.N)
        return;
    uint idx = pc.o_off + b * pc.o_bs + m * pc.o_ld + n;
    float r = ar_activate(pc.alpha * v + (pc.has_bias != 0 ? float(bias[n]) : 0.0));
    if (pc.accumulate != 0)
        r += float(o[idx]);
    o[idx] = STYPE(r);
}

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    const uint b = gl_WorkGroupID.z;
    const uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
    const uint a_base = pc.a_off + b * pc.a_bs, w_base = pc.w_off + b * pc.w_bs;
    // Staging: element e of a BM x BK (or BN x BK) slab is row e / BK, k e % BK, so that
    // neighbouring invocations read neighbouring k (coalesced for K-contiguous operands).
    const uint STAGE = BM * BK / LOCAL;

#ifdef COOPMAT
    const uint sg = tid / 32;                       // the C side requires subgroups of 32
    const uint wm = (sg / 2) * 32, wn = (sg % 2) * 32;
    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> acc[2][2];
    for (uint i = 0; i < 2; i++)
        for (uint j = 0; j < 2; j++)
            acc[i][j] = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);

    for (uint k0 = 0; k0 < pc.K; k0 += BK) {
        for (uint r = 0; r < STAGE; r++) {
            uint e = tid + r * LOCAL, row = e / BK, kk = e % BK, k = k0 + kk;
            uint m = m0 + row, n = n0 + row;
            sh_a[row * SA + kk] = float16_t(m < pc.M && k < pc.K ? float(a[a_base + m * pc.a_ld + k]) : 0.0);
            sh_w[row * SA + kk] = float16_t(n < pc.N && k < pc.K
                ? float(w[w_base + n * pc.w_sn + k * pc.w_sk]) : 0.0);
        }
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
    for (uint r = 0; r < BM * BN / LOCAL; r++) {
        uint e = tid + r * LOCAL, row = e / BN, col = e % BN;
        store_out(b, m0 + row, n0 + col, sh_c[row * SC + col]);
    }
#else
    const uint tx = tid % 16, ty = tid / 16;
    float acc[16];
    for (uint t = 0; t < 16; t++)
        acc[t] = 0.0;

    for (uint k0 = 0; k0 < pc.K; k0 += BK) {
        for (uint r = 0; r < STAGE; r++) {
            uint e = tid + r * LOCAL, row = e / BK, kk = e % BK, k = k0 + kk;
            uint m = m0 + row, n = n0 + row;
            sh_a[kk * SA + row] = m < pc.M && k < pc.K ? float(a[a_base + m * pc.a_ld + k]) : 0.0;
            sh_w[kk * SA + row] = n < pc.N && k < pc.K ? float(w[w_base + n * pc.w_sn + k * pc.w_sk]) : 0.0;
        }
        barrier();
        for (uint kk = 0; kk < BK; kk++) {
            float av[4], wv[4];
            for (uint i = 0; i < 4; i++)
                av[i] = sh_a[kk * SA + ty + 16 * i];
            for (uint j = 0; j < 4; j++)
                wv[j] = sh_w[kk * SA + tx + 16 * j];
            for (uint i = 0; i < 4; i++)
                for (uint j = 0; j < 4; j++)
                    acc[i * 4 + j] = fma(av[i], wv[j], acc[i * 4 + j]);
        }
        barrier();
    }
    // Rows ty + 16 i, columns tx + 16 j: neighbouring invocations store neighbouring columns.
    for (uint i = 0; i < 4; i++)
        for (uint j = 0; j < 4; j++)
            store_out(b, m0 + ty + 16 * i, n0 + tx + 16 * j, acc[i * 4 + j]);
#endif
}
