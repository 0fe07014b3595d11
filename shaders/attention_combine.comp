#version 450
// Combines the partial states of attention_decode.comp, one workgroup per head. The lanes find
// the maximum and the softmax denominator across the splits together (two workgroup
// reductions), keep each split's weight exp(m_s - m) in shared memory, then run across the
// head dimension. One exp per split instead of one per split and dimension, and no lane walks
// the splits' maxima alone (H200, 64 splits: this was 13 us per combine, serial).
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#define AR_SUBGROUP
#include "common.glsl"

layout(local_size_x_id = 0) in;

#include "reduce.glsl"

layout(std430, binding = 0) readonly buffer Part { float part[]; };   // [H, n_splits, 2 + D]
layout(std430, binding = 1) writeonly buffer O { STYPE o[]; };

layout(push_constant) uniform Push {
    uint head_dim;
    uint n_splits;
} pc;

const float NEG = -3.0e38;
const uint MAX_SPLITS = 64;   // DECODE_MAX_SPLITS in common/ops/ar-op-attention.c

shared float split_weight[MAX_SPLITS];

void main()
{
    uint h = gl_WorkGroupID.x, D = pc.head_dim, S = pc.n_splits;
    uint lid = gl_LocalInvocationID.x, W = gl_WorkGroupSize.x;
    uint base = h * S * (D + 2);
    float m = NEG;
    for (uint s = lid; s < S; s += W)
        m = max(m, part[base + s * (D + 2)]);
    float mt = ar_wg_max(m, 0);
    float den = 0.0;
    for (uint s = lid; s < S; s += W) {
        float w = exp(part[base + s * (D + 2)] - mt);
        split_weight[s] = w;
        den += w * part[base + s * (D + 2) + 1];
    }
    // The reduction's barrier also makes split_weight visible to the whole workgroup.
    float inv = 1.0 / ar_wg_sum(den, 1);
    for (uint d = lid; d < D; d += W) {
        float sum = 0.0;
        for (uint s = 0; s < S; s++)
            sum += split_weight[s] * part[base + s * (D + 2) + 2 + d];
        o[h * D + d] = STYPE(sum * inv);
    }
}
