/* Elementwise ops. */
#pragma once

G_BEGIN_DECLS

/* out[i] = a[i] + b[i], i < n. @out may alias @a (in-place residual add). */
void ar_op_add (ArCmd *cmd, ArDType dt, const ArBuffer *a, const ArBuffer *b, ArBuffer *out,
    guint64 n);

G_END_DECLS
