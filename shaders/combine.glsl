// Merging split-K partial states of one-token attention, shared by attention_combine.comp,
// attention_decode.comp's fused combine and decode_step.comp. The includer declares part[]
// ([H, n_splits, 2 + D]: max, denominator, accumulator) and o[] (STYPE), or defines
// COMBINE_PART(i) and COMBINE_STORE(i, v) to read and write elsewhere, and includes
// reduce.glsl with AR_SUBGROUP before this file.
//
// The lanes find the maximum and the softmax denominator across the splits together (two
// workgroup reductions), keep each split's weight exp(m_s - m) in shared memory, then run
// across the head dimension: one exp per split instead of one per split and dimension, and no
// lane walks the splits' maxima alone (H200, 64 splits: this was 13 us per combine, serial).
#ifndef COMBINE_GLSL
#define COMBINE_GLSL

#ifndef COMBINE_PART
#define COMBINE_PART(i) part[i]
#define COMBINE_STORE(i, v) o[i] = STYPE(v)
#endif

const uint MAX_SPLITS = 64;   // DECODE_MAX_SPLITS in common/ops/ar-op-attention.c
shared float split_weight[MAX_SPLITS];

// Head h's S split states into o[h * D ..], by the whole workgroup (it has barriers).
void combine_splits(uint h, uint D, uint S)
{
    uint lid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    uint base = h * S * (D + 2);
    float m = -3.0e38;
    for (uint s = lid; s < S; s += WG)
        m = max(m, COMBINE_PART(base + s * (D + 2)));
    float mt = ar_wg_max(m, 0);
    float den = 0.0;
    for (uint s = lid; s < S; s += WG) {
        float w = exp(COMBINE_PART(base + s * (D + 2)) - mt);
        split_weight[s] = w;
        den += w * COMBINE_PART(base + s * (D + 2) + 1);
    }
    // The reduction's barrier also makes split_weight visible to the whole workgroup.
    float inv = 1.0 / ar_wg_sum(den, 1);
    for (uint d = lid; d < D; d += WG) {
        float sum = 0.0;
        for (uint s = 0; s < S; s++)
            sum += split_weight[s] * COMBINE_PART(base + s * (D + 2) + 2 + d);
        COMBINE_STORE(h * D + d, sum * inv);
    }
}

#endif
