#version 450
// Batched transpose: out[b, c, r] = x[b, r, c], x [batch, rows, cols] -> out [batch, cols, rows].
// Plain: one output element per invocation (consecutive invocations write consecutive
// elements). USE_TEXEL, the CPU-device flavour: a 4x4 block per invocation, its 4 input rows
// fetched as vec4 texels and written as 4 vec4 output rows (rows and cols multiples of 4); on
// lavapipe a storage-buffer load is a loop over the SIMD lanes, a texel fetch straight-line
// code, and a vec4 store costs about what a scalar one does.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { STYPE x[]; };
layout(std430, binding = 1) writeonly buffer O { STYPE o[]; };
#ifdef USE_TEXEL
layout(std430, binding = 1) writeonly buffer O4 { STYPE4 o4[]; };
layout(binding = 8) uniform samplerBuffer x_tex;
#endif

layout(push_constant) uniform Push {
    uint n;      // output elements (USE_TEXEL: 4x4 blocks)
    uint rows;
    uint cols;
} pc;

void main()
{
    uint i = ar_flat_index();
    if (i >= pc.n)
        return;
#ifdef USE_TEXEL
    uint cb4 = pc.cols / 4, rb4 = pc.rows / 4;
    uint cb = i % cb4, rb = (i / cb4) % rb4, b = i / (cb4 * rb4);
    vec4 v[4];
    for (uint k = 0; k < 4; k++)
        v[k] = texelFetch(x_tex, int(((b * pc.rows + 4 * rb + k) * pc.cols) / 4 + cb));
    for (uint e = 0; e < 4; e++)
        o4[((b * pc.cols + 4 * cb + e) * pc.rows) / 4 + rb] =
            STYPE4(vec4(v[0][e], v[1][e], v[2][e], v[3][e]));
#else
    uint r = i % pc.rows, c = (i / pc.rows) % pc.cols, b = i / (pc.rows * pc.cols);
    o[i] = x[(b * pc.rows + r) * pc.cols + c];
#endif
}
