#version 450
// Codebook rows for tokens: out = E[tokens[i]], as rows [n, dim] or channel-major
// [n / hw, dim, hw]. One invocation per output element, in output order.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer T { uint tokens[]; };
layout(std430, binding = 1) readonly buffer E { STYPE e[]; };
layout(std430, binding = 2) writeonly buffer O { STYPE o[]; };

layout(push_constant) uniform Push {
    uint n;
    uint dim;
    uint codebook_size;
    uint hw;
} pc;

void main()
{
    uint k = ar_flat_index();
    if (k >= pc.n * pc.dim)
        return;
    uint v, c;
    if (pc.hw == 0) {
        v = k / pc.dim;
        c = k % pc.dim;
    } else {
        uint plane = pc.dim * pc.hw;
        uint img = k / plane, r = k % plane;
        c = r / pc.hw;
        v = img * pc.hw + r % pc.hw;
    }
    uint tok = min(tokens[v], pc.codebook_size - 1);
    o[k] = e[tok * pc.dim + c];
}
