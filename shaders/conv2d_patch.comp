#version 450
// 2-D convolution for GPUs (same semantics and push constants as conv2d.comp) on input
// patches staged in shared memory.
//
// A workgroup computes BC output channels x TH output rows x TW output columns of one image.
// Each invocation owns TC consecutive channels x TP consecutive pixels of one row (TC x TP fp32
// accumulators). Input channels go in chunks of CC: the workgroup stages the input patch under
// its tile, [CC][PH][PW] with zeros outside the image (so the inner loop has no bounds checks),
// and the weights of its BC channels, [CC*KH*KW][BC] (an invocation's TC channels are one or
// two vec4 loads). Per (ci, ky) an invocation reads the NX patch values under its TP windows
// once and, per kx, TC weights for TC x TP FMAs. While a chunk is computed the next one is
// already loaded into registers, so its global-memory latency hides behind the FMAs.
//
// Unlike conv2d_tile.comp (im2col gathered per element with divisions, one 64-pixel tile per
// workgroup), each input element is loaded once per chunk and reused KH*KW times from shared
// memory. The tile shape is all specialization constants (see ar-op-conv.c,
// AR_CONV_PATCH_TILE).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(local_size_x_id = 0) in;               // NI below: the C side computes the same
layout(constant_id = 1) const uint BC = 64;   // output channels per workgroup
layout(constant_id = 2) const uint TC = 4;    // output channels per invocation, a multiple of 4
layout(constant_id = 3) const uint TP = 4;    // output pixels of a row per invocation
layout(constant_id = 4) const uint TW = 16;   // output columns per workgroup, a multiple of TP
layout(constant_id = 5) const uint TH = 2;    // output rows per workgroup
layout(constant_id = 6) const uint CC = 8;    // input channels per chunk
layout(constant_id = 7) const uint KH = 3;
layout(constant_id = 8) const uint KW = 3;
layout(constant_id = 9) const uint STRIDE = 1;

layout(std430, binding = 0) readonly buffer In { STYPE x[]; };
layout(std430, binding = 1) readonly buffer Wt { STYPE w[]; };
layout(std430, binding = 2) readonly buffer Bias { STYPE bias[]; };
layout(std430, binding = 3) buffer O { STYPE o[]; };   // read too when accumulating

layout(push_constant) uniform Push {
    uint Cin, H, W;
    uint Cout, Ho, Wo;
    int pad_top, pad_left;
    uint tiles_x, n_tiles;   // tiles of TH x TW pixels: per row, per image
    uint has_bias;
    uint accumulate;   // out += the result (a residual add in the epilogue)
} pc;

const uint NPG = TW / TP;                       // pixel groups per row
const uint NI = (BC / TC) * NPG * TH;           // invocations
const uint PH = (TH - 1) * STRIDE + KH;         // input patch rows
const uint PW = (TW - 1) * STRIDE + KW;         // input patch columns
const uint NX = (TP - 1) * STRIDE + KW;         // patch values under an invocation's windows
const uint KK = KH * KW;
const uint KC = CC * KK;                        // weights per output channel per chunk
// Weights are staged as vec4s of 4 output channels; neighbouring lanes take KG neighbouring
// k of the same channels (coalesced global loads) and store rows SW4 vec4s apart: with the
// one vec4 of padding the KG lanes of a 128-bit store phase hit distinct banks.
const uint KG = 8;
const uint KCR = (KC + KG - 1) / KG * KG;
const uint SW4 = BC / 4 + 1;
const uint N_XS = (CC * PH * PW + NI - 1) / NI;    // patch elements staged per invocation
const uint N_WS = (BC / 4 * KCR + NI - 1) / NI;    // weight vec4s staged per invocation

shared float sh_x[CC * PH * PW];   // [c][y][x]
shared vec4 sh_w[KC * SW4];        // [k][channel / 4], k = (c * KH + ky) * KW + kx

// The next chunk, in registers until the current one is computed.
float g_xs[N_XS];
vec4 g_ws[N_WS];
uint g_co0, g_in_base;
int g_iy0, g_ix0;

