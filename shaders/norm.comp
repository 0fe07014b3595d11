#version 450
// Normalisation of contiguous segments, one workgroup per segment:
//   y = (x - mean) / sqrt(var + eps) * gamma[c] + beta[c]   (RMS: x / sqrt(mean(x^2) + eps) * gamma[c])
// then optionally SiLU. Group norm: a segment is one group of C/G channels of H*W elements
// (inner = H*W, groups = G); layer/RMS norm: a segment is one row (inner = 1, groups = 1).
// The affine channel of element j of segment s is (s % groups) * (len / inner) + j / inner.
// Two-pass mean then variance (no E[x^2] - E[x]^2 cancellation); two barriers in all with
// subgroups. In place is allowed: every read of an element precedes the last barrier, or is
// by the invocation that then writes it.
#extension GL_GOOGLE_include_directive : require
#ifdef AR_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "common.glsl"
#include "activation.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool RMS = false;
layout(constant_id = 2) const bool SILU = false;

#include "reduce.glsl"

layout(std430, binding = 0) readonly buffer X { STYPE x[]; };
layout(std430, binding = 1) readonly buffer G { STYPE gamma[]; };
layout(std430, binding = 2) readonly buffer B { STYPE beta[]; };
layout(std430, binding = 3) writeonly buffer O { STYPE o[]; };

#define NORM_GAMMA 1u
#define NORM_BETA 2u

layout(push_constant) uniform Push {
    uint nseg;
    uint len;
    uint inner;
    uint groups;
    uint flags;
    float eps;
} pc;

void main()
{
    uint seg = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (seg >= pc.nseg)
        return;     // uniform over the workgroup
    uint lid = gl_LocalInvocationID.x;
    uint base = seg * pc.len;
    const uint step = gl_WorkGroupSize.x;

    float mean = 0.0;
    if (!RMS) {
        float s = 0.0;
        for (uint j = lid; j < pc.len; j += step)
            s += float(x[base + j]);
        mean = ar_wg_sum(s, 0) / float(pc.len);
    }
    float q = 0.0;
    for (uint j = lid; j < pc.len; j += step) {
        float d = float(x[base + j]) - mean;
        q += d * d;
    }
    float rstd = 1.0 / sqrt(ar_wg_sum(q, 1) / float(pc.len) + pc.eps);

    uint c0 = (seg % pc.groups) * (pc.len / pc.inner);
    bool has_gamma = (pc.flags & NORM_GAMMA) != 0;
    bool has_beta = (pc.flags & NORM_BETA) != 0;
    for (uint j = lid; j < pc.len; j += step) {
        float y = (float(x[base + j]) - mean) * rstd;
        uint c = c0 + j / pc.inner;
        if (has_gamma)
            y *= float(gamma[c]);
        if (has_beta)
            y += float(beta[c]);
        if (SILU)
            y = ar_silu(y);
        o[base + j] = STYPE(y);
    }
}
