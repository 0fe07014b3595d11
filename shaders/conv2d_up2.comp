#version 450
// A nearest-neighbour 2x upsample followed by a "same" 3x3 convolution (taming-transformers'
// Upsample), as one convolution of the low-resolution input, NCHW: output pixel (2y+a, 2x+b)
// sees only the 2x2 input window at rows y-1+a.., columns x-1+b.., with weights that sum the
// 3x3 taps landing on the same input pixel (conv2d_up2_weights.comp). So 4 products per output
// pixel and input channel instead of 9, and no upsampled tensor is written or read.
//
// The CPU-device kernel, built like conv2d_v4.comp's texel variant (see there why): each
// invocation owns TC output channels x TP consecutive pixels of an output row; input rows and
// weights are fetched as vec4 texels, then accumulator runs of 8 pixels take all taps of a
// block of 4 input channels. Needs in_channels and in_w multiples of 4; TP is 8 or 16, so a
// tile's input columns start on a vec4 (its output columns at a multiple of 8).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TC = 16;
layout(constant_id = 2) const uint TP = 16;

layout(binding = 8) uniform samplerBuffer x_tex;   // input [batch, Cin, H, W], vec4s along W
// Phase weights [Cout, Cin/4, 2 (a), 4 (input channel of the block), 2 (b), 2 (row), 2 (col)]
layout(binding = 9) uniform samplerBuffer w_tex;
layout(std430, binding = 2) readonly buffer Bias { STYPE bias[]; };
layout(std430, binding = 3) buffer O { STYPE4 o4[]; };   // read too when accumulating

// Same layout as conv2d.comp's; H and W are the input's, Ho = 2H and Wo = 2W.
layout(push_constant) uniform Push {
    uint Cin, H, W;
    uint Cout, Ho, Wo;
    int pad_top, pad_left;
    uint tiles_x, n_tiles;
    uint has_bias;
    uint accumulate;   // out += the result
} pc;

// A tile's input columns x0-1 .. x0+TP/2 (x0 = ox0/2, a multiple of 4) lie in the NV vec4
// columns from x0/4 - 1; input column x0 + k is element 4 + k of them.
const uint NV = TP / 8 + 2;
const uint PR = 8;    // accumulators per run
const uint NWP = 32;  // phase weights of one output channel, a and 4 input channels

void main()
{
    const uint b = gl_WorkGroupID.z;
    const uint co0 = gl_WorkGroupID.y * TC;
    const uint tile = gl_GlobalInvocationID.x;
    // Invocations past the last tile compute a clamped tile and store nothing.
    const uint t = min(tile, pc.n_tiles - 1);
    const uint oy = t / pc.tiles_x;
    const uint ox0 = (t % pc.tiles_x) * TP;
    const uint a = oy & 1u, y = oy >> 1;
    const uint W4 = pc.W / 4, Wo4 = pc.Wo / 4;

    uint vcol[NV];
    bool vok[NV];
    [[unroll]] for (uint j = 0; j < NV; j++) {
        int v = int(ox0 / 8) - 1 + int(j);
        vok[j] = v >= 0 && v < int(W4);
        vcol[j] = uint(clamp(v, 0, int(W4) - 1));
    }
    // Input rows y - 1 + a and y + a.
    uint rowoff[2];
    bool rok[2];
    [[unroll]] for (uint i = 0; i < 2; i++) {
        int iy = int(y) - 1 + int(a) + int(i);
        rok[i] = iy >= 0 && iy < int(pc.H);
        rowoff[i] = uint(clamp(iy, 0, int(pc.H) - 1)) * W4;
    }
    uint wrow[TC];
    [[unroll]] for (uint c = 0; c < TC; c++)
        wrow[c] = (min(co0 + c, pc.Cout - 1) * (pc.Cin / 4) * 2 + a) * (NWP / 4);

    float acc[TC * TP];
    [[unroll]] for (uint i = 0; i < TC * TP; i++)
        acc[i] = 0.0;

    const uint plane4 = pc.H * W4;
    for (uint ci0 = 0; ci0 < pc.Cin; ci0 += 4) {
        float wv[TC * NWP];
        [[unroll]] for (uint c = 0; c < TC; c++) {
            [[unroll]] for (uint q = 0; q < NWP / 4; q++) {
                vec4 v = texelFetch(w_tex, int(wrow[c] + (ci0 / 4) * 2 * (NWP / 4) + q));
                [[unroll]] for (uint e = 0; e < 4; e++)
                    wv[c * NWP + 4 * q + e] = v[e];
            }
        }
        float xa[4 * 2 * NV * 4];
        [[unroll]] for (uint cc = 0; cc < 4; cc++) {
            const uint in_base = (b * pc.Cin + ci0 + cc) * plane4;
            [[unroll]] for (uint i = 0; i < 2; i++) {
                [[unroll]] for (uint j = 0; j < NV; j++) {
                    vec4 v = texelFetch(x_tex, int(in_base + rowoff[i] + vcol[j]));
                    v = rok[i] && vok[j] ? v : vec4(0.0);
                    [[unroll]] for (uint e = 0; e < 4; e++)
                        xa[(cc * 2 + i) * NV * 4 + 4 * j + e] = v[e];
                }
            }
        }
        // Pixel p = 2k + bp of the tile reads input columns x0 + k - 1 + bp + jx.
        [[unroll]] for (uint c = 0; c < TC; c++) {
            [[unroll]] for (uint p0 = 0; p0 < TP; p0 += PR) {
                [[unroll]] for (uint cc = 0; cc < 4; cc++) {
                    [[unroll]] for (uint i = 0; i < 2; i++) {
                        [[unroll]] for (uint jx = 0; jx < 2; jx++) {
                            [[unroll]] for (uint q = 0; q < PR; q++) {
                                const uint p = p0 + q, bp = p & 1u;
                                float wgt = wv[c * NWP + cc * 8 + bp * 4 + i * 2 + jx];
                                acc[c * TP + p] = fma(xa[(cc * 2 + i) * NV * 4 + 3 + p / 2 + bp
                                    + jx], wgt, acc[c * TP + p]);
                            }
                        }
                    }
                }
            }
        }
    }

    if (tile >= pc.n_tiles)
        return;
    [[unroll]] for (uint c = 0; c < TC; c++) {
        uint co = co0 + c;
        if (co >= pc.Cout)
            break;
        float bv = pc.has_bias != 0 ? float(bias[co]) : 0.0;
        uint obase = ((b * pc.Cout + co) * pc.Ho + oy) * Wo4 + ox0 / 4;
        [[unroll]] for (uint q = 0; q < TP / 4; q++) {
            if (ox0 / 4 + q < Wo4) {
                vec4 v = vec4(acc[c * TP + 4 * q], acc[c * TP + 4 * q + 1],
                    acc[c * TP + 4 * q + 2], acc[c * TP + 4 * q + 3]) + bv;
                if (pc.accumulate != 0)
                    v += vec4(o4[obase + q]);
                o4[obase + q] = STYPE4(v);
            }
        }
    }
}
