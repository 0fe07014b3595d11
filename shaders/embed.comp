#version 450
// Embedding lookup: out[r, d] = table[min(ids[ids_offset + r], vocab - 1), d] for r < n_ids,
// d < dim. Out-of-range ids are clamped to the last row so that nothing is read out of bounds.
// A plain copy of the stored values (no conversion); with pc.accumulate, out += the row
// instead (in fp32, rounded once: what an add pass after the lookup gives).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer T { STYPE table[]; };
layout(std430, binding = 1) readonly buffer I { uint ids[]; };
layout(std430, binding = 2) buffer O { STYPE o[]; };   // read too when accumulating

layout(push_constant) uniform Push {
    uint n;         // n_ids * dim
    uint dim;
    uint vocab;
    uint ids_offset;
    uint accumulate;
} pc;

void main()
{
    uint i = ar_flat_index();
    if (i >= pc.n)
        return;
    uint r = i / pc.dim;
    uint d = i - r * pc.dim;
    uint id = min(ids[pc.ids_offset + r], pc.vocab - 1u);
    if (pc.accumulate != 0)
        o[i] = STYPE(float(o[i]) + float(table[id * pc.dim + d]));
    else
        o[i] = table[id * pc.dim + d];
}
