#version 450
// Matmul for GPUs: the same product and epilogue as matmul.comp (see there), computed by
// workgroups that stage 64x64 output tiles' operands through shared memory (tile_gemm.glsl),
// so that each A and W element is read from device memory once per tile instead of once per
// thread. COOPMAT: on NV cooperative matrices (fp16 products, fp32 accumulators).
#ifdef COOPMAT
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#endif
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "activation.glsl"

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

uint g_m0, g_n0, g_a_base, g_w_base;

float tile_a(uint row, uint k)
{
    uint m = g_m0 + row;
    return m < pc.M && k < pc.K ? float(a[g_a_base + m * pc.a_ld + k]) : 0.0;
}

float tile_b(uint row, uint k)
{
    uint n = g_n0 + row;
    return n < pc.N && k < pc.K ? float(w[g_w_base + n * pc.w_sn + k * pc.w_sk]) : 0.0;
}

void tile_store(uint m, uint n, float v)
{
    if (m >= pc.M || n >= pc.N)
        return;
    uint idx = pc.o_off + gl_WorkGroupID.z * pc.o_bs + m * pc.o_ld + n;
    float r = ar_activate(pc.alpha * v + (pc.has_bias != 0 ? float(bias[n]) : 0.0));
    if (pc.accumulate != 0)
        r += float(o[idx]);
    o[idx] = STYPE(r);
}

#include "tile_gemm.glsl"
layout(local_size_x = TILE_LOCAL) in;

void main()
{
    const uint b = gl_WorkGroupID.z;
    g_m0 = gl_WorkGroupID.y * BM;
    g_n0 = gl_WorkGroupID.x * BN;
    g_a_base = pc.a_off + b * pc.a_bs;
    g_w_base = pc.w_off + b * pc.w_bs;
    tile_gemm(g_m0, g_n0, pc.K);
}
