/* Rotary position embedding. */
#pragma once

G_BEGIN_DECLS

/* Rotary position embedding, rotate-half convention (HF Llama / GPT-NeoX: dimension i pairs
 * with i + d/2), on @x [t, heads, d] for tokens at positions pos0 .. pos0 + t - 1:
 *   a = pos * theta^(-2i/d), i < d/2
 *   out[i] = x[i] cos a - x[i + d/2] sin a,  out[i + d/2] = x[i + d/2] cos a + x[i] sin a.
 * @theta is the frequency base (10000 for Llama 1/2). @d must be even. @out may alias @x
 * (in place). The angle is exact up to the fp32 rounding of theta^(-2i/d) (see rope.comp):
 * an error ~ pos * 6e-8 rad at the highest frequency, NMSE vs a double reference ~5e-8 at
 * position 16K and ~2e-6 at 100K (growing as pos^2). Positions must stay below 2^24. */
void ar_op_rope (ArCmd *cmd, ArDType dt, const ArBuffer *x, ArBuffer *out, guint32 t,
    guint32 heads, guint32 d, guint32 pos0, float theta);

G_END_DECLS
