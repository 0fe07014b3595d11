#version 450
// Batched matmul, the CPU-device kernel: out[b,m,n] = act(alpha * sum_k A[b,m,k] * W[b,n,k]
// + bias[n]) (+ out[b,m,n] when accumulate), for K-contiguous W ([N,K], nn.Linear). Same
// push constants as matmul.comp; needs K % 4 == 0 and 4-aligned rows of A and W.
//
// Why texel buffers: on lavapipe (Mesa 22.3) a storage-buffer load is a loop over the SIMD
// lanes with a branch per lane and component, and so is a subgroupBroadcast; a texel fetch
// from a uniform texel buffer is straight-line code (one 16-byte load per lane and a
// transpose). So A and W are read as vec4 texels. Lanes go across rows: each invocation owns
// TM rows; the workgroup's TN columns are the same for all lanes (one fetch each per 4 k).
// With LANES_N (few rows: a refresh frame's 17) lanes go across columns instead: the
// workgroup's TM rows are the same for all lanes and each invocation owns TN columns, so
// that no lane computes rows past M (llvmpipe runs every lane of every row, masked or not).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
#include "activation.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TM = 8;
layout(constant_id = 2) const uint TN = 16;
layout(constant_id = 3) const uint KU = 2;   // texels of K per pass over the accumulators
// Outputs, bias and the accumulated output as vec4s of 4 consecutive columns (the C side sets
// it where N, o_ld, o_off and o_bs are multiples of 4): on lavapipe every storage-buffer
// access is a loop over the lanes, and one per vec4 instead of one per value made the
// iris-small prefill products 7-25% faster (the GELU one 20%).
layout(constant_id = 4) const bool OUT4 = false;
layout(constant_id = 5) const bool LANES_N = false;   // lanes across columns (TN % 4 == 0)

layout(std430, binding = 2) readonly buffer Bias { STYPE bias[]; };
layout(std430, binding = 3) buffer O { STYPE o[]; };
layout(std430, binding = 3) buffer O4 { STYPE4 o4[]; };          // the same, OUT4
layout(std430, binding = 2) readonly buffer Bias4 { STYPE4 bias4[]; };
layout(binding = 8) uniform samplerBuffer a_tex;   // A as vec4s along K
layout(binding = 9) uniform samplerBuffer w_tex;   // W as vec4s along K

layout(push_constant) uniform Push {
    uint M, N, K;
    uint a_off, a_ld, a_bs;
    uint w_off, w_sn, w_sk, w_bs;
    uint o_off, o_ld, o_bs;
    uint has_bias;
    float alpha;
    uint accumulate;
    float eps;      // matvec.comp's norm prologue; unused here
} pc;

uint row_of(uint m0, uint i, uint L)
{
    return LANES_N ? m0 + i : m0 + i * L;
}

uint col_of(uint n0, uint j, uint L, uint lane)
{
    return LANES_N ? n0 + ((j / 4) * L + lane) * 4 + j % 4 : n0 + j;
}

