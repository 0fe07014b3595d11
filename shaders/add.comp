#version 450
// Elementwise residual add: out[i] = a[i] + b[i]; with -DOP_MUL the product (SwiGLU's gate).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer A { STYPE a[]; };
layout(std430, binding = 1) readonly buffer B { STYPE b[]; };
layout(std430, binding = 2) writeonly buffer O { STYPE o[]; };

layout(push_constant) uniform Push { uint n; } pc;

void main()
{
    uint i = ar_flat_index();
    if (i >= pc.n)
        return;
#ifdef OP_MUL
    o[i] = STYPE(float(a[i]) * float(b[i]));
#else
    o[i] = STYPE(float(a[i]) + float(b[i]));
#endif
}
