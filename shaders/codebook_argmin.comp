#version 450
// Nearest codebook entry for VPW vectors per workgroup. The vectors are staged in shared
// memory; the threads split the codebook (thread t takes JB consecutive codes from t*JB, then
// the next L*JB); each distance is a sequential fp32 sum over the dims (a fixed order), and
// pairwise merges pick the minimum with ties to the lower index.
//
// USE_TEXEL (codebook_argmin_texel), the CPU-device kernel, for channel-major vectors with hw
// and dim multiples of 4: no shared memory, x and E read as uniform texel buffers of vec4s.
// On lavapipe (Mesa 22.3) every storage-buffer or shared-memory load is a loop over the SIMD
// lanes with a branch per lane; a texel fetch is straight-line code. A workgroup takes
// 4 * XV consecutive pixels of one image (one texel of x per dim holds 4 of them), its
// lanes JB codes each; per 4 dims, 4 * XV fetches of x (the same for all lanes) and JB of E
// feed 16 * XV * JB squared differences. The sums run over the dims in the same order, so
// the distances and tokens are the ones the shared-memory kernel gives.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint VPW = 4;       // vectors per workgroup
layout(constant_id = 2) const uint XMAX = 1024;   // >= VPW * dim
layout(constant_id = 3) const uint JB = 4;        // codes per thread at once

#ifdef USE_TEXEL
layout(constant_id = 4) const uint XV = 2;        // texels of x per dim: 4 * XV vectors
layout(binding = 8) uniform samplerBuffer x_tex;   // x, channel-major, vec4s along pixels
layout(binding = 9) uniform samplerBuffer e_tex;   // E, vec4s along dims
#else
layout(std430, binding = 0) readonly buffer X { STYPE x[]; };
layout(std430, binding = 1) readonly buffer E { STYPE e[]; };
#endif
layout(std430, binding = 2) writeonly buffer T { uint tokens[]; };

layout(push_constant) uniform Push {
    uint n;
    uint dim;
    uint codebook_size;
    uint hw;       // 0: rows [n, dim]; else channel-major [n / hw, dim, hw]
} pc;

#ifndef USE_TEXEL
shared float x_sh[XMAX];
#endif
shared float best_d_sh[VPW * gl_WorkGroupSize.x];
shared uint best_j_sh[VPW * gl_WorkGroupSize.x];

uint x_index(uint v, uint c)
{
    if (pc.hw == 0)
        return v * pc.dim + c;
    uint img = v / pc.hw, p = v % pc.hw;
    return (img * pc.dim + c) * pc.hw + p;
}

#ifdef USE_TEXEL
// This lane's best code for each of the workgroup's VPW (= 4 * XV) vectors, into the shared
// arrays; the vectors start at pixel v0 (a multiple of 4) of their image.
void score_codes(uint v0)
{
    const uint L = gl_WorkGroupSize.x;
    uint t = gl_LocalInvocationID.x;
    uint dim4 = pc.dim / 4;
    // Texel of x for dim 0 of this workgroup's pixels; dims are hw / 4 texels apart.
    uint img = v0 / pc.hw;
    int x_base = int((img * pc.dim * pc.hw + v0 % pc.hw) / 4);
    int x_step = int(pc.hw / 4);
    float best_d[VPW];
    uint best_j[VPW];
    [[unroll]] for (uint v = 0; v < VPW; v++) {
        best_d[v] = uintBitsToFloat(0x7f800000u);   // +inf
        best_j[v] = 0;
    }
    for (uint j0 = t * JB; j0 < pc.codebook_size; j0 += L * JB) {
        float dist[JB * VPW];
        [[unroll]] for (uint k = 0; k < JB * VPW; k++)
            dist[k] = 0.0;
        int rows[JB];
        [[unroll]] for (uint b = 0; b < JB; b++)
            rows[b] = int(min(j0 + b, pc.codebook_size - 1) * dim4);
        for (uint c4 = 0; c4 < dim4; c4++) {
            vec4 xs[4 * XV];   // [dim i of the 4][texel u]: pixels 4u..4u+3
            [[unroll]] for (uint i = 0; i < 4; i++)
                [[unroll]] for (uint u = 0; u < XV; u++)
                    xs[i * XV + u] = texelFetch(x_tex, x_base + int(4 * c4 + i) * x_step + int(u));
            [[unroll]] for (uint b = 0; b < JB; b++) {
                vec4 ev = texelFetch(e_tex, rows[b] + int(c4));
                [[unroll]] for (uint i = 0; i < 4; i++)
                    [[unroll]] for (uint u = 0; u < XV; u++) {
                        vec4 diff = xs[i * XV + u] - ev[i];
                        [[unroll]] for (uint q = 0; q < 4; q++)
                            dist[b * VPW + 4 * u + q] += diff[q] * diff[q];
                    }
            }
        }
        [[unroll]] for (uint b = 0; b < JB; b++)
            [[unroll]] for (uint v = 0; v < VPW; v++)
                if (j0 + b < pc.codebook_size && dist[b * VPW + v] < best_d[v]) {
                    best_d[v] = dist[b * VPW + v];
                    best_j[v] = j0 + b;
                }
    }
    [[unroll]] for (uint v = 0; v < VPW; v++) {
        best_d_sh[v * L + t] = best_d[v];
        best_j_sh[v * L + t] = best_j[v];
    }
}
#endif

void main()
{
    const uint L = gl_WorkGroupSize.x;
    uint t = gl_LocalInvocationID.x;
    uint v0 = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * VPW;
#ifdef USE_TEXEL
    // Spare workgroups of a 2-D grid (ar_cmd_groups_1d) leave whole, before any barrier.
    if (v0 >= pc.n)
        return;
    score_codes(v0);
#else
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
#endif
#ifndef USE_TEXEL
    // Pairwise merges, log2(L) rounds, instead of one invocation scanning all L candidates
    // (256 shared loads in a row in the wide shape). The order (distance, then index) is
    // total, so any merge order picks the same code; invocations without codes hold
    // (+inf, 0) like a thread whose every distance is +inf, and the lower index wins.
    for (uint s = 1u; s < L; s *= 2u) {
        barrier();
        if ((t & (2u * s - 1u)) == 0u && t + s < L)
            for (uint v = 0; v < VPW; v++) {
                float d = best_d_sh[v * L + t + s];
                uint jj = best_j_sh[v * L + t + s];
                float bd = best_d_sh[v * L + t];
                if (d < bd || (d == bd && jj < best_j_sh[v * L + t])) {
                    best_d_sh[v * L + t] = d;
                    best_j_sh[v * L + t] = jj;
                }
            }
    }
    barrier();
    if (t < VPW && v0 + t < pc.n)
        tokens[v0 + t] = best_j_sh[t * L];
#else
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
#endif
}
