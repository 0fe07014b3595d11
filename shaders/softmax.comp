#version 450
// Row softmax of scale * x over rows of length `cols`, one workgroup per row: max, then sum of
// exp, then exp again times 1/sum (recomputing exp instead of storing it keeps out write-only
// and rounds fp16 outputs once). Two barriers with subgroups. In place is allowed.
#extension GL_GOOGLE_include_directive : require
#ifdef AR_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "common.glsl"

layout(local_size_x_id = 0) in;

#include "reduce.glsl"

layout(std430, binding = 0) readonly buffer X { STYPE x[]; };
layout(std430, binding = 1) writeonly buffer O { STYPE o[]; };

layout(push_constant) uniform Push {
    uint rows;
    uint cols;
    float scale;
} pc;

void main()
{
    uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (row >= pc.rows)
        return;     // uniform over the workgroup
    uint lid = gl_LocalInvocationID.x;
    uint base = row * pc.cols;
    const uint step = gl_WorkGroupSize.x;

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
