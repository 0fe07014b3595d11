#version 450
// 2-D convolution for GPUs as an implicit GEMM (same semantics and push constants as
// conv2d.comp): out[co, p] = bias[co] + sum_k w[co, k] * col[k, p] with k = (ci, ky, kx) and
// col gathered from the input on the fly (zero padding), never materialised. The 64x64 tiles
// of tile_gemm.glsl: M = Cout, N = Ho * Wo, K = Cin * KH * KW. COOPMAT: NV cooperative
// matrices (fp16 products, fp32 accumulators).
#ifdef COOPMAT
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#endif
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 0) const uint KH = 3;
layout(constant_id = 1) const uint KW = 3;
layout(constant_id = 2) const uint STRIDE = 1;

layout(std430, binding = 0) readonly buffer In { STYPE x[]; };
layout(std430, binding = 1) readonly buffer Wt { STYPE w[]; };
layout(std430, binding = 2) readonly buffer Bias { STYPE bias[]; };
layout(std430, binding = 3) buffer O { STYPE o[]; };   // read too when accumulating

layout(push_constant) uniform Push {
    uint Cin, H, W;
    uint Cout, Ho, Wo;
    int pad_top, pad_left;
    uint tiles_x, n_tiles;   // unused here
    uint has_bias;
    uint accumulate;   // out += the result (a residual add in the epilogue)
} pc;

uint g_m0, g_n0, g_in_base, g_K, g_P;

// Weights [Cout][K]: neighbouring k adjacent.
float tile_a(uint row, uint k)
{
    uint co = g_m0 + row;
    return co < pc.Cout && k < g_K ? float(w[co * g_K + k]) : 0.0;
}

// Neighbouring output pixels read neighbouring input pixels (for stride 1).
#define B_N_FAST
float tile_b(uint row, uint k)
{
    uint p = g_n0 + row;
    if (p >= g_P || k >= g_K)
        return 0.0;
    uint ci = k / (KH * KW), r = k % (KH * KW);
    int iy = int((p / pc.Wo) * STRIDE + r / KW) - pc.pad_top;
    int ix = int((p % pc.Wo) * STRIDE + r % KW) - pc.pad_left;
    if (iy < 0 || ix < 0 || iy >= int(pc.H) || ix >= int(pc.W))
        return 0.0;
    return float(x[g_in_base + (ci * pc.H + uint(iy)) * pc.W + uint(ix)]);
}

void tile_store(uint co, uint p, float v)
{
    if (co >= pc.Cout || p >= g_P)
        return;
    uint idx = (gl_WorkGroupID.z * pc.Cout + co) * g_P + p;
    v += pc.has_bias != 0 ? float(bias[co]) : 0.0;
    if (pc.accumulate != 0)
        v += float(o[idx]);
    o[idx] = STYPE(v);
}

#include "tile_gemm.glsl"
layout(local_size_x = TILE_LOCAL) in;

void main()
{
    g_K = pc.Cin * KH * KW;
    g_P = pc.Ho * pc.Wo;
    g_m0 = gl_WorkGroupID.y * BM;
    g_n0 = gl_WorkGroupID.x * BN;
    g_in_base = gl_WorkGroupID.z * pc.Cin * pc.H * pc.W;
    tile_gemm(g_m0, g_n0, g_K);
}
