/* Softmax. */
#pragma once

G_BEGIN_DECLS

/* Row softmax of @x [rows, cols]: out[r, j] = exp(s x[r, j] - m) / sum_k exp(s x[r, k] - m),
 * s = @scale (1 for a plain softmax), m = max_k s x[r, k]. One workgroup per row. Each row
 * needs a finite maximum (a row all -inf gives NaN). @out may alias @x (in place). */
void ar_op_softmax (ArCmd *cmd, ArDType dt, const ArBuffer *x, ArBuffer *out, guint32 rows,
    guint32 cols, float scale);

/* CPU devices read x as texel buffers where cols % 4 == 0 (ar_ops_reduce_force_texel runs
 * that flavour on every device). */

G_END_DECLS
