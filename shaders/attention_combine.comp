#version 450
// Combines the partial states of attention_decode.comp: one workgroup per head, lanes across
// the head dimension; the split maxima and sums are uniform loads. No barrier.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Part { float part[]; };   // [H, n_splits, 2 + D]
layout(std430, binding = 1) writeonly buffer O { STYPE o[]; };

layout(push_constant) uniform Push {
    uint head_dim;
    uint n_splits;
} pc;

const float NEG = -3.0e38;

void main()
{
    uint h = gl_WorkGroupID.x, D = pc.head_dim, S = pc.n_splits;
    uint base = h * S * (D + 2);
    float mt = NEG;
    for (uint s = 0; s < S; s++)
        mt = max(mt, part[base + s * (D + 2)]);
    float den = 0.0;
    for (uint s = 0; s < S; s++)
        den += exp(part[base + s * (D + 2)] - mt) * part[base + s * (D + 2) + 1];
    for (uint d = gl_LocalInvocationID.x; d < D; d += gl_WorkGroupSize.x) {
        float sum = 0.0;
        for (uint s = 0; s < S; s++) {
            uint sb = base + s * (D + 2);
            sum += exp(part[sb] - mt) * part[sb + 2 + d];
        }
        o[h * D + d] = STYPE(sum / den);
    }
}
