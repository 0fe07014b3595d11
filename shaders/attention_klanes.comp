#version 450
// Causal attention, the CPU-device decode kernel: a key per lane. Workgroup (h, 0, i) is
// query i (at position pos + i, row q_row + i of qkv: pc.q_offset includes q_row) of head h; its lanes take keys lo + lane,
// lo + lane + L, ... each with its own running max, sum and accumulator, merged across the
// subgroup once at the end.
//
// Why: attention_decode.comp puts lanes across the head dimension, so every score costs a
// subgroupAdd, and its loads are storage-buffer loads; on lavapipe (Mesa 22.3) both are
// loops over the SIMD lanes. attention_qlanes.comp needs many queries to fill its lanes.
// Here a score is D/4 dot products in one lane from texel fetches (straight-line code), and
// the only cross-lane work is the final merge. Needs head_dim % 4 == 0, a 4-aligned q offset
// and row stride, and one subgroup per workgroup (the C side checks).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint HD = 64;  // head_dim

const uint NV = HD / 4;     // vec4s per row

layout(std430, binding = 3) writeonly buffer O { STYPE4 o[]; };
layout(binding = 8) uniform samplerBuffer k_tex;   // the K cache as vec4s
layout(binding = 9) uniform samplerBuffer v_tex;   // the V cache as vec4s
layout(binding = 10) uniform samplerBuffer q_tex;  // qkv as vec4s

// attention_decode.comp's push constants (n_splits and split_keys unused: one pass).
layout(push_constant) uniform Push {
    uint n_heads;
    uint kv_group;     // query heads per kv head
    uint head_dim;
    uint head_stride;  // cache elements between kv heads
    uint row_stride;
    uint q_offset;
    uint pos;
    uint first;
    uint window;
    float scale;
    uint n_splits;
    uint split_keys;
    uint n_queries;    // at positions pos.., rows 0.. of qkv
    uint pos_stride;   // cache elements between positions
    uint k_off;        // cache element of K (V) at kv head 0, position 0
    uint v_off;
} pc;

// Finite, so that exp(NEG - m) is 0 and never NaN (no inf - inf).
const float NEG = -3.0e38;

void main()
{
    const uint h = gl_WorkGroupID.x;
    const uint qi = gl_WorkGroupID.z;
    const uint L = gl_WorkGroupSize.x;
    const uint lane = gl_LocalInvocationID.x;
    const uint p = pc.pos + qi;
    uint lo = pc.first;
    if (pc.window > 0 && p + 1 > pc.window)
        lo = max(lo, p + 1 - pc.window);
    const int k_base = int((pc.k_off + (h / pc.kv_group) * pc.head_stride) / 4);
    const int v_base = int((pc.v_off + (h / pc.kv_group) * pc.head_stride) / 4);
    const uint PS = pc.pos_stride / 4;   // vec4s between positions

    vec4 q[NV], acc[NV];
    const int q_base = int((qi * pc.row_stride + pc.q_offset + h * HD) / 4);
    [[unroll]] for (uint v = 0; v < NV; v++) {
        q[v] = texelFetch(q_tex, q_base + int(v)) * pc.scale;
        acc[v] = vec4(0.0);
    }
    float m = NEG, l = 0.0;

    // Keys lo..p; a lane past p reads key p again and weighs it 0.
    for (uint j0 = lo; j0 <= p; j0 += L) {
        uint j = j0 + lane;
        bool live = j <= p;
        int row = int(min(j, p) * PS);
        float s = 0.0;
        [[unroll]] for (uint v = 0; v < NV; v++) {
            vec4 kv = texelFetch(k_tex, k_base + row + int(v));
            s = fma(q[v].w, kv.w, fma(q[v].z, kv.z, fma(q[v].y, kv.y, fma(q[v].x, kv.x, s))));
        }
        float m_new = live ? max(m, s) : m;
        float alpha = exp(m - m_new);
        float e = live ? exp(s - m_new) : 0.0;
        l = fma(l, alpha, e);
        [[unroll]] for (uint v = 0; v < NV; v++)
            acc[v] = fma(vec4(e), texelFetch(v_tex, v_base + row + int(v)), acc[v] * alpha);
        m = m_new;
    }

    // Merge the lanes: rescale each to the subgroup's max, then sum.
    float mt = subgroupMax(m);
    float f = exp(m - mt);
    float lt = subgroupAdd(l * f);
    const uint ob = (qi * pc.n_heads + h) * NV;
    [[unroll]] for (uint v = 0; v < NV; v++) {
        vec4 a = subgroupAdd(acc[v] * f);
        if (v % L == lane)
            o[ob + v] = STYPE4(a / lt);
    }
}
