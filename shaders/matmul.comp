#version 450
// Batched matmul: out[b,m,n] = act(alpha * sum_k A[b,m,k] * W[b,n,k] + bias[n])
// (+ out[b,m,n] when pc.accumulate).
// W element (n,k) lives at w_off + b*w_bs + n*w_sn + k*w_sk, so the same kernel serves
// nn.Linear weights ([N,K], w_sk = 1) and plain A @ B ([K,N], w_sn = 1).
//
// Register blocking without shared memory: each invocation owns TM rows x TN columns. The
// rows of a workgroup are the same for all its invocations (uniform A loads); columns are
// interleaved across invocations (n = n0 + lane + j*local), so W and out accesses of
// neighbouring invocations are adjacent when N is the contiguous dimension.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "activation.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TM = 4;
layout(constant_id = 2) const uint TN = 4;
// W is K-contiguous (w_sk == 1) and every A and W row starts at a multiple of 4 elements:
// load 4 k at once. On lavapipe this halves the time (fewer, wider loads per FMA).
layout(constant_id = 3) const bool K_VEC4 = false;

layout(std430, binding = 0) readonly buffer A { STYPE a[]; };
layout(std430, binding = 1) readonly buffer W { STYPE w[]; };
// vec4 views of the same buffers, used along K when K_VEC4 (the C side checks alignment).
layout(std430, binding = 0) readonly buffer A4 { STYPE4 a4[]; };
layout(std430, binding = 1) readonly buffer W4 { STYPE4 w4[]; };
layout(std430, binding = 2) readonly buffer Bias { STYPE bias[]; };
// Read too when pc.accumulate: out += result (a residual add fused into the epilogue).
layout(std430, binding = 3) buffer O { STYPE o[]; };

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

void main()
{
    const uint L = gl_WorkGroupSize.x;
    const uint b = gl_WorkGroupID.z;
    const uint n0 = gl_WorkGroupID.x * L * TN + gl_LocalInvocationID.x;

    // Out-of-range rows/columns load a clamped (valid) index and are not stored: no
    // branches in the K loop.
    uint w_base[TN];
    for (uint j = 0; j < TN; j++)
        w_base[j] = pc.w_off + b * pc.w_bs + min(n0 + j * L, pc.N - 1) * pc.w_sn;

    // Grid-stride over row tiles, in case M / TM exceeds the grid's y limit.
    for (uint m0 = gl_WorkGroupID.y * TM; m0 < pc.M; m0 += gl_NumWorkGroups.y * TM) {
        uint a_base[TM];
        for (uint i = 0; i < TM; i++)
            a_base[i] = pc.a_off + b * pc.a_bs + min(m0 + i, pc.M - 1) * pc.a_ld;

        float acc[TM * TN];
        for (uint t = 0; t < TM * TN; t++)
            acc[t] = 0.0;

        uint k = 0;
        if (K_VEC4) {
            for (; k + 4 <= pc.K; k += 4) {
                vec4 av[TM];
                for (uint i = 0; i < TM; i++)
                    av[i] = vec4(a4[(a_base[i] + k) / 4]);
                for (uint j = 0; j < TN; j++) {
                    vec4 wv = vec4(w4[(w_base[j] + k) / 4]);
                    for (uint i = 0; i < TM; i++)
                        acc[i * TN + j] += dot(av[i], wv);
                }
            }
        }
        uint wk = k * pc.w_sk;
        for (; k < pc.K; k++, wk += pc.w_sk) {
            float av[TM];
            for (uint i = 0; i < TM; i++)
                av[i] = float(a[a_base[i] + k]);
            for (uint j = 0; j < TN; j++) {
                float wv = float(w[w_base[j] + wk]);
                for (uint i = 0; i < TM; i++)
                    acc[i * TN + j] = fma(av[i], wv, acc[i * TN + j]);
            }
        }

        for (uint j = 0; j < TN; j++) {
            uint n = n0 + j * L;
            if (n >= pc.N)
                break;
            float bv = pc.has_bias != 0 ? float(bias[n]) : 0.0;
            for (uint i = 0; i < TM; i++) {
                if (m0 + i < pc.M) {
                    uint idx = pc.o_off + b * pc.o_bs + (m0 + i) * pc.o_ld + n;
                    float v = ar_activate(pc.alpha * acc[i * TN + j] + bv);
                    if (pc.accumulate != 0)
                        v += float(o[idx]);
                    o[idx] = STYPE(v);
                }
            }
        }
    }
}
