// Merging split-K partial states of one-token attention, shared by attention_combine.comp,
// attention_decode.comp's fused combine and decode_step.comp. The includer declares part[]
// ([H, n_splits, 2 + D]: max, denominator, accumulator) and o[] (STYPE), or defines
// COMBINE_PART(i) and COMBINE_STORE(i, v) to read and write elsewhere, and includes
// reduce.glsl with AR_SUBGROUP before this file, and enables GL_EXT_control_flow_attributes.
//
// The lanes find the maximum and the softmax denominator across the splits together (two
// workgroup reductions), keep each split's weight exp(m_s - m) in shared memory, then run
// across the head dimension: one exp per split instead of one per split and dimension, and no
// lane walks the splits' maxima alone (H200, 64 splits: this was 13 us per combine, serial).
// Over the splits, the invocations work in groups of D lanes, group g taking splits g, g + G,
// ..., each lane's loads of a batch in flight together and the first batch's issued before
// the weights are known; the groups' sums meet in shared memory. A lane that walked all S
// splits itself waited on one memory round trip per split (H200, `large`'s fused step: 33
// splits, ~12 us per combine).
#ifndef COMBINE_GLSL
#define COMBINE_GLSL

#ifndef COMBINE_PART
#define COMBINE_PART(i) part[i]
#define COMBINE_STORE(i, v) o[i] = STYPE(v)
#endif

const uint MAX_SPLITS = 64;   // DECODE_MAX_SPLITS in common/ops/ar-op-attention.c
#ifndef COMBINE_BATCH
const uint COMBINE_BATCH = 8;   // splits a lane loads at once (the includer may set it)
#endif
shared float split_weight[MAX_SPLITS], split_den[MAX_SPLITS];
shared float combine_sum[gl_WorkGroupSize.x];

// Split s's accumulator element d of the head at @base (s and d clamped: callers mask).
float combine_acc(uint base, uint D, uint S, uint s, uint d)
{
    return COMBINE_PART(base + min(s, S - 1u) * (D + 2u) + 2u + min(d, D - 1u));
}

// Head h's S split states into o[h * D ..], by the whole workgroup (it has barriers).
void combine_splits(uint h, uint D, uint S)
{
    uint lid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    uint base = h * S * (D + 2u);
    uint G = max(WG / D, 1u), g = lid / D, d = lid % D;
    float v[COMBINE_BATCH];
    if (G > 1u) {
        [[unroll]] for (uint i = 0u; i < COMBINE_BATCH; i++)
            v[i] = combine_acc(base, D, S, g + i * G, d);
    }
    float m = -3.0e38;
    for (uint s = lid; s < S; s += WG) {
        float ms = COMBINE_PART(base + s * (D + 2u)), ds = COMBINE_PART(base + s * (D + 2u) + 1u);
        split_weight[s] = ms;
        split_den[s] = ds;
        m = max(m, ms);
    }
    // The reductions' barriers make split_weight and split_den visible to the whole workgroup.
    float mt = ar_wg_max(m, 0u);
    float den = 0.0;
    for (uint s = lid; s < S; s += WG) {
        float w = exp(split_weight[s] - mt);
        split_weight[s] = w;
        den += w * split_den[s];
    }
    float inv = 1.0 / ar_wg_sum(den, 1u);
    if (G == 1u) {   // wide heads (CPU devices' small workgroups): each lane its dims
        for (uint dd = lid; dd < D; dd += WG) {
            float sum = 0.0;
            for (uint s = 0u; s < S; s++)
                sum += split_weight[s] * COMBINE_PART(base + s * (D + 2u) + 2u + dd);
            COMBINE_STORE(h * D + dd, sum * inv);
        }
        return;
    }
    float sum = 0.0;
    [[unroll]] for (uint i = 0u; i < COMBINE_BATCH; i++) {
        uint s = g + i * G;
        sum += s < S ? split_weight[min(s, S - 1u)] * v[i] : 0.0;
    }
    for (uint s0 = g + COMBINE_BATCH * G; s0 < S; s0 += COMBINE_BATCH * G) {
        [[unroll]] for (uint i = 0u; i < COMBINE_BATCH; i++)
            v[i] = combine_acc(base, D, S, s0 + i * G, d);
        [[unroll]] for (uint i = 0u; i < COMBINE_BATCH; i++) {
            uint s = s0 + i * G;
            sum += s < S ? split_weight[min(s, S - 1u)] * v[i] : 0.0;
        }
    }
    combine_sum[lid] = sum;   // lanes past G groups of D: never read
    memoryBarrierShared();
    barrier();
    if (lid < D) {
        float t = 0.0;
        for (uint k = 0u; k < G; k++)
            t += combine_sum[k * D + lid];
        COMBINE_STORE(h * D + lid, t * inv);
    }
    barrier();   // combine_sum and split_weight are read before a next merge rewrites them
}

#endif
