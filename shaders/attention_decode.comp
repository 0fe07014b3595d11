#version 450
// Attention of one query token (decode) over the KV cache, split-K ("flash decoding"):
// workgroup (h, s) covers keys [lo + s * split_keys, ...) of head h, and writes either the
// normalised output (one split) or its partial state (max, sum, acc[D]) for
// attention_combine.comp.
//
// Lanes run across the head dimension: key and value rows are read contiguously across a
// subgroup (coalesced on GPUs, plain vector loads on CPU SIMD lanes), everything stays in
// registers, and each score is a subgroupAdd. No barrier except one at the end when a
// workgroup holds several subgroups (each then takes every NS-th block of keys).
//
// With -DFUSED_COMBINE the split workgroups combine their partial states themselves: each
// counts itself done on a per-head counter after its partial state is visible, and the last
// one of the head merges all of them (combine.glsl, as attention_combine.comp does) and
// resets the counter to zero for the next call. One dispatch per one-token attention instead
// of two.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint R = 8;    // register slots per lane: >= head_dim / subgroup size
layout(constant_id = 2) const uint KB = 8;   // keys per block: one rescale per block
layout(constant_id = 3) const uint QB = 1;   // queries per workgroup

// With -DVEC4 each lane takes 4 consecutive dims per slot (D and all row offsets are
// multiples of 4): fewer, wider loads.
#if defined(VEC4)
#define W 4
#define VT vec4
#define SV STYPE4
#define COMP(v, c) (v)[c]
#else
#define W 1
#define VT float
#define SV STYPE
#define COMP(v, c) (v)
#endif
layout(std430, binding = 0) readonly buffer QKV { SV qkv[]; };
layout(std430, binding = 1) readonly buffer KC { SV kc[]; };
layout(std430, binding = 2) readonly buffer VC { SV vc[]; };
layout(std430, binding = 3) writeonly buffer O { STYPE o[]; };
#if defined(FUSED_COMBINE)
// Coherent: the last workgroup reads what the others wrote during this dispatch. The
// counters (uint, one per head) follow the partial states from element ctr_off on.
layout(std430, binding = 4) coherent buffer Part { float part[]; };   // [H, n_splits, 2 + D]
layout(std430, binding = 4) coherent buffer Ctr { uint ctr[]; };
#else
layout(std430, binding = 4) writeonly buffer Part { float part[]; };   // [H, n_splits, 2 + D]
#endif

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
    uint n_splits;     // 1: write o directly
    uint split_keys;   // keys per workgroup
    uint n_queries;    // at positions pos.., rows 0.. of qkv; > 1 only with one split
    uint pos_stride;   // cache elements between positions
    uint k_off;        // cache element of K (V) at kv head 0, position 0
    uint v_off;
    uint ctr_off;      // FUSED_COMBINE: element of head 0's counter in Part
} pc;

// Finite, so that exp(NEG - m) is 0 and never NaN (no inf - inf).
const float NEG = -3.0e38;

shared float m_sh[gl_WorkGroupSize.x * QB];
shared float l_sh[gl_WorkGroupSize.x * QB];
shared VT acc_sh[gl_WorkGroupSize.x * R * QB];

#if defined(FUSED_COMBINE)
#define AR_SUBGROUP
#include "reduce.glsl"
#include "combine.glsl"
shared bool last_of_head;

// Called by every invocation once the workgroup's partial state is written. The last
// workgroup of head h to arrive merges the head's n_splits states into o.
void combine_if_last(uint h, uint D)
{
    // Each writer's stores reach device scope before the workgroup signs off.
    memoryBarrierBuffer();
    barrier();
    if (gl_LocalInvocationID.x == 0)
        last_of_head = atomicAdd(ctr[pc.ctr_off + h], 1u) == pc.n_splits - 1;
    barrier();
    if (!last_of_head)
        return;
    memoryBarrierBuffer();
    combine_splits(h, D, pc.n_splits);
    if (gl_LocalInvocationID.x == 0)
        ctr[pc.ctr_off + h] = 0u;
}
#endif

// First key position query position p may see.
uint first_key(uint p)
{
    uint lo = pc.first;
    if (pc.window > 0 && p + 1 > pc.window)
        lo = max(lo, p + 1 - pc.window);
    return lo;
}

