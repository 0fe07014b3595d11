#version 450
// Normalisation of contiguous segments, one workgroup per segment:
//   y = (x - mean) / sqrt(var + eps) * gamma[c] + beta[c]   (RMS: x / sqrt(mean(x^2) + eps) * gamma[c])
// then optionally SiLU. Group norm: a segment is one group of C/G channels of H*W elements
// (inner = H*W, groups = G); layer/RMS norm: a segment is one row (inner = 1, groups = 1).
// The affine channel of element j of segment s is (s % groups) * (len / inner) + j / inner.
// Two-pass mean then variance (no E[x^2] - E[x]^2 cancellation); two barriers in all with
// subgroups; short segments keep x in registers between the passes (NREG). The texel flavour
// takes both moments in one pass, shifted (see there). In place is allowed: every read of an
// element precedes the last barrier, or is by the invocation that then writes it.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#ifdef AR_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "common.glsl"
#include "activation.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool RMS = false;
layout(constant_id = 2) const bool SILU = false;
layout(constant_id = 3) const uint SEGS = 1;   // USE_TEXEL: segments per workgroup
// Without USE_TEXEL: > 0 when every invocation's elements of a segment (len <= NREG x local
// size) fit in registers: x is read once instead of once per pass. The sums run in the same
// order as in the three-pass form.
layout(constant_id = 4) const uint NREG = 0;

#include "reduce.glsl"

layout(std430, binding = 0) readonly buffer X { STYPE x[]; };
layout(std430, binding = 1) readonly buffer G { STYPE gamma[]; };
layout(std430, binding = 2) readonly buffer B { STYPE beta[]; };
layout(std430, binding = 3) writeonly buffer O { STYPE o[]; };
#ifdef USE_TEXEL
// The CPU-device flavour: x, gamma and beta as vec4 texels (a storage-buffer load is a loop
// over the SIMD lanes on lavapipe 22.3, a texel fetch straight-line code), vec4 stores.
// Needs len % 4 == 0, and inner % 4 == 0 (group norm: a vec4 is one channel) or inner == 1
// with one group (layer/RMS norm: a vec4 is 4 channels); x must not alias o.
layout(std430, binding = 3) writeonly buffer O4 { STYPE4 o4[]; };
layout(binding = 8) uniform samplerBuffer x_tex;
layout(binding = 9) uniform samplerBuffer gamma_tex;
layout(binding = 10) uniform samplerBuffer beta_tex;
#endif

#define NORM_GAMMA 1u
#define NORM_BETA 2u

layout(push_constant) uniform Push {
    uint nseg;
    uint len;
    uint inner;
    uint groups;
    uint flags;
    float eps;
} pc;

#ifdef USE_TEXEL
// A workgroup of one subgroup (what the C side dispatches) reduces without shared memory or
// barriers (each barrier is a coroutine switch on lavapipe).
float seg_sum(float v, uint slot)
{
    return gl_NumSubgroups == 1 ? subgroupAdd(v) : ar_wg_sum(v, slot);
}

// Stores y at vec4 i of o, after SiLU when asked.
void norm_store4(int i, vec4 y)
{
    if (SILU)
        y = vec4(ar_silu(y.x), ar_silu(y.y), ar_silu(y.z), ar_silu(y.w));
    o4[i] = STYPE4(y);
}

