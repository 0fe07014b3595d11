/* Rotary position embedding. */
#pragma once

G_BEGIN_DECLS

/* Rotary position embedding, rotate-half convention (HF Llama / GPT-NeoX: dimension i pairs
 * with i + d/2), on @x [t, heads, d] for tokens at positions pos0 .. pos0 + t - 1:
 *   a = pos * theta^(-2i/d), i < d/2
 *   out[i] = x[i] cos a - x[i + d/2] sin a,  out[i + d/2] = x[i + d/2] cos a + x[i] sin a.
 * @theta is the frequency base (10000 for Llama 1/2). @d must be even. @out may alias @x
 * (in place). The angle is exact up to the fp32 rounding of theta^(-2i/d) (see rope.comp). */
void ar_op_rope (ArCmd *cmd, ArDType dt, const ArBuffer *x, ArBuffer *out, guint32 t,
    guint32 heads, guint32 d, guint32 pos0, float theta);

G_END_DECLS
