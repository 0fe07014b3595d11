#version 450
// 2-D convolution, NCHW, square kernel KS, stride S (1 or 2), zero padding PL on the left
// and pc.pad_top on top (right and bottom padding follow from Ho, Wo: reads past the input
// are zero), for in_channels, in_w and out_w multiples of 4: the CPU-device fast path (see
// ar-op-conv.c). Covers "same" 1x1 and 3x3 convolutions and taming-transformers' strided
// downsample (3x3, stride 2, padding right and bottom).
//
// On lavapipe every buffer load, scalar or vec4, uniform or not, becomes a loop over the
// SIMD lanes with a bounds check per lane, while an fp32 FMA is one vector instruction; so
// what pays is FMAs per load instruction. Each invocation owns TC output channels x TP
// consecutive pixels of a row (TP a multiple of 4) and loads everything as vec4: input rows
// as aligned vec4 columns (padding columns are whole vec4s outside the row, so they read as
// zero), and the KS*KS weights of 4 input channels as KS*KS vec4s per output channel.
// 3x3, TC=4, TP=8: ~14 FMAs per load instead of ~2.7 for the scalar kernel.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TC = 4;
layout(constant_id = 2) const uint TP = 8;
layout(constant_id = 3) const uint KS = 3;
layout(constant_id = 5) const uint S = 1;     // stride
layout(constant_id = 6) const uint PL = 1;    // left padding
// Channel groups per workgroup: for images with fewer tiles than lanes (4x4: 4 tiles), lane l
// takes tile l % n_tiles of channel group l / n_tiles, so that no lane idles (the C side sets
// it to local_size / n_tiles then, with one workgroup along x).
layout(constant_id = 7) const uint CG = 1;
// Texel variant, 3x3 stride 1 only: Winograd F(4,3) along each row (below).
layout(constant_id = 8) const bool WINO = false;
#ifdef USE_TEXEL
// Texel variant: input and weights read as uniform texel buffers of vec4s. On lavapipe
// (Mesa 22.3) a storage-buffer load is a loop over the lanes with a branch per lane and
// component, and so is a subgroupBroadcast; a texel fetch is straight-line code.
#endif
#ifdef USE_SUBGROUP
// Subgroup variant: the weights are the same for the whole workgroup, so the lanes of a
// subgroup load different weight vec4s (SG x 4 values per load instruction instead of 4)
// and hand them around with subgroupBroadcast, which is a register shuffle on lavapipe.
#extension GL_KHR_shader_subgroup_ballot : require
layout(constant_id = 4) const uint SG = 8;   // the device's subgroup size
#endif

#ifdef USE_TEXEL
layout(binding = 8) uniform samplerBuffer x_tex;
layout(binding = 9) uniform samplerBuffer w_tex;
#define LOAD_X(i) texelFetch(x_tex, int(i))
#define LOAD_W(i) texelFetch(w_tex, int(i))
#else
layout(std430, binding = 0) readonly buffer In { STYPE4 x4[]; };
layout(std430, binding = 1) readonly buffer Wt { STYPE4 w4[]; };
#define LOAD_X(i) vec4(x4[i])
#define LOAD_W(i) vec4(w4[i])
#endif
layout(std430, binding = 2) readonly buffer Bias { STYPE bias[]; };
layout(std430, binding = 3) buffer O { STYPE4 o4[]; };   // read too when accumulating

// Same layout as conv2d.comp's.
layout(push_constant) uniform Push {
    uint Cin, H, W;
    uint Cout, Ho, Wo;
    int pad_top, pad_left;
    uint tiles_x, n_tiles;
    uint has_bias;
    uint accumulate;   // out += the result (a residual add in the epilogue)
} pc;

