#include "test-ops.h"

#include <math.h>

static double
limit_for (ArDType dt)
{
  return dt == AR_F16 ? ART_NMSE_LOOSE : ART_NMSE_F32_ELTWISE;
}

static void
check_binary (ArTest *t, ArDType dt, gsize n, gboolean mul)
{
  g_autofree float *a = art_random (t, n, -2, 2, dt);
  g_autofree float *b = art_random (t, n, -2, 2, dt);
  g_autofree float *ref = g_new (float, n);
  (mul ? ref_mul : ref_add) (a, b, ref, n);
  art_round (ref, n, dt);
  g_autoptr (ArBuffer) ba = art_upload (t, dt, a, n);
  g_autoptr (ArBuffer) bb = art_upload (t, dt, b, n);
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, n);
  art_begin (t);
  (mul ? ar_op_mul : ar_op_add) (t->cmd, dt, ba, bb, bo, n);
  if (!art_run (t))
    return;
  g_autofree float *out = art_download (t, dt, bo, n);
  g_autofree gchar *shape = g_strdup_printf ("[%" G_GSIZE_FORMAT "]", n);
  art_report (t, mul ? "mul" : "add", shape, dt, art_nmse (out, ref, n), limit_for (dt));
}

static const struct {
  ArUnaryOp op;
  const char *name;
  void (*ref) (const float *x, float *out, size_t n);
} unary_ops[] = {
  { AR_UNARY_SILU, "silu", ref_silu },
  { AR_UNARY_GELU_TANH, "gelu_tanh", ref_gelu_tanh },
  { AR_UNARY_GELU_ERF, "gelu_erf", ref_gelu_erf },
  { AR_UNARY_RELU, "relu", ref_relu },
};

/* Returns the output (for further checks). @in_place runs with out = x. */
static float *
run_unary (ArTest *t, ArDType dt, guint k, const float *x, gsize n, gboolean in_place)
{
  g_autoptr (ArBuffer) bx = art_upload (t, dt, x, n);
  g_autoptr (ArBuffer) bo = in_place ? NULL : art_alloc (t, dt, n);
  art_begin (t);
  ar_op_unary (t->cmd, dt, unary_ops[k].op, bx, in_place ? bx : bo, n);
  if (!art_run (t))
    return NULL;
  return art_download (t, dt, in_place ? bx : bo, n);
}

static void
check_unary (ArTest *t, ArDType dt, guint k, gsize n, gboolean in_place)
{
  g_autofree float *x = art_random (t, n, -8, 8, dt);
  g_autofree float *ref = g_new (float, n);
  unary_ops[k].ref (x, ref, n);
  art_round (ref, n, dt);
  g_autofree float *out = run_unary (t, dt, k, x, n, in_place);
  if (!out)
    return;
  g_autofree gchar *shape = g_strdup_printf ("[%" G_GSIZE_FORMAT "]%s", n,
      in_place ? "(in-place)" : "");
  art_report (t, unary_ops[k].name, shape, dt, art_nmse (out, ref, n), limit_for (dt));
}

/* Max relative error over a dense sweep of [-12, 12], including the negative tails where the
 * outputs are tiny (NMSE would not see them). fp32 only. */
static void
check_unary_relerr (ArTest *t, guint k, double limit)
{
  const gsize n = 24001;
  g_autofree float *x = g_new (float, n);
  g_autofree float *ref = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    x[i] = -12.0f + 24.0f * (float) i / (n - 1);
  unary_ops[k].ref (x, ref, n);
  g_autofree float *out = run_unary (t, AR_F32, k, x, n, FALSE);
  if (!out)
    return;
  double worst = 0, at = 0;
  for (gsize i = 0; i < n; i++) {
    if (fabsf (ref[i]) < 1e-30f)    /* denormal range: absolute error only */
      continue;
    double e = fabs ((double) out[i] - ref[i]) / fabs (ref[i]);
    if (!(e <= worst))
      worst = e, at = x[i];
  }
  art_report_cond (t, unary_ops[k].name, "[-12,12] sweep", AR_F32, worst <= limit,
      "max_relerr=%.3g at x=%g (limit %.3g)", worst, at, limit);
}

