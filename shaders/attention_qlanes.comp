#version 450
// Causal attention of n query tokens (prefill), the CPU-device kernel: TQ queries per lane,
// key and value rows read as uniform texel buffers.
//
// Why: on lavapipe (Mesa 22.3) a storage-buffer load is a loop over the SIMD lanes with a
// branch per lane and component, and so are subgroupAdd and subgroupBroadcast; a texel
// fetch is straight-line code. attention_decode.comp puts lanes across the head dimension,
// so every score costs a subgroupAdd. Here a lane holds its whole query and accumulator,
// all lanes fetch the same key (value) row: a score is D/4 dot products in one lane, no
// reduction. A fetch costs a gather over all lanes even when they read the same texel, so
// each lane takes TQ queries: a row fetch serves TQ x L queries (the queries and
// accumulators spill to the stack, whose loads are plain vector loads).
// Needs head_dim % 4 == 0 and 4-aligned q rows (the C side checks).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint HD = 64;  // head_dim
layout(constant_id = 2) const uint KB = 8;   // keys per block: one rescale per block
layout(constant_id = 3) const uint TQ = 4;   // queries per lane: each K/V row fetch serves TQ

const uint NV = HD / 4;     // vec4s per row

layout(std430, binding = 0) readonly buffer QKV { STYPE4 qkv[]; };
layout(std430, binding = 3) writeonly buffer O { STYPE4 o[]; };
layout(binding = 8) uniform samplerBuffer k_tex;   // the K cache as vec4s
layout(binding = 9) uniform samplerBuffer v_tex;   // the V cache as vec4s

// attention_decode.comp's push constants (n_splits and split_keys unused: one pass).
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
    uint n_splits;
    uint split_keys;
    uint n_queries;    // at positions pos.., rows 0.. of qkv
    uint pos_stride;   // cache elements between positions
    uint k_off;        // cache element of K (V) at kv head 0, position 0
    uint v_off;
} pc;

// Finite, so that exp(NEG - m) is 0 and never NaN (no inf - inf).
const float NEG = -3.0e38;

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
    const uint h = gl_WorkGroupID.x;
    const uint L = gl_WorkGroupSize.x;
    const uint lane = gl_LocalInvocationID.x;
    const uint q0 = gl_WorkGroupID.y * L * TQ;               // first query of the workgroup
    const uint nq = min(L * TQ, pc.n_queries - q0);          // queries of the workgroup
    // Keys any query of the workgroup sees (first_key grows with the position).
    const uint a = first_key(pc.pos + q0);
    const uint b = pc.pos + q0 + nq;
    const int k_base = int((pc.k_off + (h / pc.kv_group) * pc.head_stride) / 4);
    const int v_base = int((pc.v_off + (h / pc.kv_group) * pc.head_stride) / 4);
    const uint PS = pc.pos_stride / 4;   // vec4s between positions

    // Query t of this lane is q0 + t * L + lane; lanes past the end repeat the last query.
    vec4 q[TQ * NV], acc[TQ * NV];
    uint p[TQ], lo[TQ];
    float m[TQ], l[TQ];
    [[unroll]] for (uint t = 0; t < TQ; t++) {
        uint qi = min(q0 + t * L + lane, pc.n_queries - 1);
        p[t] = pc.pos + qi;
        lo[t] = first_key(p[t]);
        m[t] = NEG;
        l[t] = 0.0;
        uint q_base = (qi * pc.row_stride + pc.q_offset + h * HD) / 4;
        [[unroll]] for (uint v = 0; v < NV; v++) {
            q[t * NV + v] = vec4(qkv[q_base + v]) * pc.scale;
            acc[t * NV + v] = vec4(0.0);
        }
    }

    for (uint j0 = a; j0 < b; j0 += KB) {
        // Scores of the block: each key row fetched once for the lane's TQ queries.
        float s[TQ * KB];
        [[unroll]] for (uint k = 0; k < KB; k++) {
            uint j = j0 + k;
            [[unroll]] for (uint t = 0; t < TQ; t++)
                s[t * KB + k] = NEG;
            if (j < b) {
                int row = int(j * PS);
                float d[TQ];
                [[unroll]] for (uint t = 0; t < TQ; t++)
                    d[t] = 0.0;
                [[unroll]] for (uint v = 0; v < NV; v++) {
                    vec4 kv = texelFetch(k_tex, k_base + row + int(v));
                    [[unroll]] for (uint t = 0; t < TQ; t++) {
                        vec4 qv = q[t * NV + v];
                        d[t] = fma(qv.w, kv.w, fma(qv.z, kv.z, fma(qv.y, kv.y, fma(qv.x, kv.x, d[t]))));
                    }
                }
                [[unroll]] for (uint t = 0; t < TQ; t++)
                    if (j >= lo[t] && j <= p[t])
                        s[t * KB + k] = d[t];
            }
        }
        [[unroll]] for (uint t = 0; t < TQ; t++) {
            float bm = NEG;
            [[unroll]] for (uint k = 0; k < KB; k++)
                bm = max(bm, s[t * KB + k]);
            float m_new = max(m[t], bm);
            float alpha = exp(m[t] - m_new);
            l[t] *= alpha;
            [[unroll]] for (uint v = 0; v < NV; v++)
                acc[t * NV + v] *= alpha;
            m[t] = m_new;
            // Masked keys weigh 0 even while nothing was seen yet (m == NEG).
            [[unroll]] for (uint k = 0; k < KB; k++) {
                float e = s[t * KB + k] == NEG ? 0.0 : exp(s[t * KB + k] - m_new);
                s[t * KB + k] = e;
                l[t] += e;
            }
        }
        // The block's values one vec4 column at a time: each (spilled) accumulator is loaded
        // and stored once per block rather than once per key. Keys past b weigh 0 and read
        // row b - 1 (rows past the queries may not exist).
        int vrow[KB];
        [[unroll]] for (uint k = 0; k < KB; k++)
            vrow[k] = v_base + int(min(j0 + k, b - 1) * PS);
        [[unroll]] for (uint v = 0; v < NV; v++) {
            vec4 vv[KB];
            [[unroll]] for (uint k = 0; k < KB; k++)
                vv[k] = texelFetch(v_tex, vrow[k] + int(v));
            [[unroll]] for (uint t = 0; t < TQ; t++) {
                vec4 a = acc[t * NV + v];
                [[unroll]] for (uint k = 0; k < KB; k++)
                    a = fma(vec4(s[t * KB + k]), vv[k], a);
                acc[t * NV + v] = a;
            }
        }
    }

    [[unroll]] for (uint t = 0; t < TQ; t++) {
        uint qi = q0 + t * L + lane;
        if (qi < pc.n_queries) {
            uint ob = (qi * pc.n_heads + h) * NV;
            [[unroll]] for (uint v = 0; v < NV; v++)
                o[ob + v] = STYPE4(acc[t * NV + v] / l[t]);
        }
    }
}
