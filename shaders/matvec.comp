#version 450
// Matrix-vector product for M == 1 (token-by-token decoding):
// out[b,n] = act(alpha * sum_k a[b,k] * W[b,n,k] + bias[n]) (+ out[b,n] when pc.accumulate),
// same push constants and W
// addressing as matmul.comp.
//
// ROW_THREADS == 1: NR outputs per invocation, a loop over K each (best on CPU devices, and
// for W stored [K,N], where neighbouring invocations read neighbouring elements).
// ROW_THREADS == local size: one workgroup per output; its invocations stride over K and
// reduce once at the end (subgroupAdd with -DUSE_SUBGROUP, else a shared-memory tree).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "activation.glsl"
#if defined(USE_SUBGROUP)
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ROW_THREADS = 1;
// W is K-contiguous and a's and W's rows are 4-aligned: vec4 loads along K (one output per
// invocation only).
layout(constant_id = 2) const bool K_VEC4 = false;
layout(constant_id = 3) const uint NR = 1;
// Row-norm prologue (0 none, 1 LayerNorm, 2 RMSNorm): a is normalised on load,
// (a - mean) * rstd * gamma[k] (+ beta[k]), with mean and rstd computed here, two-pass as in
// norm.comp. Saves the norm's dispatch and the round trip of its output for one-token steps.
layout(constant_id = 4) const uint NORM = 0;

layout(std430, binding = 0) readonly buffer A { STYPE a[]; };
layout(std430, binding = 1) readonly buffer W { STYPE w[]; };
layout(std430, binding = 2) readonly buffer Bias { STYPE bias[]; };
// Read too when pc.accumulate: out += result (a residual add fused into the epilogue).
layout(std430, binding = 3) buffer O { STYPE o[]; };
layout(std430, binding = 0) readonly buffer A4 { STYPE4 a4[]; };
layout(std430, binding = 1) readonly buffer W4 { STYPE4 w4[]; };
layout(std430, binding = 4) readonly buffer NG { STYPE ng[]; };
layout(std430, binding = 5) readonly buffer NB { STYPE nb[]; };
layout(std430, binding = 4) readonly buffer NG4 { STYPE4 ng4[]; };
layout(std430, binding = 5) readonly buffer NB4 { STYPE4 nb4[]; };

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

shared float partial[ROW_THREADS];

#if defined(USE_SUBGROUP)
#define AR_SUBGROUP
#endif
#include "reduce.glsl"

float norm_mean = 0.0;
float norm_rstd = 1.0;

// Element k of the row starting at a_base, normalised when NORM != 0.
float load_a(uint a_base, uint k)
{
    float v = float(a[a_base + k]);
    if (NORM != 0) {
        v = (v - norm_mean) * norm_rstd * float(ng[k]);
        if (NORM == 1)
            v += float(nb[k]);
    }
    return v;
}

vec4 load_a4(uint a_base, uint k)
{
    vec4 v = vec4(a4[(a_base + k) / 4]);
    if (NORM != 0) {
        v = (v - norm_mean) * norm_rstd * vec4(ng4[k / 4]);
        if (NORM == 1)
            v += vec4(nb4[k / 4]);
    }
    return v;
}

// The row's statistics: each invocation sums over k = first, first + stride, ...; `whole`
// reduces the partial sums across the workgroup (the one-workgroup-per-output kernel).
void row_stats(uint a_base, uint first, uint stride, bool whole)
{
    if (NORM == 0)
        return;
    float mean = 0.0;
    if (NORM == 1) {
        float s = 0.0;
        for (uint k = first; k < pc.K; k += stride)
            s += float(a[a_base + k]);
        if (whole)
            s = ar_wg_sum(s, 0);
        mean = s / float(pc.K);
    }
    float q = 0.0;
    for (uint k = first; k < pc.K; k += stride) {
        float d = float(a[a_base + k]) - mean;
        q += d * d;
    }
    if (whole)
        q = ar_wg_sum(q, 1);
    norm_mean = mean;
    norm_rstd = 1.0 / sqrt(q / float(pc.K) + pc.eps);
}

void store(uint n, float sum)
{
    float bv = pc.has_bias != 0 ? float(bias[n]) : 0.0;
    uint idx = pc.o_off + gl_WorkGroupID.z * pc.o_bs + n;
    float v = ar_activate(pc.alpha * sum + bv);
    if (pc.accumulate != 0)
        v += float(o[idx]);
    o[idx] = STYPE(v);
}

void main()
{
    const uint b = gl_WorkGroupID.z;
    const uint a_base = pc.a_off + b * pc.a_bs;

    if (ROW_THREADS == 1) {
        // NR outputs per invocation, interleaved across the workgroup: each load of a
        // serves NR rows, and fewer invocations mean less loop overhead on CPU devices.
        const uint L = gl_WorkGroupSize.x;
        const uint wg = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
        const uint n0 = wg * L * NR + gl_LocalInvocationID.x;
        if (n0 >= pc.N)
            return;
        row_stats(a_base, 0, 1, false);
        uint wrow[NR];
        for (uint j = 0; j < NR; j++)
            wrow[j] = pc.w_off + b * pc.w_bs + min(n0 + j * L, pc.N - 1) * pc.w_sn;
        float acc[NR];
        for (uint j = 0; j < NR; j++)
            acc[j] = 0.0;
        uint k = 0;
        if (K_VEC4) {
            for (; k + 4 <= pc.K; k += 4) {
                vec4 av = load_a4(a_base, k);
                for (uint j = 0; j < NR; j++)
                    acc[j] += dot(av, vec4(w4[(wrow[j] + k) / 4]));
            }
        }
        for (uint wk = k * pc.w_sk; k < pc.K; k++, wk += pc.w_sk) {
            float av = load_a(a_base, k);
            for (uint j = 0; j < NR; j++)
                acc[j] = fma(av, float(w[wrow[j] + wk]), acc[j]);
        }
        for (uint j = 0; j < NR; j++)
            if (n0 + j * L < pc.N)
                store(n0 + j * L, acc[j]);
        return;
    }

    // One workgroup per output; the row index is uniform, so every invocation reaches the
    // barriers.
    uint n = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    uint lane = gl_LocalInvocationID.x;
    row_stats(a_base, lane, ROW_THREADS, true);   // before any return: it has barriers
    float s = 0.0;
    if (n < pc.N) {
        uint wrow = pc.w_off + b * pc.w_bs + n * pc.w_sn;
        for (uint k = lane; k < pc.K; k += ROW_THREADS)
            s = fma(load_a(a_base, k), float(w[wrow + k * pc.w_sk]), s);
    }
#if defined(USE_SUBGROUP)
    s = subgroupAdd(s);
    if (subgroupElect())
        partial[gl_SubgroupID] = s;
    barrier();
    if (lane == 0 && n < pc.N) {
        float sum = 0.0;
        for (uint i = 0; i < gl_NumSubgroups; i++)
            sum += partial[i];
        store(n, sum);
    }
#else
    partial[lane] = s;
    barrier();
    for (uint half_ = ROW_THREADS / 2; half_ > 0; half_ /= 2) {
        if (lane < half_)
            partial[lane] += partial[lane + half_];
        barrier();
    }
    if (lane == 0 && n < pc.N)
        store(n, partial[0]);
#endif
}
