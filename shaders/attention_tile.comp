#version 450
// Causal attention for prefill on GPUs (same push constants and semantics as attention.comp):
// a workgroup takes QT consecutive queries of one head, one query per invocation, and walks
// the keys in blocks of QT that all its invocations stage together in shared memory (each K
// and V row read from device memory once per workgroup, not once per query). Each invocation
// keeps its query and its output accumulator in registers and folds keys in with an online
// softmax, rescaling only when the running maximum grows.
//
// With -DQUAD four lanes (a quad of the subgroup) share a query, each taking every fourth
// dimension (interleaved, so that the quad's shared-memory reads fall in distinct banks); a
// score is their three-shuffle sum. Four times the invocations and a quarter of the
// registers per invocation: small prefills (iris-small: 24 workgroups) fill more of a GPU.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#if defined(QUAD)
#extension GL_KHR_shader_subgroup_shuffle : require
const uint LPQ = 4;                            // lanes per query
#else
const uint LPQ = 1;
#endif

const uint QT = 64;                            // queries per workgroup = keys per block
layout(local_size_x = QT * LPQ) in;
layout(constant_id = 0) const uint D = 64;     // head_dim (the C side sets it exactly; QUAD:
                                               // a multiple of 4)
const uint DL = D / LPQ;                       // dimensions per lane

layout(std430, binding = 0) readonly buffer QKV { STYPE qkv[]; };
layout(std430, binding = 1) readonly buffer KC { STYPE kc[]; };
layout(std430, binding = 2) readonly buffer VC { STYPE vc[]; };
layout(std430, binding = 3) writeonly buffer O { STYPE o[]; };

layout(push_constant) uniform Push {
    uint n_heads;
    uint kv_group;
    uint head_dim;
    uint head_stride;  // cache elements between kv heads
    uint row_stride;
    uint q_offset;
    uint pos;
    uint first;
    uint window;
    float scale;
    uint n_queries;
    uint pos_stride;   // cache elements between positions
    uint k_off;        // cache element of K (V) at kv head 0, position 0
    uint v_off;
} pc;

shared float k_sh[QT * D];
shared float v_sh[QT * D];

void main()
{
    const uint t = gl_LocalInvocationID.x / LPQ, c = gl_LocalInvocationID.x % LPQ;
    const uint h = gl_WorkGroupID.x;
    const uint i0 = gl_WorkGroupID.y * QT;
    const uint i = min(i0 + t, pc.n_queries - 1);     // past the end: a clamped query, no store
    const uint qpos = pc.pos + i;
    uint lo = pc.first;
    if (pc.window > 0 && qpos + 1 > pc.window)
        lo = max(lo, qpos + 1 - pc.window);
    // Keys the workgroup needs: from the lowest query's window start to the last query.
    const uint last = pc.pos + min(i0 + QT, pc.n_queries) - 1;
    uint wg_lo = pc.first;
    if (pc.window > 0 && pc.pos + i0 + 1 > pc.window)
        wg_lo = max(wg_lo, pc.pos + i0 + 1 - pc.window);
    const uint k_base = pc.k_off + (h / pc.kv_group) * pc.head_stride;
    const uint v_base = pc.v_off + (h / pc.kv_group) * pc.head_stride;

    // This lane's dimensions: c, c + LPQ, c + 2 LPQ, ...
    float q[DL], acc[DL];
    const uint q_base = i * pc.row_stride + pc.q_offset + h * D + c;
    for (uint d = 0; d < DL; d++) {
        q[d] = float(qkv[q_base + d * LPQ]) * pc.scale;
        acc[d] = 0.0;
    }
    float m = -3.0e38, l = 0.0;

    for (uint k0 = wg_lo; k0 <= last; k0 += QT) {
        uint kn = min(QT, last + 1 - k0);
        barrier();   // the previous block is no longer read
        for (uint e = gl_LocalInvocationID.x; e < kn * D; e += QT * LPQ) {
            uint at = (k0 + e / D) * pc.pos_stride + e % D;
            k_sh[e] = float(kc[k_base + at]);
            v_sh[e] = float(vc[v_base + at]);
        }
        barrier();
        // This query's keys in the block: [max(lo, k0), min(qpos, k0 + kn - 1)].
        uint j_lo = lo > k0 ? lo - k0 : 0;
        uint j_hi = min(qpos + 1, k0 + kn);
        for (uint j = j_lo; k0 + j < j_hi; j++) {
            float s = 0.0;
            for (uint d = 0; d < DL; d++)
                s = fma(q[d], k_sh[j * D + d * LPQ + c], s);
#if defined(QUAD)
            // The quad runs this loop together (one query, one trip count).
            s += subgroupShuffleXor(s, 1);
            s += subgroupShuffleXor(s, 2);
#endif
            if (s > m) {
                float r = exp(m - s);
                l *= r;
                for (uint d = 0; d < DL; d++)
                    acc[d] *= r;
                m = s;
            }
            float p = exp(s - m);
            l += p;
            for (uint d = 0; d < DL; d++)
                acc[d] = fma(p, v_sh[j * D + d * LPQ + c], acc[d]);
        }
    }
    if (i0 + t >= pc.n_queries)
        return;
    const uint out_base = (i * pc.n_heads + h) * D + c;
    for (uint d = 0; d < DL; d++)
        o[out_base + d * LPQ] = STYPE(acc[d] / l);
}
