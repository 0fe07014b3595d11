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
//
// Keys are scored KG at a time: KG independent dot products (and shuffles) in flight instead
// of one dependent chain per key, then one maximum and at most one rescale for the group.
// Small prefills have few workgroups per multiprocessor, so each query's walk over its keys
// is a latency chain (iris-small's refresh frames: 17 queries, 4 workgroups, up to 340
// keys each). KG 1 is the one-key-at-a-time loop.
//
// With n_splits > 1 the workgroup (h, y, s) walks only part s of its query block's keys, in
// whole blocks of QT, and stores each query's softmax state (max, denominator, accumulator)
// for attention_combine.comp to merge: a small grid's longest walk gets n_splits times
// shorter. The states go to part[((query * n_heads + h) * n_splits + s) * (D + 2)], so the
// combine's workgroup query * n_heads + h writes that query's head to the output.
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
layout(constant_id = 1) const uint KG = 4;     // keys scored together (1..8)
const uint DL = D / LPQ;                       // dimensions per lane

layout(std430, binding = 0) readonly buffer QKV { STYPE qkv[]; };
layout(std430, binding = 1) readonly buffer KC { STYPE kc[]; };
layout(std430, binding = 2) readonly buffer VC { STYPE vc[]; };
layout(std430, binding = 3) writeonly buffer O { STYPE o[]; };
layout(std430, binding = 4) writeonly buffer Part { float part[]; };   // n_splits > 1

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
    uint n_splits;     // workgroups (z) sharing a query block's keys
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
    // Split s: keys [wg_lo + s * span, ...) in whole blocks (splits past the end walk none).
    const uint span = ((last + QT - wg_lo) / QT + pc.n_splits - 1) / pc.n_splits * QT;
    const uint split_lo = wg_lo + gl_WorkGroupID.z * span;
    const uint split_last = min(last, split_lo + span - 1);
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

    for (uint k0 = split_lo; k0 <= split_last; k0 += QT) {
        uint kn = min(QT, split_last + 1 - k0);
        barrier();   // the previous block is no longer read
        for (uint e = gl_LocalInvocationID.x; e < kn * D; e += QT * LPQ) {
            uint at = (k0 + e / D) * pc.pos_stride + e % D;
            k_sh[e] = float(kc[k_base + at]);
            v_sh[e] = float(vc[v_base + at]);
        }
        barrier();
        // This query's keys in the block: [max(lo, k0), min(qpos, k0 + kn - 1)], as block
        // rows j_lo .. j_end - 1.
        uint j_lo = lo > k0 ? lo - k0 : 0;
        uint j_end = qpos + 1 > k0 ? min(qpos + 1, k0 + kn) - k0 : 0;   // 0: block past the query
        for (uint j = j_lo; j < j_end; j += KG) {
            // Rows past j_end read the last visible one (staged, finite) and weigh 0.
            uint jr[KG];
            float s[KG];
            for (uint g = 0; g < KG; g++) {
                jr[g] = min(j + g, j_end - 1);
                s[g] = 0.0;
            }
            for (uint d = 0; d < DL; d++)
                for (uint g = 0; g < KG; g++)
                    s[g] = fma(q[d], k_sh[jr[g] * D + d * LPQ + c], s[g]);
#if defined(QUAD)
            // The quad runs this loop together (one query, one trip count).
            for (uint g = 0; g < KG; g++)
                s[g] += subgroupShuffleXor(s[g], 1);
            for (uint g = 0; g < KG; g++)
                s[g] += subgroupShuffleXor(s[g], 2);
#endif
            float bm = s[0];   // row j is visible
            for (uint g = 1; g < KG; g++)
                if (j + g < j_end)
                    bm = max(bm, s[g]);
            if (bm > m) {
                float r = exp(m - bm);
                l *= r;
                for (uint d = 0; d < DL; d++)
                    acc[d] *= r;
                m = bm;
            }
            float p[KG];
            for (uint g = 0; g < KG; g++) {
                p[g] = j + g < j_end ? exp(s[g] - m) : 0.0;
                l += p[g];
            }
            for (uint d = 0; d < DL; d++)
                for (uint g = 0; g < KG; g++)
                    acc[d] = fma(p[g], v_sh[jr[g] * D + d * LPQ + c], acc[d]);
        }
    }
    if (i0 + t >= pc.n_queries)
        return;
    if (pc.n_splits > 1) {
        // A query that sees none of this split's keys stores (-3e38, 0, 0): weight 0.
        const uint pb = ((i * pc.n_heads + h) * pc.n_splits + gl_WorkGroupID.z) * (D + 2);
        if (c == 0) {
            part[pb] = m;
            part[pb + 1] = l;
        }
        for (uint d = 0; d < DL; d++)
            part[pb + 2 + c + d * LPQ] = acc[d];
        return;
    }
    const uint out_base = (i * pc.n_heads + h) * D + c;
    for (uint d = 0; d < DL; d++)
        o[out_base + d * LPQ] = STYPE(acc[d] / l);
}
