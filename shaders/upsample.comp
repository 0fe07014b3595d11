#version 450
// Nearest 2x upsample, [C, H, W] -> [C, 2H, 2W] (C may include a batch dimension).
// One invocation per input element writes its 2x2 block as two pairs: output rows have an
// even length (2W) and the block starts at an even column, so each pair is one aligned STYPE2.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { STYPE x[]; };
layout(std430, binding = 1) writeonly buffer O { STYPE2 o[]; };

layout(push_constant) uniform Push {
    uint n;     // C * H * W input elements
    uint w;
} pc;

void main()
{
    uint i = ar_flat_index();
    if (i >= pc.n)
        return;
    uint col = i % pc.w;
    uint row = i / pc.w;            // c * H + h
    float v = float(x[i]);   // exact in both directions
    // Output row 2*row (= c * 2H + 2h) starts at pair index 2 * row * W.
    uint p = 2u * row * pc.w + col;
    o[p] = STYPE2(vec2(v));
    o[p + pc.w] = STYPE2(vec2(v));
}
