/* Matrix products: nn.Linear (x @ W^T + b), plain A @ B, batched and strided (attention-like
 * products over heads), with an optional fused activation. */
#pragma once

G_BEGIN_DECLS

/* Activation fused into the epilogue, applied after bias. */
typedef enum {
  AR_ACT_NONE = 0,
  AR_ACT_GELU_TANH,   /* GELU, tanh approximation (PyTorch approximate='tanh') */
  AR_ACT_SILU,        /* x * sigmoid(x) */
  AR_ACT_GELU_ERF,    /* GELU, exact erf form (PyTorch default) */
  AR_ACT_RELU,        /* max(x, 0) */
  AR_ACT_COUNT
} ArActivation;

/* Which kernel runs. AUTO takes the matrix-vector kernel when M == 1, in the flavour that
 * suits the device; for M > 1 on CPU devices the texel-buffer kernel where it applies,
 * else the register-blocked kernel (neither has barriers in the K loop), and the
 * shared-memory tiles on GPUs. The others force a kernel, for tests and tuning; the MATVEC ones need
 * M == 1. */
typedef enum {
  AR_MATMUL_AUTO = 0,
  AR_MATMUL_TILED,               /* register-blocked general kernel */
  AR_MATMUL_MATVEC,              /* matrix-vector kernel, flavour chosen by the device */
  AR_MATMUL_MATVEC_REDUCE,       /* one workgroup per output, subgroup reduction if available */
  AR_MATMUL_MATVEC_REDUCE_SHARED,/* one workgroup per output, shared-memory reduction */
  AR_MATMUL_TILE_SHARED,         /* 64x64 tiles staged in shared memory, 32x32 for small grids
                                  * (AUTO on GPUs) */
  AR_MATMUL_TILE_COOPMAT,        /* the same with NV cooperative matrices: fp16 storage on a
                                  * device with caps.coopmat_nv, else an error. Not AUTO: on an
                                  * H200 it measured slower than the plain tiles (340x768x256:
                                  * 38 vs 24 us) */
  AR_MATMUL_TEXEL,               /* lanes across rows, A and W read as uniform texel buffers
                                  * of vec4s: needs K-contiguous W, K % 4 == 0, 4-aligned
                                  * rows and texel-viewable buffers, else an error (AUTO for
                                  * M > 1 on CPU devices where it applies) */
  AR_MATMUL_MATVEC_TEXEL,        /* the matrix-vector kernel reading a, W (and the norm's
                                  * gamma, beta) as vec4 texels, lanes across outputs: M == 1
                                  * and the texel kernel's conditions, else an error (what
                                  * MATVEC and AUTO take on CPU devices where it applies) */
  AR_MATMUL_MATVEC_ROWS,         /* the matrix-vector kernel with a subgroup per output row
                                  * and 4-element loads: M == 1, subgroup arithmetic,
                                  * K-contiguous W, K % 4 == 0 and 4-aligned rows, else an
                                  * error (what MATVEC and AUTO take on GPUs where it applies,
                                  * unless AR_VULKAN_AVOID names matvec_rows) */
  AR_MATMUL_SKINNY,              /* MATVEC_ROWS for a few rows of A (2 <= M <= 32): each
                                  * subgroup reads its row of W once for all of them; the
                                  * same conditions (A's rows 4-aligned too), else an error.
                                  * AUTO on GPUs for such M unless AR_VULKAN_AVOID names
                                  * matmul_skinny (not measured on a GPU yet) */
} ArMatmulPath;

/* A batched, strided product, for b < batch, m < M, n < N:
 *   out[o_off + b*o_bs + m*o_ld + n] =
 *     act(alpha * sum_k A[a_off + b*a_bs + m*a_ld + k] * W(b,n,k) + bias[n])
 *     (+ its previous value when accumulate)
 * where W(b,n,k) = w[w_off + b*w_bs + n*w_ld + k]  (w_kn FALSE: nn.Linear layout [N,K])
 *              or  w[w_off + b*w_bs + k*w_ld + n]  (w_kn TRUE: plain A @ B with B [K,N]).
 * All offsets and strides count elements. Bias (optional) is [N], shared by all batches.
 * Fill with ar_matmul_params_init() and change what differs. */
