#version 450
// Causal attention of one query token and one head per workgroup, over the KV cache.
//
// Keys are visited in chunks of CHUNK = local size * KPT with an online softmax: each thread
// scores KPT keys of the chunk (a full dot product each), the chunk maximum rescales the running
// accumulator, and the weighted sum of V is split over threads by dimension (and, when D is
// smaller than the workgroup, also by key into G groups, summed once at the end). Two barriers
// per chunk and none per key: barriers are expensive on CPU implementations.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint KPT = 4;       // keys per thread per chunk
layout(constant_id = 2) const uint QMAX = 64;     // >= head_dim
layout(constant_id = 3) const uint CHUNK = 256;   // local size * KPT
#define MAX_DIMS_PER_THREAD 4                      // the C side keeps D <= 4 * local size

layout(std430, binding = 0) readonly buffer QKV { STYPE qkv[]; };
layout(std430, binding = 1) readonly buffer KC { STYPE kc[]; };
layout(std430, binding = 2) readonly buffer VC { STYPE vc[]; };
layout(std430, binding = 3) writeonly buffer O { STYPE o[]; };

layout(push_constant) uniform Push {
    uint n_heads;
    uint kv_group;     // query heads per kv head
    uint head_dim;
    uint head_stride;  // cache elements between kv heads
    uint row_stride;
    uint q_offset;
    uint pos;
    uint first;
    uint window;
    float scale;
    uint pos_stride;   // cache elements between positions
    uint k_off;        // cache element of K (V) at kv head 0, position 0
    uint v_off;
} pc;

// Finite, so that exp(NEG - m) is 0 and never NaN (no inf - inf).
const float NEG = -3.0e38;

shared float q_sh[QMAX];
shared float max_sh[CHUNK];   // per-thread chunk maxima; at the end, per-group denominators
shared float p_sh[CHUNK];     // softmax weights of the chunk; at the end, per-group partial sums

void main()
{
    const uint L = gl_WorkGroupSize.x;
    uint t = gl_LocalInvocationID.x;
    uint h = gl_WorkGroupID.x, i = gl_WorkGroupID.y;
    uint D = pc.head_dim;
    uint qpos = pc.pos + i;
    uint lo = pc.first;
    if (pc.window > 0 && qpos + 1 > pc.window)
        lo = max(lo, qpos + 1 - pc.window);
    uint hi = qpos + 1;
    uint k_base = pc.k_off + (h / pc.kv_group) * pc.head_stride;
    uint v_base = pc.v_off + (h / pc.kv_group) * pc.head_stride;

    uint q_base = i * pc.row_stride + pc.q_offset + h * D;
    for (uint d = t; d < D; d += L)
        q_sh[d] = float(qkv[q_base + d]) * pc.scale;
    barrier();

    // V split: thread t sums dims dim0 + r*L over keys grp, grp+G, ... of each chunk.
    uint G = D <= L ? L / D : 1;
    uint dim0 = D <= L ? t % D : t;
    uint grp = D <= L ? t / D : 0;
    bool in_group = grp < G;
    float acc[MAX_DIMS_PER_THREAD];
    for (uint r = 0; r < MAX_DIMS_PER_THREAD; r++)
        acc[r] = 0.0;
    float m = NEG, l = 0.0;

    for (uint c0 = lo; c0 < hi; c0 += CHUNK) {
        uint cn = min(CHUNK, hi - c0);
        float s[KPT];
        float local_max = NEG;
        for (uint k = 0; k < KPT; k++) {
            uint j = t + k * L;
            s[k] = NEG;
            if (j < cn) {
                uint row = k_base + (c0 + j) * pc.pos_stride;
                float dot = 0.0;
                for (uint d = 0; d < D; d++)
                    dot += q_sh[d] * float(kc[row + d]);
                s[k] = dot;
                local_max = max(local_max, dot);
            }
        }
        max_sh[t] = local_max;
        barrier();
        float chunk_max = NEG;
        for (uint u = 0; u < min(L, cn); u++)
            chunk_max = max(chunk_max, max_sh[u]);
        float m_new = max(m, chunk_max);
        float alpha = exp(m - m_new);
        for (uint k = 0; k < KPT; k++) {
            uint j = t + k * L;
            if (j < cn)
                p_sh[j] = exp(s[k] - m_new);
        }
        barrier();
        m = m_new;
        l *= alpha;
        for (uint r = 0; r < MAX_DIMS_PER_THREAD; r++)
            acc[r] *= alpha;
        if (G == 1) {
            // Every thread walks the same keys: p_sh[j] is a uniform load (cheap on CPUs).
            // Dims per thread, uniform: a per-lane condition costs a masked load on CPUs.
            uint R = (D + L - 1) / L;
            for (uint j = 0; j < cn; j++) {
                float p = p_sh[j];
                uint row = v_base + (c0 + j) * pc.pos_stride + dim0;
                l += p;
                acc[0] += p * float(vc[row]);
                if (R > 1 && dim0 + L < D)
                    acc[1] += p * float(vc[row + L]);
                if (R > 2 && dim0 + 2 * L < D)
                    acc[2] += p * float(vc[row + 2 * L]);
                if (R > 3 && dim0 + 3 * L < D)
                    acc[3] += p * float(vc[row + 3 * L]);
            }
        } else if (in_group) {
            for (uint j = grp; j < cn; j += G) {
                float p = p_sh[j];
                l += p;
                acc[0] += p * float(vc[v_base + (c0 + j) * pc.pos_stride + dim0]);
            }
        }
    }

    uint out_base = (i * pc.n_heads + h) * D;
    if (G > 1) {
        barrier();   // everyone is done reading p_sh and max_sh
        p_sh[t] = acc[0];
        if (in_group && dim0 == 0)
            max_sh[grp] = l;
        barrier();
        if (t < D) {
            float sum = 0.0, den = 0.0;
            for (uint g = 0; g < G; g++) {
                sum += p_sh[g * D + t];
                den += max_sh[g];
            }
            o[out_base + t] = STYPE(sum / den);
        }
    } else if (in_group) {
        for (uint r = 0; r < MAX_DIMS_PER_THREAD; r++)
            if (dim0 + r * L < D)
                o[out_base + dim0 + r * L] = STYPE(acc[r] / l);
    }
}