void main()
{
    uint h = gl_WorkGroupID.x, split = gl_WorkGroupID.y;
    uint D = pc.head_dim;
    uint SG = gl_SubgroupSize, lane = gl_SubgroupInvocationID;
    uint NS = gl_NumSubgroups, sg = gl_SubgroupID;
    uint DW = D / W;               // D in units of SV
    uint RD = (DW + SG - 1) / SG;  // slots in use (uniform)
    bool exact = DW % SG == 0;     // uniform: no per-lane bounds on the dims

    uint qz = gl_WorkGroupID.z * QB;
    uint nq = min(QB, pc.n_queries - qz);      // queries of this workgroup (uniform)
    uint pos0 = pc.pos + qz, posl = pos0 + nq - 1;
    uint a = first_key(pos0) + split * pc.split_keys;
    uint b = min(posl + 1, a + pc.split_keys);
    uint k_base = (pc.k_off + (h / pc.kv_group) * pc.head_stride) / W + lane;
    uint v_base = (pc.v_off + (h / pc.kv_group) * pc.head_stride) / W + lane;
    uint PS = pc.pos_stride / W;

    VT q[QB * R], acc[QB * R];
    float m[QB], l[QB];
    uint qlo[QB];
    for (uint qb = 0; qb < QB; qb++) {
        uint q_base = ((qz + qb) * pc.row_stride + pc.q_offset + h * D) / W + lane;
        for (uint r = 0; r < R; r++) {
            q[qb * R + r] = VT(0.0);
            acc[qb * R + r] = VT(0.0);
            if (qb < nq && r < RD && (exact || lane + r * SG < DW))
                q[qb * R + r] = VT(qkv[q_base + r * SG]) * pc.scale;
        }
        m[qb] = NEG;
        l[qb] = 0.0;
        qlo[qb] = first_key(pos0 + qb);
    }

    for (uint j0 = a + sg * KB; j0 < b; j0 += NS * KB) {
        uint kn = min(KB, b - j0);
        float s[QB * KB];
        for (uint k = 0; k < KB; k++) {
            for (uint qb = 0; qb < QB; qb++)
                s[qb * KB + k] = NEG;
            if (k < kn) {
                uint row = k_base + (j0 + k) * PS;
                VT kr[R];
                for (uint r = 0; r < R; r++)
                    kr[r] = (r < RD && (exact || lane + r * SG < DW)) ? VT(kc[row + r * SG]) : VT(0.0);
                for (uint qb = 0; qb < QB; qb++) {
                    float sum = 0.0;
                    for (uint r = 0; r < R; r++)
                        sum += dot(q[qb * R + r], kr[r]);
                    sum = subgroupAdd(sum);
                    uint j = j0 + k;
                    if (qb < nq && j >= qlo[qb] && j <= pos0 + qb)
                        s[qb * KB + k] = sum;
                }
            }
        }
        float p[QB * KB];
        for (uint qb = 0; qb < QB; qb++) {
            float bm = NEG;
            for (uint k = 0; k < KB; k++)
                bm = max(bm, s[qb * KB + k]);
            float m_new = max(m[qb], bm);
            float alpha = exp(m[qb] - m_new);
            l[qb] *= alpha;
            for (uint r = 0; r < R; r++)
                acc[qb * R + r] *= alpha;
            for (uint k = 0; k < KB; k++) {
                // Masked keys weigh 0 even while nothing was seen yet (m_new == NEG).
                float e = s[qb * KB + k] == NEG ? 0.0 : exp(s[qb * KB + k] - m_new);
                p[qb * KB + k] = e;
                l[qb] += e;
            }
            m[qb] = m_new;
        }
        for (uint k = 0; k < KB; k++) {
            if (k < kn) {
                uint row = v_base + (j0 + k) * PS;
                for (uint r = 0; r < R; r++) {
                    if (r < RD && (exact || lane + r * SG < DW)) {
                        VT v = VT(vc[row + r * SG]);
                        for (uint qb = 0; qb < QB; qb++)
                            acc[qb * R + r] += p[qb * KB + k] * v;
                    }
                }
            }
        }
    }

    if (NS > 1) {
        // Merge the subgroups' states into subgroup 0.
        uint li = gl_LocalInvocationID.x;
        for (uint qb = 0; qb < QB; qb++) {
            m_sh[li * QB + qb] = m[qb];
            l_sh[li * QB + qb] = l[qb];
            for (uint r = 0; r < R; r++)
                acc_sh[(li * QB + qb) * R + r] = acc[qb * R + r];
        }
        barrier();
        // Subgroup 0 merges; the others stay (for the fused combine's barriers) but store
        // nothing.
        for (uint qb = 0; sg == 0 && qb < QB; qb++) {
            float mt = NEG;
            for (uint g = 0; g < NS; g++)
                mt = max(mt, m_sh[(g * SG + lane) * QB + qb]);
            l[qb] = 0.0;
            for (uint r = 0; r < R; r++)
                acc[qb * R + r] = VT(0.0);
            for (uint g = 0; g < NS; g++) {
                uint gi = (g * SG + lane) * QB + qb;
                float w = m_sh[gi] == NEG ? 0.0 : exp(m_sh[gi] - mt);
                l[qb] += w * l_sh[gi];
                for (uint r = 0; r < R; r++)
                    acc[qb * R + r] += w * acc_sh[gi * R + r];
            }
            m[qb] = mt;
        }
    }

    // Subgroup 0 holds the workgroup's state.
    if (sg == 0 && pc.n_splits == 1) {
        for (uint qb = 0; qb < nq; qb++) {
            uint ob = ((qz + qb) * pc.n_heads + h) * D;
            for (uint r = 0; r < R; r++)
                if (r < RD && (exact || lane + r * SG < DW))
                    for (uint c = 0; c < W; c++)
                        o[ob + (lane + r * SG) * W + c] = STYPE(COMP(acc[qb * R + r], c) / l[qb]);
        }
    } else if (sg == 0) {
        uint pb = (h * pc.n_splits + split) * (D + 2);
        if (lane == 0) {
            part[pb] = m[0];
            part[pb + 1] = l[0];
        }
        for (uint r = 0; r < R; r++)
            if (r < RD && (exact || lane + r * SG < DW))
                for (uint c = 0; c < W; c++)
                    part[pb + 2 + (lane + r * SG) * W + c] = COMP(acc[r], c);
    }
#if defined(FUSED_COMBINE)
    if (pc.n_splits > 1)
        combine_if_last(h, D);
#endif
}