void norm_segment_texel(uint seg, uint lid)
{
    const uint step = gl_WorkGroupSize.x;
    const uint base = seg * pc.len;
    const uint len4 = pc.len / 4;
    const int base4 = int(base / 4);
    // One pass over x for both moments (a fetch pass fewer than mean, then variance): sums of
    // d = x - x0 and d^2, x0 the segment's first element. The shift keeps E[d^2] - E[d]^2
    // from cancelling the way E[x^2] - E[x]^2 does when |mean| >> std: it loses only
    // ~log2(1 + (mean - x0)^2 / var) bits.
    const float x0 = RMS ? 0.0 : texelFetch(x_tex, base4).x;
    vec4 s4 = vec4(0.0), q4 = vec4(0.0);
    for (uint j = lid; j < len4; j += step) {
        vec4 d = texelFetch(x_tex, base4 + int(j)) - x0;
        s4 += d;
        q4 = fma(d, d, q4);
    }
    float md = RMS ? 0.0 : seg_sum(s4.x + s4.y + s4.z + s4.w, 0) / float(pc.len);
    float var = max(seg_sum(q4.x + q4.y + q4.z + q4.w, 1) / float(pc.len) - md * md, 0.0);
    float mean4 = x0 + md;
    float rstd4 = 1.0 / sqrt(var + pc.eps);
    const uint cc0 = (seg % pc.groups) * (pc.len / pc.inner);
    const bool has_g = (pc.flags & NORM_GAMMA) != 0;
    const bool has_b = (pc.flags & NORM_BETA) != 0;
    if (pc.inner == 1) {                // a vec4 is 4 channels
        for (uint j = lid; j < len4; j += step) {
            vec4 g = has_g ? texelFetch(gamma_tex, int(j)) : vec4(1.0);
            vec4 bb = has_b ? texelFetch(beta_tex, int(j)) : vec4(0.0);
            vec4 y = (texelFetch(x_tex, base4 + int(j)) - mean4) * rstd4;
            norm_store4(base4 + int(j), fma(y, g, bb));
        }
        return;
    }
    // Group norm: channel by channel, its affine folded into one scale and shift (two texel
    // fetches per channel instead of per vec4).
    const uint inner4 = pc.inner / 4;
    for (uint c = 0; c < pc.len / pc.inner; c++) {
        uint ch = cc0 + c;
        float g = has_g ? texelFetch(gamma_tex, int(ch / 4))[ch % 4] : 1.0;
        float bb = has_b ? texelFetch(beta_tex, int(ch / 4))[ch % 4] : 0.0;
        float scale = rstd4 * g, shift = bb - mean4 * scale;
        const int cbase = base4 + int(c * inner4);
        for (uint j = lid; j < inner4; j += step)
            norm_store4(cbase + int(j), fma(texelFetch(x_tex, cbase + int(j)), vec4(scale),
                vec4(shift)));
    }
}
#endif

// Stores the normalised y of element j of the segment at base, whose first affine channel is
// c0: the affine of its channel, then SiLU when asked.
void norm_store(uint base, uint c0, uint j, float y)
{
    uint c = c0 + j / pc.inner;
    if ((pc.flags & NORM_GAMMA) != 0)
        y *= float(gamma[c]);
    if ((pc.flags & NORM_BETA) != 0)
        y += float(beta[c]);
    if (SILU)
        y = ar_silu(y);
    o[base + j] = STYPE(y);
}

void main()
{
    uint seg = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (seg * SEGS >= pc.nseg)
        return;     // uniform over the workgroup
    uint lid = gl_LocalInvocationID.x;
    uint base = seg * pc.len;
    const uint step = gl_WorkGroupSize.x;
#ifdef USE_TEXEL
    // SEGS consecutive segments per workgroup: short rows would otherwise cost more in
    // per-workgroup overhead than in work.
    uint seg0 = seg * SEGS;
    for (uint i = 0; i < SEGS && seg0 + i < pc.nseg; i++) {
        norm_segment_texel(seg0 + i, lid);
        if (gl_NumSubgroups > 1)
            barrier();   // the next segment's reductions reuse the shared slots
    }
    return;
#endif

    const uint c0 = (seg % pc.groups) * (pc.len / pc.inner);
    if (NREG > 0) {
        // Every load issued before the first sum needs one: one memory round trip.
        float v[NREG > 0 ? NREG : 1];
        [[unroll]] for (uint i = 0; i < NREG; i++) {
            uint j = lid + i * step;
            v[i] = 0.0;
            if (j < pc.len)
                v[i] = float(x[base + j]);
        }
        float mean_r = 0.0;
        if (!RMS) {
            float s = 0.0;
            [[unroll]] for (uint i = 0; i < NREG; i++)
                if (lid + i * step < pc.len)
                    s += v[i];
            mean_r = ar_wg_sum(s, 0) / float(pc.len);
        }
        float q = 0.0;
        [[unroll]] for (uint i = 0; i < NREG; i++)
            if (lid + i * step < pc.len) {
                float d = v[i] - mean_r;
                q += d * d;
            }
        float rstd_r = 1.0 / sqrt(ar_wg_sum(q, 1) / float(pc.len) + pc.eps);
        [[unroll]] for (uint i = 0; i < NREG; i++) {
            uint j = lid + i * step;
            if (j < pc.len)
                norm_store(base, c0, j, (v[i] - mean_r) * rstd_r);
        }
        return;
    }

    float mean = 0.0;
    if (!RMS) {
        float s = 0.0;
        for (uint j = lid; j < pc.len; j += step)
            s += float(x[base + j]);
        mean = ar_wg_sum(s, 0) / float(pc.len);
    }
    float q = 0.0;
    for (uint j = lid; j < pc.len; j += step) {
        float d = float(x[base + j]) - mean;
        q += d * d;
    }
    float rstd = 1.0 / sqrt(ar_wg_sum(q, 1) / float(pc.len) + pc.eps);

    for (uint j = lid; j < pc.len; j += step)
        norm_store(base, c0, j, (float(x[base + j]) - mean) * rstd);
}
