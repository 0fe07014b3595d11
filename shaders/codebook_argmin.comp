#version 450
// Nearest codebook entry for VPW vectors per workgroup. The vectors are staged in shared
// memory; the threads split the codebook (thread t takes codes t, t+L, ...), each distance is
// a sequential fp32 sum over the dims (a fixed order), and one final pass picks the minimum
// with ties to the lower index.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint VPW = 4;       // vectors per workgroup
layout(constant_id = 2) const uint XMAX = 1024;   // >= VPW * dim

layout(std430, binding = 0) readonly buffer X { STYPE x[]; };
layout(std430, binding = 1) readonly buffer E { STYPE e[]; };
layout(std430, binding = 2) writeonly buffer T { uint tokens[]; };

layout(push_constant) uniform Push {
    uint n;
    uint dim;
    uint codebook_size;
    uint hw;       // 0: rows [n, dim]; else channel-major [n / hw, dim, hw]
} pc;

shared float x_sh[XMAX];
shared float best_d_sh[VPW * gl_WorkGroupSize.x];
shared uint best_j_sh[VPW * gl_WorkGroupSize.x];

uint x_index(uint v, uint c)
{
    if (pc.hw == 0)
        return v * pc.dim + c;
    uint img = v / pc.hw, p = v % pc.hw;
    return (img * pc.dim + c) * pc.hw + p;
}

void main()
{
    const uint L = gl_WorkGroupSize.x;
    uint t = gl_LocalInvocationID.x;
    uint v0 = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * VPW;
    uint dim = pc.dim;

    for (uint k = t; k < VPW * dim; k += L) {
        uint v = v0 + k / dim;
        x_sh[k] = v < pc.n ? float(x[x_index(v, k % dim)]) : 0.0;
    }
    barrier();

    float best_d[VPW];
    uint best_j[VPW];
    for (uint v = 0; v < VPW; v++) {
        best_d[v] = uintBitsToFloat(0x7f800000u);   // +inf
        best_j[v] = 0;
    }
    for (uint j = t; j < pc.codebook_size; j += L) {
        float dist[VPW];
        for (uint v = 0; v < VPW; v++)
            dist[v] = 0.0;
        uint row = j * dim;
        for (uint c = 0; c < dim; c++) {
            float ec = float(e[row + c]);
            for (uint v = 0; v < VPW; v++) {
                float diff = x_sh[v * dim + c] - ec;
                dist[v] += diff * diff;
            }
        }
        // j only grows within a thread, so strict < keeps the lower index on ties.
        for (uint v = 0; v < VPW; v++) {
            if (dist[v] < best_d[v]) {
                best_d[v] = dist[v];
                best_j[v] = j;
            }
        }
    }
    for (uint v = 0; v < VPW; v++) {
        best_d_sh[v * L + t] = best_d[v];
        best_j_sh[v * L + t] = best_j[v];
    }
    barrier();
    if (t < VPW && v0 + t < pc.n) {
        uint v = t;
        float bd = best_d_sh[v * L];
        uint bj = best_j_sh[v * L];
        for (uint u = 1; u < min(L, pc.codebook_size); u++) {
            float d = best_d_sh[v * L + u];
            uint jj = best_j_sh[v * L + u];
            if (d < bd || (d == bd && jj < bj)) {
                bd = d;
                bj = jj;
            }
        }
        tokens[v0 + v] = bj;
    }
}
