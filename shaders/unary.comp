#version 450
// Elementwise activation: out[i] = act(x[i]), act chosen by specialization constant 1
// (0 SiLU, 1 GELU tanh form, 2 GELU erf form, 3 ReLU). In place is allowed (x and out may alias).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "activation.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ACT = 0;

layout(std430, binding = 0) readonly buffer X { STYPE x[]; };
layout(std430, binding = 1) writeonly buffer O { STYPE o[]; };

layout(push_constant) uniform Push { uint n; } pc;

void main()
{
    uint i = ar_flat_index();
    if (i >= pc.n)
        return;
    float v = float(x[i]);
    float y;
    if (ACT == 0)
        y = ar_silu(v);
    else if (ACT == 1)
        y = ar_gelu_tanh(v);
    else if (ACT == 2)
        y = ar_gelu_erf(v);
    else
        y = max(v, 0.0);
    o[i] = STYPE(y);
}
