#version 450
// Nearest codebook entry for VPW vectors per workgroup. The vectors are staged in shared
// memory; the threads split the codebook (thread t takes JB consecutive codes from t*JB, then
// the next L*JB); each distance is a sequential fp32 sum over the dims (a fixed order), and
// one final pass picks the minimum with ties to the lower index.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint VPW = 4;       // vectors per workgroup
layout(constant_id = 2) const uint XMAX = 1024;   // >= VPW * dim
layout(constant_id = 3) const uint JB = 4;        // codes per thread at once

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
    // Each thread scores JB consecutive codes at once: JB + VPW loads feed JB * VPW FMAs.
    for (uint j0 = t * JB; j0 < pc.codebook_size; j0 += L * JB) {
        float dist[JB * VPW];
        for (uint k = 0; k < JB * VPW; k++)
            dist[k] = 0.0;
        uint rows[JB];
        for (uint b = 0; b < JB; b++)
            rows[b] = min(j0 + b, pc.codebook_size - 1) * dim;
        for (uint c = 0; c < dim; c++) {
            float ec[JB];
            for (uint b = 0; b < JB; b++)
                ec[b] = float(e[rows[b] + c]);
            for (uint v = 0; v < VPW; v++) {
                float xv = x_sh[v * dim + c];
                for (uint b = 0; b < JB; b++) {
                    float diff = xv - ec[b];
                    dist[b * VPW + v] += diff * diff;
                }
            }
        }
        // j only grows within a thread, so strict < keeps the lower index on ties.
        for (uint b = 0; b < JB; b++)
            for (uint v = 0; v < VPW; v++)
                if (j0 + b < pc.codebook_size && dist[b * VPW + v] < best_d[v]) {
                    best_d[v] = dist[b * VPW + v];
                    best_j[v] = j0 + b;
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
