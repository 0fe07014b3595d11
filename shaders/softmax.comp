#version 450
// Row softmax of scale * x over rows of length `cols`, one workgroup per row: max, then sum of
// exp, then exp again times 1/sum (recomputing exp instead of storing it keeps out write-only
// and rounds fp16 outputs once). Two barriers with subgroups. In place is allowed. Short rows
// keep each invocation's elements and their exps in registers (NREG): x is read once.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#ifdef AR_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "common.glsl"

layout(local_size_x_id = 0) in;
// Without USE_TEXEL: > 0 when cols <= NREG x local size; the same operations in the same
// order as the three passes.
layout(constant_id = 2) const uint NREG = 0;

#include "reduce.glsl"

layout(std430, binding = 0) readonly buffer X { STYPE x[]; };
layout(std430, binding = 1) writeonly buffer O { STYPE o[]; };
#ifdef USE_TEXEL
// The CPU-device flavour: x as vec4 texels (a storage-buffer load is a loop over the SIMD
// lanes on lavapipe 22.3, a texel fetch straight-line code), vec4 stores, ROWS rows per
// workgroup. Needs cols % 4 == 0. In place stays allowed: each element is read for the last
// time by the invocation that then writes it.
layout(constant_id = 1) const uint ROWS = 1;
layout(std430, binding = 1) writeonly buffer O4 { STYPE4 o4[]; };
layout(binding = 8) uniform samplerBuffer x_tex;
#endif

layout(push_constant) uniform Push {
    uint rows;
    uint cols;
    float scale;
} pc;

#ifdef USE_TEXEL
// One subgroup (what the C side dispatches) reduces without shared memory or barriers.
float row_max(float v)
{
    return gl_NumSubgroups == 1 ? subgroupMax(v) : ar_wg_max(v, 0);
}

float row_sum(float v)
{
    return gl_NumSubgroups == 1 ? subgroupAdd(v) : ar_wg_sum(v, 1);
}

void softmax_row_texel(uint row, uint lid)
{
    const uint step = gl_WorkGroupSize.x;
    const uint c4 = pc.cols / 4;
    const int base4 = int(row * c4);
    vec4 m4 = vec4(-1.0 / 0.0);
    for (uint j = lid; j < c4; j += step)
        m4 = max(m4, pc.scale * texelFetch(x_tex, base4 + int(j)));
    float m = row_max(max(max(m4.x, m4.y), max(m4.z, m4.w)));
    vec4 s4 = vec4(0.0);
    for (uint j = lid; j < c4; j += step)
        s4 += exp(pc.scale * texelFetch(x_tex, base4 + int(j)) - m);
    float inv = 1.0 / row_sum(s4.x + s4.y + s4.z + s4.w);
    for (uint j = lid; j < c4; j += step)
        o4[base4 + j] = STYPE4(exp(pc.scale * texelFetch(x_tex, base4 + int(j)) - m) * inv);
}
#endif

void main()
{
#ifdef USE_TEXEL
    uint row0 = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * ROWS;
    for (uint i = 0; i < ROWS && row0 + i < pc.rows; i++) {
        softmax_row_texel(row0 + i, gl_LocalInvocationID.x);
        if (gl_NumSubgroups > 1)
            barrier();   // the next row's reductions reuse the shared slots
    }
    return;
#endif
    uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (row >= pc.rows)
        return;     // uniform over the workgroup
    uint lid = gl_LocalInvocationID.x;
    uint base = row * pc.cols;
    const uint step = gl_WorkGroupSize.x;

    if (NREG > 0) {
        float v[NREG > 0 ? NREG : 1];
        [[unroll]] for (uint i = 0; i < NREG; i++) {
            uint j = lid + i * step;
            v[i] = 0.0;
            if (j < pc.cols)
                v[i] = float(x[base + j]);
        }
        float mr = -1.0 / 0.0;
        [[unroll]] for (uint i = 0; i < NREG; i++)
            if (lid + i * step < pc.cols)
                mr = max(mr, pc.scale * v[i]);
        mr = ar_wg_max(mr, 0);
        float sr = 0.0;
        [[unroll]] for (uint i = 0; i < NREG; i++)
            if (lid + i * step < pc.cols) {
                v[i] = exp(pc.scale * v[i] - mr);
                sr += v[i];
            }
        float invr = 1.0 / ar_wg_sum(sr, 1);
        [[unroll]] for (uint i = 0; i < NREG; i++) {
            uint j = lid + i * step;
            if (j < pc.cols)
                o[base + j] = STYPE(v[i] * invr);
        }
        return;
    }

    float m = -1.0 / 0.0;
    for (uint j = lid; j < pc.cols; j += step)
        m = max(m, pc.scale * float(x[base + j]));
    m = ar_wg_max(m, 0);

    float s = 0.0;
    for (uint j = lid; j < pc.cols; j += step)
        s += exp(pc.scale * float(x[base + j]) - m);
    float inv = 1.0 / ar_wg_sum(s, 1);

    for (uint j = lid; j < pc.cols; j += step)
        o[base + j] = STYPE(exp(pc.scale * float(x[base + j]) - m) * inv);
}