void main()
{
    const uint L = gl_WorkGroupSize.x;
    const uint lane = gl_LocalInvocationID.x;
    const uint b = gl_WorkGroupID.z;
    // Rows lane + i*L of the workgroup's block and its TN columns for all of it; or, with
    // LANES_N, rows i of the block for all lanes and the lane's columns in runs of 4 (a vec4
    // of output), consecutive lanes' runs adjacent. Column blocks vary fastest (x) in the
    // grid, so consecutive workgroups share A's rows: a row block stays in cache while W
    // streams past it once, instead of A (K = 1024: over a MiB) being re-read for every
    // column block.
    const uint m0 = LANES_N ? gl_WorkGroupID.y * TM : gl_WorkGroupID.y * L * TM + lane;
    const uint n0 = LANES_N ? gl_WorkGroupID.x * TN * L : gl_WorkGroupID.x * TN;

    // Out-of-range rows and columns read a clamped (valid) row and are not stored.
    int a_row[TM];
    [[unroll]] for (uint i = 0; i < TM; i++)
        a_row[i] = int((pc.a_off + b * pc.a_bs + min(row_of(m0, i, L), pc.M - 1) * pc.a_ld) / 4);
    int w_row[TN];
    [[unroll]] for (uint j = 0; j < TN; j++)
        w_row[j] = int((pc.w_off + b * pc.w_bs + min(col_of(n0, j, L, lane), pc.N - 1) * pc.w_sn) / 4);

    float acc[TM * TN];
    [[unroll]] for (uint t = 0; t < TM * TN; t++)
        acc[t] = 0.0;

    const int K4 = int(pc.K / 4);
    int k = 0;
    // KU texels of K per pass: each accumulator (spilled: TM x TN of them) is loaded and
    // stored once per 4 KU products instead of 4.
    for (; k + int(KU) <= K4; k += int(KU)) {
        vec4 av[KU * TM];
        [[unroll]] for (uint i = 0; i < TM; i++)
            [[unroll]] for (uint u = 0; u < KU; u++)
                av[KU * i + u] = texelFetch(a_tex, a_row[i] + k + int(u));
        [[unroll]] for (uint j = 0; j < TN; j++) {
            vec4 wv[KU];
            [[unroll]] for (uint u = 0; u < KU; u++)
                wv[u] = texelFetch(w_tex, w_row[j] + k + int(u));
            [[unroll]] for (uint i = 0; i < TM; i++) {
                float c = acc[i * TN + j];
                [[unroll]] for (uint u = 0; u < KU; u++) {
                    vec4 a = av[KU * i + u];
                    c = fma(a.w, wv[u].w, fma(a.z, wv[u].z, fma(a.y, wv[u].y, fma(a.x, wv[u].x, c))));
                }
                acc[i * TN + j] = c;
            }
        }
    }
    for (; k < K4; k++) {
        vec4 av[TM];
        [[unroll]] for (uint i = 0; i < TM; i++)
            av[i] = texelFetch(a_tex, a_row[i] + k);
        [[unroll]] for (uint j = 0; j < TN; j++) {
            vec4 wv = texelFetch(w_tex, w_row[j] + k);
            // Explicit fmas: dot() becomes separate multiplies and adds on lavapipe.
            [[unroll]] for (uint i = 0; i < TM; i++)
                acc[i * TN + j] = fma(av[i].w, wv.w, fma(av[i].z, wv.z,
                    fma(av[i].y, wv.y, fma(av[i].x, wv.x, acc[i * TN + j]))));
        }
    }

    if (OUT4) {
        [[unroll]] for (uint j4 = 0; j4 < TN / 4; j4++) {
            uint n = col_of(n0, 4 * j4, L, lane);
            if (n >= pc.N)
                break;   // a lane's columns grow with j in both layouts
            vec4 bv = pc.has_bias != 0 ? vec4(bias4[n / 4]) : vec4(0.0);
            [[unroll]] for (uint i = 0; i < TM; i++) {
                uint m = row_of(m0, i, L);
                if (m < pc.M) {
                    uint idx = (pc.o_off + b * pc.o_bs + m * pc.o_ld + n) / 4;
                    vec4 v;
                    [[unroll]] for (uint e = 0; e < 4; e++)
                        v[e] = ar_activate(pc.alpha * acc[i * TN + 4 * j4 + e] + bv[e]);
                    if (pc.accumulate != 0)
                        v += vec4(o4[idx]);
                    o4[idx] = STYPE4(v);
                }
            }
        }
        return;
    }
    [[unroll]] for (uint j = 0; j < TN; j++) {
        uint n = col_of(n0, j, L, lane);
        if (n >= pc.N)
            break;
        float bv = pc.has_bias != 0 ? float(bias[n]) : 0.0;
        [[unroll]] for (uint i = 0; i < TM; i++) {
            uint m = row_of(m0, i, L);
            if (m < pc.M) {
                uint idx = pc.o_off + b * pc.o_bs + m * pc.o_ld + n;
                float v = ar_activate(pc.alpha * acc[i * TN + j] + bv);
                if (pc.accumulate != 0)
                    v += float(o[idx]);
                o[idx] = STYPE(v);
            }
        }
    }
}
