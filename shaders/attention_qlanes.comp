#version 450
// Causal attention of n query tokens (prefill), the CPU-device kernel: one query per lane,
// key and value rows read as uniform texel buffers.
//
// Why: on lavapipe (Mesa 22.3) a storage-buffer load is a loop over the SIMD lanes with a
// branch per lane and component, and so are subgroupAdd and subgroupBroadcast; a texel
// fetch is straight-line code. attention_decode.comp puts lanes across the head dimension,
// so every score costs a subgroupAdd. Here a lane holds its whole query and accumulator,
// all lanes fetch the same key (value) row: a score is D/4 dot products in one lane, no
// reduction, and each row fetch serves the workgroup's L queries.
// Needs head_dim % 4 == 0 and 4-aligned q rows (the C side checks).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint HD = 64;  // head_dim
layout(constant_id = 2) const uint KB = 8;   // keys per block: one rescale per block

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
    uint max_tokens;
    uint row_stride;
    uint q_offset;
    uint pos;
    uint first;
    uint window;
    float scale;
    uint n_splits;
    uint split_keys;
    uint n_queries;    // at positions pos.., rows 0.. of qkv
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
    const uint q0 = gl_WorkGroupID.y * L;                    // first query of the workgroup
    const uint qi = min(q0 + lane, pc.n_queries - 1);        // lanes past the end repeat the last
    const uint p = pc.pos + qi;
    const uint lo = first_key(p);
    // Keys any lane of the workgroup sees (first_key grows with the position).
    const uint a = first_key(pc.pos + q0);
    const uint b = pc.pos + min(q0 + L, pc.n_queries);
    const int cache_base = int((h / pc.kv_group) * pc.max_tokens * NV);

    vec4 q[NV], acc[NV];
    const uint q_base = (qi * pc.row_stride + pc.q_offset + h * HD) / 4;
    [[unroll]] for (uint v = 0; v < NV; v++) {
        q[v] = vec4(qkv[q_base + v]) * pc.scale;
        acc[v] = vec4(0.0);
    }
    float m = NEG, l = 0.0;

    for (uint j0 = a; j0 < b; j0 += KB) {
        float s[KB];
        [[unroll]] for (uint k = 0; k < KB; k++) {
            uint j = j0 + k;
            s[k] = NEG;
            if (j < b) {
                int row = cache_base + int(j * NV);
                float d = 0.0;
                [[unroll]] for (uint v = 0; v < NV; v++) {
                    vec4 kv = texelFetch(k_tex, row + int(v));
                    d = fma(q[v].w, kv.w, fma(q[v].z, kv.z, fma(q[v].y, kv.y, fma(q[v].x, kv.x, d))));
                }
                if (j >= lo && j <= p)
                    s[k] = d;
            }
        }
        float bm = NEG;
        [[unroll]] for (uint k = 0; k < KB; k++)
            bm = max(bm, s[k]);
        float m_new = max(m, bm);
        float alpha = exp(m - m_new);
        l *= alpha;
        [[unroll]] for (uint v = 0; v < NV; v++)
            acc[v] *= alpha;
        m = m_new;
        [[unroll]] for (uint k = 0; k < KB; k++) {
            uint j = j0 + k;
            if (j < b) {
                // Masked keys weigh 0 even while nothing was seen yet (m == NEG).
                float e = s[k] == NEG ? 0.0 : exp(s[k] - m);
                l += e;
                int row = cache_base + int(j * NV);
                [[unroll]] for (uint v = 0; v < NV; v++)
                    acc[v] = fma(vec4(e), texelFetch(v_tex, row + int(v)), acc[v]);
            }
        }
    }

    if (q0 + lane < pc.n_queries) {
        uint ob = ((q0 + lane) * pc.n_heads + h) * NV;
        [[unroll]] for (uint v = 0; v < NV; v++)
            o[ob + v] = STYPE4(acc[v] / l);
    }
}
