#version 450
// Copies the K and V of n new tokens from rows of a (fused QKV) buffer into the head-major
// caches [Hkv, max_tokens, D] at positions pos..pos+n-1. One invocation per element of K.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Src { STYPE src[]; };
layout(std430, binding = 1) writeonly buffer KC { STYPE kc[]; };
layout(std430, binding = 2) writeonly buffer VC { STYPE vc[]; };

layout(push_constant) uniform Push {
    uint n;            // tokens
    uint width;        // Hkv * D
    uint head_dim;
    uint max_tokens;
    uint row_stride;
    uint k_offset;
    uint v_offset;
    uint pos;
} pc;

void main()
{
    uint i = ar_flat_index();
    if (i >= pc.n * pc.width)
        return;
    uint t = i / pc.width, r = i % pc.width;
    uint h = r / pc.head_dim, d = r % pc.head_dim;
    uint src_row = t * pc.row_stride;
    uint dst = (h * pc.max_tokens + pc.pos + t) * pc.head_dim + d;
    kc[dst] = src[src_row + pc.k_offset + r];
    vc[dst] = src[src_row + pc.v_offset + r];
}
