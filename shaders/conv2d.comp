#version 450
// 2-D convolution, NCHW: out[b,co,oy,ox] = bias[co] +
//   sum_{ci,ky,kx} in[b,ci,oy*S-pad_top+ky,ox*S-pad_left+kx] * w[co,ci,ky,kx]
// (zero outside the input).
//
// Register blocking without shared memory: each invocation owns TC output channels x TP
// consecutive pixels of one output row. The channel block comes from the workgroup (uniform
// weight loads); per (ci, ky) the (TP-1)*S+KW input values under the TP windows are loaded
// once and reused for every kx and every channel.
//
// With -DSPLIT_CIN a whole subgroup owns each tile and its lanes take every SG-th input
// channel, summed by subgroupAdd at the end: small images (a few tiles, many channels) get
// SG times the invocations and a loop SG times shorter, instead of a few invocations walking
// every channel in turn.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#if defined(SPLIT_CIN)
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TC = 4;
layout(constant_id = 2) const uint TP = 4;
layout(constant_id = 3) const uint KH = 3;
layout(constant_id = 4) const uint KW = 3;
layout(constant_id = 5) const uint STRIDE = 1;

layout(std430, binding = 0) readonly buffer In { STYPE x[]; };
layout(std430, binding = 1) readonly buffer Wt { STYPE w[]; };
layout(std430, binding = 2) readonly buffer Bias { STYPE bias[]; };
layout(std430, binding = 3) buffer O { STYPE o[]; };   // read too when accumulating

layout(push_constant) uniform Push {
    uint Cin, H, W;
    uint Cout, Ho, Wo;
    int pad_top, pad_left;
    uint tiles_x, n_tiles;
    uint has_bias;
    uint accumulate;   // out += the result (a residual add in the epilogue)
} pc;

const uint NX = (TP - 1) * STRIDE + KW;

void main()
{
    const uint b = gl_WorkGroupID.z;
    const uint co0 = gl_WorkGroupID.y * TC;
#if defined(SPLIT_CIN)
    const uint tile = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID;
    const uint ci_first = gl_SubgroupInvocationID, ci_step = gl_SubgroupSize;
#else
    const uint tile = gl_GlobalInvocationID.x;
    const uint ci_first = 0, ci_step = 1;
#endif
    // Invocations past the last tile compute a clamped tile and store nothing.
    const uint t = min(tile, pc.n_tiles - 1);
    const uint oy = t / pc.tiles_x;
    const uint ox0 = (t % pc.tiles_x) * TP;

    // Input columns under the tile, clamped into the image, with their validity.
    const int ix0 = int(ox0 * STRIDE) - pc.pad_left;
    uint xcol[NX];
    bool xok[NX];
    for (uint i = 0; i < NX; i++) {
        int ix = ix0 + int(i);
        xok[i] = ix >= 0 && ix < int(pc.W);
        xcol[i] = uint(clamp(ix, 0, int(pc.W) - 1));
    }
    const int iy0 = int(oy * STRIDE) - pc.pad_top;

    uint wrow[TC];
    for (uint c = 0; c < TC; c++)
        wrow[c] = min(co0 + c, pc.Cout - 1) * pc.Cin * KH * KW;

    float acc[TC * TP];
    for (uint i = 0; i < TC * TP; i++)
        acc[i] = 0.0;

    const uint plane = pc.H * pc.W;
    for (uint ci = ci_first; ci < pc.Cin; ci += ci_step) {
        const uint in_base = (b * pc.Cin + ci) * plane;
        for (uint ky = 0; ky < KH; ky++) {
            int iy = iy0 + int(ky);
            bool row_ok = iy >= 0 && iy < int(pc.H);
            uint row = in_base + uint(clamp(iy, 0, int(pc.H) - 1)) * pc.W;
            float xv[NX];
            for (uint i = 0; i < NX; i++) {
                float v = float(x[row + xcol[i]]);
                xv[i] = row_ok && xok[i] ? v : 0.0;
            }
            uint wofs = (ci * KH + ky) * KW;
            for (uint c = 0; c < TC; c++) {
                for (uint kx = 0; kx < KW; kx++) {
                    float wv = float(w[wrow[c] + wofs + kx]);
                    for (uint p = 0; p < TP; p++)
                        acc[c * TP + p] = fma(xv[p * STRIDE + kx], wv, acc[c * TP + p]);
                }
            }
        }
    }

#if defined(SPLIT_CIN)
    for (uint i = 0; i < TC * TP; i++)
        acc[i] = subgroupAdd(acc[i]);
#endif
    if (tile >= pc.n_tiles)
        return;
    for (uint c = 0; c < TC; c++) {
        uint co = co0 + c;
        if (co >= pc.Cout)
            break;
        float bv = pc.has_bias != 0 ? float(bias[co]) : 0.0;
        uint obase = ((b * pc.Cout + co) * pc.Ho + oy) * pc.Wo;
        for (uint p = 0; p < TP; p++) {
#if defined(SPLIT_CIN)
            // Every lane holds the sums; the lanes share the stores.
            if (gl_SubgroupInvocationID != (c * TP + p) % gl_SubgroupSize)
                continue;
#endif
            if (ox0 + p < pc.Wo) {
                float v = acc[c * TP + p] + bv;
                if (pc.accumulate != 0)
                    v += float(o[obase + ox0 + p]);
                o[obase + ox0 + p] = STYPE(v);
            }
        }
    }
}
