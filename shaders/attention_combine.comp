#version 450
// Combines the partial states of attention_decode.comp, one workgroup per head (the merge
// itself: combine.glsl).
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_control_flow_attributes : require
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

#include "combine.glsl"

void main()
{
    combine_splits(gl_WorkGroupID.x, pc.head_dim, pc.n_splits);
}