// A tile's input columns start at ox0 * S - PL, which is SH elements into the vec4 column
// ox0 * S / 4 - SV (ox0 * S is a multiple of 4): NV vec4 columns cover its (TP-1) S + KS.
const uint SV = (PL + 3) / 4;
const uint SH = 4 * SV - PL;
const uint NV = (SH + (TP - 1) * S + KS + 3) / 4;
const uint KK = KS * KS;
const uint NW = 4 * KK;                 // weights of 4 input channels, per output channel
#ifdef USE_SUBGROUP
const uint NWV = TC * KK;               // weight vec4s per block of 4 input channels
const uint NR = (NWV + SG - 1) / SG;    // loads per lane per block
#endif

void main()
{
    const uint b = gl_WorkGroupID.z;
    const uint co0 = CG > 1 ? (gl_WorkGroupID.y * CG + gl_LocalInvocationID.x / pc.n_tiles) * TC
                            : gl_WorkGroupID.y * TC;
    const uint tile = CG > 1 ? gl_LocalInvocationID.x % pc.n_tiles : gl_GlobalInvocationID.x;
    // Invocations past the last tile compute a clamped tile and store nothing.
    const uint t = min(tile, pc.n_tiles - 1);
    const uint oy = t / pc.tiles_x;
    const uint ox0 = (t % pc.tiles_x) * TP;
    const uint W4 = pc.W / 4, Wo4 = pc.Wo / 4;

    uint vcol[NV];
    bool vok[NV];
    [[unroll]] for (uint j = 0; j < NV; j++) {
        int v = int(ox0 * S / 4) - int(SV) + int(j);
        vok[j] = v >= 0 && v < int(W4);
        vcol[j] = uint(clamp(v, 0, int(W4) - 1));
    }

    uint wrow[TC];
    [[unroll]] for (uint c = 0; c < TC; c++)
        wrow[c] = min(co0 + c, pc.Cout - 1) * (pc.Cin / 4) * KK;

    float acc[TC * TP];
    [[unroll]] for (uint i = 0; i < TC * TP; i++)
        acc[i] = 0.0;

    const uint plane4 = pc.H * W4;
#ifdef USE_TEXEL
    if (WINO) {
        // Winograd F(4,3) along rows: for one input channel and kernel row, 4 consecutive
        // outputs come from 6 products of transformed inputs u = B^T d (d: the 6 inputs they
        // read) and transformed weights v = G g; the transform back (A^T) runs once, after
        // the sums over every channel and kernel row. 6 multiply-adds per 4 outputs and row
        // instead of 12: llvmpipe emits no FMA, and multiply-adds were ~70% of the direct
        // block's instructions. Weights are transformed as they are fetched (the direct
        // block's fetches; stored transformed, they would take 6 per row instead of 3).
        // Every loop here must unroll: rolled, the arrays become indexed memory and
        // llvmpipe's limit of 65535 loop iterations per invocation cuts the loops short
        // without an error. An inner loop whose bounds depended on an outer loop's counter
        // stayed rolled (F(2,3) and 64-pixel tiles: 5x slower and wrong), so every bound
        // below is a constant. The op tests' 128-channel cases would fail otherwise.
        const uint NT = TP / 4;                 // Winograd tiles per invocation (wt)
        float m[TC * NT * 6];                   // [c][wt][k]: the transformed sums
        [[unroll]] for (uint i = 0; i < TC * NT * 6; i++)
            m[i] = 0.0;
        for (uint ci0 = 0; ci0 < pc.Cin; ci0 += 4) {
            float gt[TC * 12 * 6];              // [c][cc * 3 + ky][k]
            [[unroll]] for (uint c = 0; c < TC; c++) {
                float wv[36];                   // OIHW: [cc][ky][kx]
                [[unroll]] for (uint q = 0; q < 9; q++) {
                    vec4 v = LOAD_W(wrow[c] + (ci0 / 4) * KK + q);
                    [[unroll]] for (uint e = 0; e < 4; e++)
                        wv[4 * q + e] = v[e];
                }
                [[unroll]] for (uint f = 0; f < 12; f++) {
                    float g0 = wv[3 * f], g1 = wv[3 * f + 1], g2 = wv[3 * f + 2];
                    float even = g0 * (1.0 / 24.0) + g2 * (1.0 / 6.0), odd = g1 * (1.0 / 12.0);
                    const uint o = (c * 12 + f) * 6;
                    gt[o] = g0 * 0.25;
                    gt[o + 1] = (g0 + g1 + g2) * (-1.0 / 6.0);
                    gt[o + 2] = (g0 - g1 + g2) * (-1.0 / 6.0);
                    gt[o + 3] = even + odd;
                    gt[o + 4] = even - odd;
                    gt[o + 5] = g2;
                }
            }
            float u[12 * NT * 6];               // [cc * 3 + ky][wt][k]
            [[unroll]] for (uint cc = 0; cc < 4; cc++) {
                const uint in_base = (b * pc.Cin + ci0 + cc) * plane4;
                [[unroll]] for (uint ky = 0; ky < 3; ky++) {
                    int iy = int(oy + ky) - pc.pad_top;
                    bool row_ok = iy >= 0 && iy < int(pc.H);
                    uint row = in_base + uint(clamp(iy, 0, int(pc.H) - 1)) * W4;
                    float xv[NV * 4];
                    [[unroll]] for (uint j = 0; j < NV; j++) {
                        vec4 v = LOAD_X(row + vcol[j]);
                        v = row_ok && vok[j] ? v : vec4(0.0);
                        [[unroll]] for (uint e = 0; e < 4; e++)
                            xv[4 * j + e] = v[e];
                    }
                    [[unroll]] for (uint wt = 0; wt < NT; wt++) {
                        const uint o = ((cc * 3 + ky) * NT + wt) * 6, x0 = SH + 4 * wt;
                        float d0 = xv[x0], d1 = xv[x0 + 1], d2 = xv[x0 + 2], d3 = xv[x0 + 3],
                            d4 = xv[x0 + 4], d5 = xv[x0 + 5];
                        float e1 = d4 - 4.0 * d2, o1 = d3 - 4.0 * d1;
                        float e3 = d4 - d2, o3 = 2.0 * (d3 - d1);
                        u[o] = 4.0 * d0 - 5.0 * d2 + d4;
                        u[o + 1] = e1 + o1;
                        u[o + 2] = e1 - o1;
                        u[o + 3] = e3 + o3;
                        u[o + 4] = e3 - o3;
                        u[o + 5] = 4.0 * d1 - 5.0 * d3 + d5;
                    }
                }
            }
            // Runs of up to 8 sums (one k, consecutive tiles) take all 12 channel rows in a row,
            // as the direct block's accumulator runs do.
            const uint RT = NT < 8 ? NT : 8;
            [[unroll]] for (uint c = 0; c < TC; c++) {
                [[unroll]] for (uint k = 0; k < 6; k++) {
                    [[unroll]] for (uint t0 = 0; t0 < NT; t0 += RT) {
                        [[unroll]] for (uint f = 0; f < 12; f++) {
                            float w = gt[(c * 12 + f) * 6 + k];
                            [[unroll]] for (uint q = 0; q < RT; q++)
                                m[(c * NT + t0 + q) * 6 + k] = fma(u[(f * NT + t0 + q) * 6 + k],
                                    w, m[(c * NT + t0 + q) * 6 + k]);
                        }
                    }
                }
            }
        }
        [[unroll]] for (uint c = 0; c < TC; c++) {
            [[unroll]] for (uint wt = 0; wt < NT; wt++) {
                const uint o = (c * NT + wt) * 6, y = c * TP + 4 * wt;
                float s = m[o + 1] + m[o + 2], d = m[o + 1] - m[o + 2];
                float s2 = m[o + 3] + m[o + 4], d2 = m[o + 3] - m[o + 4];
                acc[y] = m[o] + s + s2;
                acc[y + 1] = d + 2.0 * d2;
                acc[y + 2] = s + 4.0 * s2;
                acc[y + 3] = d + 8.0 * d2 + m[o + 5];
            }
        }
    } else
#endif
    for (uint ci0 = 0; ci0 < pc.Cin; ci0 += 4) {
#ifdef USE_SUBGROUP
        vec4 wl[NR];
        [[unroll]] for (uint r = 0; r < NR; r++) {
            uint g = min(r * SG + gl_SubgroupInvocationID, NWV - 1);
            uint co = min(co0 + g / KK, pc.Cout - 1);
            wl[r] = LOAD_W((co * (pc.Cin / 4) + ci0 / 4) * KK + g % KK);
        }
#else
        float wv[TC * NW];
        [[unroll]] for (uint c = 0; c < TC; c++) {
            [[unroll]] for (uint q = 0; q < KK; q++) {
                vec4 v = LOAD_W(wrow[c] + (ci0 / 4) * KK + q);
                [[unroll]] for (uint e = 0; e < 4; e++)
                    wv[c * NW + 4 * q + e] = v[e];
            }
        }
        // The 4 channels' KS input rows of the tile, all fetched before any product.
        float xa[4 * KS * NV * 4];
#endif
        [[unroll]] for (uint cc = 0; cc < 4; cc++) {
            const uint in_base = (b * pc.Cin + ci0 + cc) * plane4;
            [[unroll]] for (uint ky = 0; ky < KS; ky++) {
                int iy = int(oy * S + ky) - pc.pad_top;
                bool row_ok = iy >= 0 && iy < int(pc.H);
                uint row = in_base + uint(clamp(iy, 0, int(pc.H) - 1)) * W4;
                float xv[NV * 4];
                [[unroll]] for (uint j = 0; j < NV; j++) {
                    vec4 v = LOAD_X(row + vcol[j]);
                    v = row_ok && vok[j] ? v : vec4(0.0);
                    [[unroll]] for (uint e = 0; e < 4; e++)
                        xv[4 * j + e] = v[e];
                }
#ifdef USE_SUBGROUP
                [[unroll]] for (uint c = 0; c < TC; c++) {
                    [[unroll]] for (uint kx = 0; kx < KS; kx++) {
                        const uint f = cc * KK + ky * KS + kx, g = c * KK + f / 4;
                        float wgt = subgroupBroadcast(wl[g / SG][f % 4], g % SG);
                        [[unroll]] for (uint p = 0; p < TP; p++)
                            acc[c * TP + p] = fma(xv[SH + p * S + kx], wgt, acc[c * TP + p]);
                    }
                }
#else
                [[unroll]] for (uint i = 0; i < NV * 4; i++)
                    xa[(cc * KS + ky) * NV * 4 + i] = xv[i];
#endif
            }
        }
#ifndef USE_SUBGROUP
        // Accumulator runs: PR accumulators at a time take all 4 * KS * KS taps in a row, so
        // on a CPU (the unrolled block is straight-line code) they stay in registers while
        // the operands stream from the stack, instead of every accumulator being reloaded
        // and stored for each tap. Lavapipe, 64->64 3x3 at 64x64: 51-57 -> 60-69 GFLOP/s,
        // five alternating runs; iris-small encode 58-61 -> 52-54 ms, decode 90 -> 79.
        const uint PR = TP < 8 ? TP : 8;   // TP is 4, 8 or 16 (a multiple of PR): ar-op-conv.c
        [[unroll]] for (uint c = 0; c < TC; c++) {
            [[unroll]] for (uint p0 = 0; p0 < TP; p0 += PR) {
                [[unroll]] for (uint cc = 0; cc < 4; cc++) {
                    [[unroll]] for (uint ky = 0; ky < KS; ky++) {
                        [[unroll]] for (uint kx = 0; kx < KS; kx++) {
                            float wgt = wv[c * NW + cc * KK + ky * KS + kx];
                            [[unroll]] for (uint q = 0; q < PR; q++)
                                acc[c * TP + p0 + q] = fma(xa[(cc * KS + ky) * NV * 4 + SH
                                    + (p0 + q) * S + kx], wgt, acc[c * TP + p0 + q]);
                        }
                    }
                }
            }
        }
#endif
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
