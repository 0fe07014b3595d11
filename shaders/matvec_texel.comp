#version 450
// Matrix-vector product for M == 1 on CPU devices: out[b,n] = act(alpha * sum_k a[b,k] *
// W[b,n,k] + bias[n]) (+ out[b,n] when accumulate), with the optional row-norm prologue of
// matvec.comp. Same push constants as matmul.comp; needs K % 4 == 0, K-contiguous W and
// 4-aligned rows.
//
// matvec.comp's CPU flavour reads W from a storage buffer, which lavapipe (Mesa 22.3) turns
// into a loop over the SIMD lanes with a branch per lane and component; a uniform texel
// buffer fetch is straight-line (see matmul_texel.comp). So a, W and the norm's gamma and
// beta are vec4 texels here. Lanes go across outputs, NR per invocation (interleaved across
// the workgroup), every lane fetching the same texel of a, which costs no more than distinct
// ones; or, with K_LANES, across K.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"
#include "activation.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint NR = 8;
// Row-norm prologue: 0 none, 1 LayerNorm, 2 RMSNorm (as matvec.comp).
layout(constant_id = 2) const uint NORM = 0;
// Lanes across K instead of across outputs: a workgroup (one subgroup) owns NR outputs, its
// lanes read consecutive texels of each row (NR streams through memory per workgroup instead
// of NR x lanes), and the partial sums are reduced across the subgroup once at the end. The
// C side takes it from K = 512, where it measured faster; below, the final reductions cost
// more than they save.
layout(constant_id = 3) const bool K_LANES = false;

layout(std430, binding = 2) readonly buffer Bias { STYPE bias[]; };
layout(std430, binding = 3) buffer O { STYPE o[]; };
layout(binding = 8) uniform samplerBuffer a_tex;    // a as vec4s along K
layout(binding = 9) uniform samplerBuffer w_tex;    // W as vec4s along K
layout(binding = 10) uniform samplerBuffer g_tex;   // norm gamma [K]
layout(binding = 11) uniform samplerBuffer nb_tex;  // norm beta [K] (LayerNorm)

layout(push_constant) uniform Push {
    uint M, N, K;
    uint a_off, a_ld, a_bs;
    uint w_off, w_sn, w_sk, w_bs;
    uint o_off, o_ld, o_bs;
    uint has_bias;
    float alpha;
    uint accumulate;
    float eps;
} pc;

void main_k_lanes()
{
    const uint L = gl_WorkGroupSize.x;
    const uint lane = gl_LocalInvocationID.x;
    const uint b = gl_WorkGroupID.z;
    const uint wg = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    const uint n0 = wg * NR;
    if (n0 >= pc.N)
        return;   // the whole workgroup
    const int K4 = int(pc.K / 4);
    const int a_base = int((pc.a_off + b * pc.a_bs) / 4);

    float mean = 0.0, rstd = 1.0;
    if (NORM != 0) {
        if (NORM == 1) {
            vec4 s = vec4(0.0);
            for (int k = int(lane); k < K4; k += int(L))
                s += texelFetch(a_tex, a_base + k);
            mean = subgroupAdd(s.x + s.y + s.z + s.w) / float(pc.K);
        }
        vec4 q = vec4(0.0);
        for (int k = int(lane); k < K4; k += int(L)) {
            vec4 d = texelFetch(a_tex, a_base + k) - mean;
            q = fma(d, d, q);
        }
        rstd = 1.0 / sqrt(subgroupAdd(q.x + q.y + q.z + q.w) / float(pc.K) + pc.eps);
    }

    int w_row[NR];
    [[unroll]] for (uint j = 0; j < NR; j++)
        w_row[j] = int((pc.w_off + b * pc.w_bs + min(n0 + j, pc.N - 1) * pc.w_sn) / 4);
    vec4 acc[NR];
    [[unroll]] for (uint j = 0; j < NR; j++)
        acc[j] = vec4(0.0);
    for (int k = int(lane); k < K4; k += int(L)) {
        vec4 av = texelFetch(a_tex, a_base + k);
        if (NORM != 0) {
            av = (av - mean) * rstd * texelFetch(g_tex, k);
            if (NORM == 1)
                av += texelFetch(nb_tex, k);
        }
        [[unroll]] for (uint j = 0; j < NR; j++)
            acc[j] = fma(av, texelFetch(w_tex, w_row[j] + k), acc[j]);
    }

    [[unroll]] for (uint j = 0; j < NR; j++) {
        float sum = subgroupAdd(acc[j].x + acc[j].y + acc[j].z + acc[j].w);
        uint n = n0 + j;
        if (lane == 0 && n < pc.N) {
            float bv = pc.has_bias != 0 ? float(bias[n]) : 0.0;
            uint idx = pc.o_off + b * pc.o_bs + n;
            float v = ar_activate(pc.alpha * sum + bv);
            if (pc.accumulate != 0)
                v += float(o[idx]);
            o[idx] = STYPE(v);
        }
    }
}