static void
check_upsample (ArTest *t, ArDType dt, guint32 c, guint32 h, guint32 w)
{
  gsize n = (gsize) c * h * w;
  g_autofree float *x = art_random (t, n, -3, 3, dt);
  g_autofree float *ref = g_new (float, 4 * n);
  ref_upsample2x (x, ref, c, h, w);
  g_autoptr (ArBuffer) bx = art_upload (t, dt, x, n);
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, 4 * n);
  art_begin (t);
  ar_op_upsample2x (t->cmd, dt, bx, bo, c, h, w);
  if (!art_run (t))
    return;
  g_autofree float *out = art_download (t, dt, bo, 4 * n);
  g_autofree gchar *shape = g_strdup_printf ("[%u,%u,%u]", c, h, w);
  art_report (t, "upsample2x", shape, dt, art_nmse (out, ref, 4 * n), 0);
}

/* Transposes are copies: exact. Shapes with rows and cols multiples of 4 take the texel
 * kernel on CPU devices, the others the element kernel. */
static void
check_transpose (ArTest *t, ArDType dt, guint32 batch, guint32 rows, guint32 cols)
{
  gsize n = (gsize) batch * rows * cols;
  g_autofree float *x = art_random (t, n, -3, 3, dt);
  g_autofree float *ref = g_new (float, n);
  for (gsize b = 0; b < batch; b++)
    for (gsize r = 0; r < rows; r++)
      for (gsize c = 0; c < cols; c++)
        ref[(b * cols + c) * rows + r] = x[(b * rows + r) * cols + c];
  g_autoptr (ArBuffer) bx = art_upload (t, dt, x, n);
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, n);
  art_begin (t);
  ar_op_transpose (t->cmd, dt, bx, bo, batch, rows, cols);
  if (!art_run (t))
    return;
  g_autofree float *out = art_download (t, dt, bo, n);
  g_autofree gchar *shape = g_strdup_printf ("[%u,%u,%u]", batch, rows, cols);
  art_report (t, "transpose", shape, dt, art_nmse (out, ref, n), 0);
}

void
test_eltwise (ArTest *t)
{
  ArDType dts[2];
  guint ndt = art_dtypes (t, dts);
  /* 1, a prime, a non-multiple of the local size, and one past the 1-D grid limit. */
  const gsize sizes[] = { 1, 7, 1000, 65535 * 256 + 3 };
  for (guint d = 0; d < ndt; d++)
    for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
      for (int mul = 0; mul < 2; mul++)
        check_binary (t, dts[d], sizes[i], mul);

  const gsize unary_sizes[] = { 1, 7, 1000, (1 << 20) + 3 };
  for (guint d = 0; d < ndt; d++)
    for (guint k = 0; k < G_N_ELEMENTS (unary_ops); k++) {
      for (guint i = 0; i < G_N_ELEMENTS (unary_sizes); i++)
        check_unary (t, dts[d], k, unary_sizes[i], FALSE);
      check_unary (t, dts[d], k, 1001, TRUE);
    }
  /* Tails: SiLU's exp(-x) costs ~|x| ulp (x is exact); GELU erf carries its argument exactly
   * (see activation.glsl); the tanh form's exponent 2y = 1.6 x + 0.07 x^3 is rounded in fp32,
   * ~|2y| ulp of relative error where the outputs are below 1e-20. */
  const double relerr_limits[] = { 2e-6, 3e-5, 2e-6, 0 };
  for (guint k = 0; k < G_N_ELEMENTS (unary_ops); k++)
    check_unary_relerr (t, k, relerr_limits[k]);

  const guint32 up[][3] = { { 1, 1, 1 }, { 3, 5, 7 }, { 2, 1, 13 }, { 128, 64, 64 } };
  for (guint d = 0; d < ndt; d++)
    for (guint i = 0; i < G_N_ELEMENTS (up); i++)
      check_upsample (t, dts[d], up[i][0], up[i][1], up[i][2]);

  /* One element, odd shapes, a batch; then multiples of 4 (the tokenizer's 16x16 and 8x8
   * attention: [64, 256] and [64, 64]), batched and tall. */
  const guint32 tr[][3] = { { 1, 1, 1 }, { 1, 3, 5 }, { 2, 7, 13 }, { 1, 4, 6 }, { 1, 4, 8 },
    { 2, 12, 20 }, { 1, 64, 256 }, { 1, 64, 64 }, { 3, 1028, 8 } };
  for (guint d = 0; d < ndt; d++)
    for (guint i = 0; i < G_N_ELEMENTS (tr); i++)
      check_transpose (t, dts[d], tr[i][0], tr[i][1], tr[i][2]);
}