typedef struct {
  guint M, N, K;
  guint batch;
  gboolean w_kn;
  guint a_off, a_ld, a_bs;
  guint w_off, w_ld, w_bs;
  guint o_off, o_ld, o_bs;
  float alpha;
  ArActivation act;
  ArMatmulPath path;
  /* out += the result instead of out = (a residual add in the epilogue: one dispatch and
   * one pass over the output fewer). */
  gboolean accumulate;
} ArMatmulParams;

/* Dense defaults: batch 1, W as [N,K], rows packed (a_ld = K, w_ld = K, o_ld = N), batch
 * strides of packed matrices, alpha 1, no activation, automatic kernel choice. */
void ar_matmul_params_init (ArMatmulParams *p, guint M, guint N, guint K);

/* nn.Linear: out[M,N] = act(A[M,K] @ W[N,K]^T + bias[N]); @bias may be NULL. Uses the
 * matrix-vector kernel when M == 1. */
void ar_op_matmul (ArCmd *cmd, ArDType dt, const ArBuffer *a, const ArBuffer *w,
    const ArBuffer *bias, ArBuffer *out, guint M, guint N, guint K, ArActivation act);

/* A residual branch: out[M,N] += A[M,K] @ W[N,K]^T + bias[N] (one dispatch). */
void ar_op_matmul_accumulate (ArCmd *cmd, ArDType dt, const ArBuffer *a, const ArBuffer *w,
    const ArBuffer *bias, ArBuffer *out, guint M, guint N, guint K);

/* The general form (see ArMatmulParams). @out must not overlap @a, @w or @bias. */
void ar_op_matmul_ex (ArCmd *cmd, ArDType dt, const ArBuffer *a, const ArBuffer *w,
    const ArBuffer *bias, ArBuffer *out, const ArMatmulParams *p);

/* The row norm of a norm + matmul prologue (as ar_op_layer_norm / ar_op_rms_norm). */
typedef enum {
  AR_ROW_NORM_LAYER = 1,
  AR_ROW_NORM_RMS = 2,
} ArRowNormKind;

typedef struct {
  ArRowNormKind kind;
  const ArBuffer *gamma;   /* [K], may be NULL (1) */
  const ArBuffer *beta;    /* [K], LayerNorm only, may be NULL (0) */
  float eps;
} ArRowNorm;

/* out = act(norm(A) @ W^T + bias) (+ out when accumulate), the norm over each row of A.
 * A one-token step (M = 1, batch 1, W as [N,K], gamma given, and beta for LayerNorm) is one
 * matrix-vector dispatch that normalises A as it loads it; anything else writes the norm to
 * @scratch (the size of A) first and then multiplies. A's rows must be packed (a_off 0,
 * a_ld K). */
void ar_op_norm_matmul_ex (ArCmd *cmd, ArDType dt, const ArRowNorm *norm, const ArBuffer *a,
    ArBuffer *scratch, const ArBuffer *w, const ArBuffer *bias, ArBuffer *out,
    const ArMatmulParams *p);

/* Tests: the shared-memory tile size (64 or 32) of the TILE_SHARED path whatever the grid;
 * 0 restores the automatic choice (32 where 64x64 tiles give a small grid). Not thread-safe:
 * set it before recording. */
void ar_op_matmul_force_tile (guint size);

/* Tests: the layout of the TEXEL path's kernel whatever M: 1 lanes across rows, 2 lanes
 * across columns; 0 restores the automatic choice (columns for a few rows). Not thread-safe:
 * set it before recording. */
void ar_op_matmul_force_texel_lanes (guint layout);

G_END_DECLS