// Branch-free: every lane loads from an index clamped into the tensor and keeps the value or
// a zero (the padding, channels past the last, the tail of the staging loop).
void load_chunk(uint ci0)
{
    const uint tid = gl_LocalInvocationID.x;
    [[unroll]] for (uint i = 0; i < N_XS; i++) {
        uint e = tid + i * NI;
        uint c = e / (PH * PW), yx = e % (PH * PW);
        int iy = g_iy0 + int(yx / PW), ix = g_ix0 + int(yx % PW);
        bool ok = e < CC * PH * PW && ci0 + c < pc.Cin && iy >= 0 && iy < int(pc.H)
            && ix >= 0 && ix < int(pc.W);
        uint src = g_in_base + (min(ci0 + c, pc.Cin - 1) * pc.H
            + uint(clamp(iy, 0, int(pc.H) - 1))) * pc.W + uint(clamp(ix, 0, int(pc.W) - 1));
        g_xs[i] = mix(0.0, float(x[src]), ok);
    }
    const uint row = pc.Cin * KK;   // one output channel's weights
    [[unroll]] for (uint i = 0; i < N_WS; i++) {
        uint e = tid + i * NI, q = e / KG;
        uint k = (q / (BC / 4)) * KG + e % KG, co = g_co0 + (q % (BC / 4)) * 4;
        uint kin = ci0 * KK + k;
        bool ok = k < KC && kin < row;
        uint src = min(kin, row - 1);
        [[unroll]] for (uint j = 0; j < 4; j++) {
            float v = float(w[min(co + j, pc.Cout - 1) * row + src]);
            g_ws[i][j] = mix(0.0, v, ok && co + j < pc.Cout);
        }
    }
}

void store_chunk()
{
    const uint tid = gl_LocalInvocationID.x;
    [[unroll]] for (uint i = 0; i < N_XS; i++) {
        uint e = tid + i * NI;
        if (e < CC * PH * PW)
            sh_x[e] = g_xs[i];
    }
    [[unroll]] for (uint i = 0; i < N_WS; i++) {
        uint e = tid + i * NI, q = e / KG;
        uint k = (q / (BC / 4)) * KG + e % KG;
        if (k < KC)
            sh_w[k * SW4 + q % (BC / 4)] = g_ws[i];
    }
}

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    const uint pg = tid % NPG, r = (tid / NPG) % TH, cg = tid / (NPG * TH);
    const uint b = gl_WorkGroupID.z;
    const uint oy0 = gl_WorkGroupID.x / pc.tiles_x * TH;
    const uint ox0 = gl_WorkGroupID.x % pc.tiles_x * TW;
    g_co0 = gl_WorkGroupID.y * BC;
    g_in_base = b * pc.Cin * pc.H * pc.W;
    g_iy0 = int(oy0 * STRIDE) - pc.pad_top;
    g_ix0 = int(ox0 * STRIDE) - pc.pad_left;

    float acc[TC * TP];
    [[unroll]] for (uint i = 0; i < TC * TP; i++)
        acc[i] = 0.0;

    // This invocation's first patch value and first weight vec4 in the chunk.
    const uint x_at = r * STRIDE * PW + pg * TP * STRIDE;
    const uint w_at = cg * (TC / 4);
    load_chunk(0);
    for (uint ci0 = 0; ci0 < pc.Cin; ci0 += CC) {
        store_chunk();
        barrier();
        if (ci0 + CC < pc.Cin)
            load_chunk(ci0 + CC);
        for (uint c = 0; c < CC; c++) {
            [[unroll]] for (uint ky = 0; ky < KH; ky++) {
                float xv[NX];
                [[unroll]] for (uint i = 0; i < NX; i++)
                    xv[i] = sh_x[(c * PH + ky) * PW + x_at + i];
                [[unroll]] for (uint kx = 0; kx < KW; kx++) {
                    [[unroll]] for (uint q = 0; q < TC / 4; q++) {
                        vec4 wv = sh_w[((c * KH + ky) * KW + kx) * SW4 + w_at + q];
                        [[unroll]] for (uint j = 0; j < 4; j++)
                            [[unroll]] for (uint p = 0; p < TP; p++)
                                acc[(4 * q + j) * TP + p] =
                                    fma(xv[p * STRIDE + kx], wv[j], acc[(4 * q + j) * TP + p]);
                    }
                }
            }
        }
        barrier();
    }

    const uint oy = oy0 + r, ox = ox0 + pg * TP;
    if (oy >= pc.Ho)
        return;
    [[unroll]] for (uint c = 0; c < TC; c++) {
        uint co = g_co0 + cg * TC + c;
        if (co >= pc.Cout)
            break;
        float bv = pc.has_bias != 0 ? float(bias[co]) : 0.0;
        uint obase = ((b * pc.Cout + co) * pc.Ho + oy) * pc.Wo + ox;
        [[unroll]] for (uint p = 0; p < TP; p++) {
            if (ox + p < pc.Wo) {
                float v = acc[c * TP + p] + bv;
                if (pc.accumulate != 0)
                    v += float(o[obase + p]);
                o[obase + p] = STYPE(v);
            }
        }
    }
}
