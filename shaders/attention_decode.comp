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
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint R = 8;    // register slots per lane: >= head_dim / subgroup size
layout(constant_id = 2) const uint KB = 8;   // keys per block: one rescale per block

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
layout(std430, binding = 4) writeonly buffer Part { float part[]; };   // [H, n_splits, 2 + D]

layout(push_constant) uniform Push {
    uint n_heads;
    uint kv_group;     // query heads per kv head
    uint head_dim;
    uint max_tokens;
    uint row_stride;
    uint q_offset;
    uint pos;
    uint first;
    uint window;
    float scale;
    uint n_splits;     // 1: write o directly
    uint split_keys;   // keys per workgroup
} pc;

// Finite, so that exp(NEG - m) is 0 and never NaN (no inf - inf).
const float NEG = -3.0e38;

shared float m_sh[gl_WorkGroupSize.x];
shared float l_sh[gl_WorkGroupSize.x];
shared VT acc_sh[gl_WorkGroupSize.x * R];

void main()
{
    uint h = gl_WorkGroupID.x, split = gl_WorkGroupID.y;
    uint D = pc.head_dim;
    uint SG = gl_SubgroupSize, lane = gl_SubgroupInvocationID;
    uint NS = gl_NumSubgroups, sg = gl_SubgroupID;
    uint DW = D / W;               // D in units of SV
    uint RD = (DW + SG - 1) / SG;  // slots in use (uniform)
    bool exact = DW % SG == 0;     // uniform: no per-lane bounds on the dims

    uint lo = pc.first;
    if (pc.window > 0 && pc.pos + 1 > pc.window)
        lo = max(lo, pc.pos + 1 - pc.window);
    uint a = lo + split * pc.split_keys;
    uint b = min(pc.pos + 1, a + pc.split_keys);
    uint cache_base = (h / pc.kv_group) * pc.max_tokens * DW + lane;

    uint q_base = (pc.q_offset + h * D) / W + lane;
    VT q[R], acc[R];
    for (uint r = 0; r < R; r++) {
        q[r] = VT(0.0);
        acc[r] = VT(0.0);
        if (r < RD && (exact || lane + r * SG < DW))
            q[r] = VT(qkv[q_base + r * SG]) * pc.scale;
    }
    float m = NEG, l = 0.0;

    for (uint j0 = a + sg * KB; j0 < b; j0 += NS * KB) {
        uint kn = min(KB, b - j0);
        float s[KB];
        float bm = NEG;
        for (uint k = 0; k < KB; k++) {
            s[k] = NEG;
            if (k < kn) {
                uint row = cache_base + (j0 + k) * DW;
                float sum = 0.0;
                for (uint r = 0; r < R; r++)
                    if (r < RD && (exact || lane + r * SG < DW))
                        sum += dot(q[r], VT(kc[row + r * SG]));
                s[k] = subgroupAdd(sum);
                bm = max(bm, s[k]);
            }
        }
        float m_new = max(m, bm);
        float alpha = exp(m - m_new);
        l *= alpha;
        for (uint r = 0; r < R; r++)
            acc[r] *= alpha;
        for (uint k = 0; k < KB; k++) {
            if (k < kn) {
                float p = exp(s[k] - m_new);
                uint row = cache_base + (j0 + k) * DW;
                l += p;
                for (uint r = 0; r < R; r++)
                    if (r < RD && (exact || lane + r * SG < DW))
                        acc[r] += p * VT(vc[row + r * SG]);
            }
        }
        m = m_new;
    }

    if (NS > 1) {
        // Merge the subgroups' states into subgroup 0.
        uint li = gl_LocalInvocationID.x;
        m_sh[li] = m;
        l_sh[li] = l;
        for (uint r = 0; r < R; r++)
            acc_sh[li * R + r] = acc[r];
        barrier();
        if (sg != 0)
            return;
        float mt = NEG;
        for (uint g = 0; g < NS; g++)
            mt = max(mt, m_sh[g * SG + lane]);
        l = 0.0;
        for (uint r = 0; r < R; r++)
            acc[r] = VT(0.0);
        for (uint g = 0; g < NS; g++) {
            uint gi = g * SG + lane;
            float w = exp(m_sh[gi] - mt);
            l += w * l_sh[gi];
            for (uint r = 0; r < R; r++)
                acc[r] += w * acc_sh[gi * R + r];
        }
        m = mt;
    }

    if (pc.n_splits == 1) {
        for (uint r = 0; r < R; r++)
            if (r < RD && (exact || lane + r * SG < DW))
                for (uint c = 0; c < W; c++)
                    o[h * D + (lane + r * SG) * W + c] = STYPE(COMP(acc[r], c) / l);
    } else {
        uint pb = (h * pc.n_splits + split) * (D + 2);
        if (lane == 0) {
            part[pb] = m;
            part[pb + 1] = l;
        }
        for (uint r = 0; r < R; r++)
            if (r < RD && (exact || lane + r * SG < DW))
                for (uint c = 0; c < W; c++)
                    part[pb + 2 + (lane + r * SG) * W + c] = COMP(acc[r], c);
    }
}
