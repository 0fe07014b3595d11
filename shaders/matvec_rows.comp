#version 450
// Matrix-vector product for M == 1 on GPUs (one-token steps), same push constants, bindings
// and result as matvec.comp: out[b,n] = act(alpha * sum_k a[b,k] * W[b,n,k] + bias[n])
// (+ out[b,n] when pc.accumulate), with its optional norm prologue on a.
//
// One subgroup per ROWS output rows, several subgroups per workgroup. Lanes stride over K
// four elements at a time, so a subgroup reads a row of W in 32 * 4-element loads, and
// reduces once with subgroupAdd: no shared memory and no barrier. The norm statistics are
// computed by each subgroup over its own copy of a's row (cache hits after the first).
// Needs W K-contiguous, K and every row offset multiples of 4 (checked on the C side).
//
// MR > 1 (AR_MATMUL_SKINNY): products of MR = M rows of A, M small (a refresh frame's 17
// positions), without the norm prologue. Each subgroup reads its row of W once and takes the
// dot products with all M rows of A (cache hits after the first subgroup), instead of the
// shared-memory tiles' K-slab loop with two barriers per 16 or 32 elements of K.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"
#include "activation.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ROWS = 1;   // output rows per subgroup
layout(constant_id = 2) const uint NORM = 0;   // 0 none, 1 LayerNorm, 2 RMSNorm (matvec.comp)
layout(constant_id = 3) const uint MR = 1;     // rows of A: the product's M (NORM 0 when > 1)

layout(std430, binding = 0) readonly buffer A4 { STYPE4 a4[]; };
layout(std430, binding = 1) readonly buffer W4 { STYPE4 w4[]; };
layout(std430, binding = 2) readonly buffer Bias { STYPE bias[]; };
layout(std430, binding = 3) buffer O { STYPE o[]; };   // read too when accumulating
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

// Four elements of a's row from k4 * 4 on, normalised when NORM != 0.
vec4 load_a(uint a_base, uint k4, float mean, float rstd)
{
    vec4 v = vec4(a4[a_base + k4]);
    if (NORM != 0) {
        v = (v - mean) * rstd * vec4(ng4[k4]);
        if (NORM == 1)
            v += vec4(nb4[k4]);
    }
    return v;
}

void main()
{
    const uint b = gl_WorkGroupID.z;
    const uint SG = gl_SubgroupSize, lane = gl_SubgroupInvocationID;
    const uint group = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    const uint n0 = (group * gl_NumSubgroups + gl_SubgroupID) * ROWS;
    if (n0 >= pc.N)
        return;   // whole subgroups leave: the reductions below stay uniform
    const uint a_base = (pc.a_off + b * pc.a_bs) / 4;
    const uint K4 = pc.K / 4;

    float mean = 0.0, rstd = 1.0;
    if (NORM != 0) {
        if (NORM == 1) {
            vec4 s = vec4(0.0);
            for (uint k = lane; k < K4; k += SG)
                s += vec4(a4[a_base + k]);
            mean = subgroupAdd(s.x + s.y + s.z + s.w) / float(pc.K);
        }
        float q = 0.0;
        for (uint k = lane; k < K4; k += SG) {
            vec4 d = vec4(a4[a_base + k]) - mean;
            q += dot(d, d);
        }
        rstd = 1.0 / sqrt(subgroupAdd(q) / float(pc.K) + pc.eps);
    }

    uint wrow[ROWS];
    for (uint r = 0; r < ROWS; r++)
        wrow[r] = (pc.w_off + b * pc.w_bs + min(n0 + r, pc.N - 1) * pc.w_sn) / 4;
    // acc[r * MR + m]: output row n0 + r of A's row m.
    float acc[ROWS * MR];
    for (uint i = 0; i < ROWS * MR; i++)
        acc[i] = 0.0;
    const uint a_ld4 = pc.a_ld / 4;
    // Two loads of W per row in flight per iteration: a lone dependent load per iteration
    // leaves the memory system idle on short rows.
    uint k = lane;
    for (; k + SG < K4; k += 2 * SG) {
        vec4 w0[ROWS], w1[ROWS];
        for (uint r = 0; r < ROWS; r++) {
            w0[r] = vec4(w4[wrow[r] + k]);
            w1[r] = vec4(w4[wrow[r] + k + SG]);
        }
        for (uint m = 0; m < MR; m++) {
            vec4 a0 = load_a(a_base + m * a_ld4, k, mean, rstd);
            vec4 a1 = load_a(a_base + m * a_ld4, k + SG, mean, rstd);
            for (uint r = 0; r < ROWS; r++)
                acc[r * MR + m] += dot(a0, w0[r]) + dot(a1, w1[r]);
        }
    }
    if (k < K4) {
        vec4 w0[ROWS];
        for (uint r = 0; r < ROWS; r++)
            w0[r] = vec4(w4[wrow[r] + k]);
        for (uint m = 0; m < MR; m++) {
            vec4 a0 = load_a(a_base + m * a_ld4, k, mean, rstd);
            for (uint r = 0; r < ROWS; r++)
                acc[r * MR + m] += dot(a0, w0[r]);
        }
    }
    for (uint i = 0; i < ROWS * MR; i++)
        acc[i] = subgroupAdd(acc[i]);

    // Lane i % SG stores acc[i] (with MR 1: lane r stores row n0 + r).
    for (uint i = 0; i < ROWS * MR; i++) {
        uint r = i / MR, m = i % MR, n = n0 + r;
        if (lane == i % SG && n < pc.N) {
            uint idx = pc.o_off + b * pc.o_bs + m * pc.o_ld + n;
            float v = ar_activate(pc.alpha * acc[i] + (pc.has_bias != 0 ? float(bias[n]) : 0.0));
            if (pc.accumulate != 0)
                v += float(o[idx]);
            o[idx] = STYPE(v);
        }
    }
}