void main()
{
    if (K_LANES) {
        main_k_lanes();
        return;
    }
    const uint L = gl_WorkGroupSize.x;
    const uint b = gl_WorkGroupID.z;
    const uint wg = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    const uint n0 = wg * L * NR + gl_LocalInvocationID.x;
    if (wg * L * NR >= pc.N)
        return;   // the whole workgroup: the grid is rounded up to a 2D shape
    const int K4 = int(pc.K / 4);
    const int a_base = int((pc.a_off + b * pc.a_bs) / 4);

    // The row's statistics, two-pass as in norm.comp (every lane computes the same).
    float mean = 0.0, rstd = 1.0;
    if (NORM != 0) {
        if (NORM == 1) {
            vec4 s = vec4(0.0);
            for (int k = 0; k < K4; k++)
                s += texelFetch(a_tex, a_base + k);
            mean = (s.x + s.y + s.z + s.w) / float(pc.K);
        }
        vec4 q = vec4(0.0);
        for (int k = 0; k < K4; k++) {
            vec4 d = texelFetch(a_tex, a_base + k) - mean;
            q = fma(d, d, q);
        }
        rstd = 1.0 / sqrt((q.x + q.y + q.z + q.w) / float(pc.K) + pc.eps);
    }

    // Out-of-range outputs read a clamped (valid) row and are not stored.
    int w_row[NR];
    [[unroll]] for (uint j = 0; j < NR; j++)
        w_row[j] = int((pc.w_off + b * pc.w_bs + min(n0 + j * L, pc.N - 1) * pc.w_sn) / 4);
    float acc[NR];
    [[unroll]] for (uint j = 0; j < NR; j++)
        acc[j] = 0.0;

    for (int k = 0; k < K4; k++) {
        vec4 av = texelFetch(a_tex, a_base + k);
        if (NORM != 0) {
            av = (av - mean) * rstd * texelFetch(g_tex, k);
            if (NORM == 1)
                av += texelFetch(nb_tex, k);
        }
        [[unroll]] for (uint j = 0; j < NR; j++) {
            vec4 wv = texelFetch(w_tex, w_row[j] + k);
            // Explicit fmas: dot() becomes separate multiplies and adds on lavapipe.
            acc[j] = fma(av.w, wv.w, fma(av.z, wv.z, fma(av.y, wv.y, fma(av.x, wv.x, acc[j]))));
        }
    }

    [[unroll]] for (uint j = 0; j < NR; j++) {
        uint n = n0 + j * L;
        if (n < pc.N) {
            float bv = pc.has_bias != 0 ? float(bias[n]) : 0.0;
            uint idx = pc.o_off + b * pc.o_bs + n;
            float v = ar_activate(pc.alpha * acc[j] + bv);
            if (pc.accumulate != 0)
                v += float(o[idx]);
            o[idx] = STYPE(v);
        }
    }
}
