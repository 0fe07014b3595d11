/* Elementwise ops. */
#pragma once

G_BEGIN_DECLS

/* out[i] = a[i] + b[i], i < n. @out may alias @a (in-place residual add). */
void ar_op_add (ArCmd *cmd, ArDType dt, const ArBuffer *a, const ArBuffer *b, ArBuffer *out,
    guint64 n);

typedef enum {
  AR_UNARY_SILU = 0,       /* x * sigmoid(x) */
  AR_UNARY_GELU_TANH = 1,  /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
  AR_UNARY_GELU_ERF = 2,   /* 0.5 x (1 + erf(x / sqrt(2))), erf accurate to ~1e-7 relative */
  AR_UNARY_RELU = 3,       /* max(x, 0) (IRIS's Linear-ReLU-Linear head) */
} ArUnaryOp;

/* out[i] = a[i] * b[i], i < n (SwiGLU). @out may alias @a. */
void ar_op_mul (ArCmd *cmd, ArDType dt, const ArBuffer *a, const ArBuffer *b, ArBuffer *out,
    guint64 n);

/* out[i] = op(x[i]), i < n. @out may alias @x (in place). */
void ar_op_unary (ArCmd *cmd, ArDType dt, ArUnaryOp op, const ArBuffer *x, ArBuffer *out,
    guint64 n);

/* Nearest-neighbour 2x upsample: @x [c, h, w] -> @out [c, 2h, 2w], out[k, y, x] =
 * x[k, y/2, x/2]. For a batch [n, c, h, w] pass c = n * c. @out must not alias @x. */
void ar_op_upsample2x (ArCmd *cmd, ArDType dt, const ArBuffer *x, ArBuffer *out, guint32 c,
    guint32 h, guint32 w);

/* Batched transpose: @x [batch, rows, cols] -> @out [batch, cols, rows]. On CPU devices, with
 * rows and cols multiples of 4, a 4x4 block per invocation (texel fetches); else an element
 * per invocation. @out must not alias @x. */
void ar_op_transpose (ArCmd *cmd, ArDType dt, const ArBuffer *x, ArBuffer *out, guint32 batch,
    guint32 rows, guint32 cols);

G_END_DECLS
