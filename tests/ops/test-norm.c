#include "test-ops.h"

#include <stdio.h>
#include <string.h>

/* Layer / RMS / group norms are row reductions, but with a two-pass variance in fp32 they
 * stay well inside the elementwise fp32 limit, which is therefore used for them too. */
static double
limit_for (ArDType dt)
{
  return dt == AR_F16 ? ART_NMSE_LOOSE : ART_NMSE_F32_ELTWISE;
}

/* Added to check_group_norm's inputs (uniform in [2, 6] otherwise). */
static float offset_mean;

static void
check_group_norm (ArTest *t, ArDType dt, guint32 n, guint32 c, guint32 h, guint32 w,
    guint32 groups, gboolean affine, gboolean silu, gboolean in_place)
{
  gsize len = (gsize) n * c * h * w;
  /* An offset mean, so that a one-pass variance would lose digits (more with offset_mean). */
  g_autofree float *x = art_random (t, len, 2 + offset_mean, 6 + offset_mean, dt);
  g_autofree float *gamma = art_random (t, c, 0.5, 1.5, dt);
  g_autofree float *beta = art_random (t, c, -1, 1, dt);
  g_autofree float *ref = g_new (float, len);
  const float eps = 1e-5f;
  ref_group_norm (x, affine ? gamma : NULL, affine ? beta : NULL, ref, n, c, (gsize) h * w,
      groups, eps, silu);
  art_round (ref, len, dt);
  g_autoptr (ArBuffer) bx = art_upload (t, dt, x, len);
  g_autoptr (ArBuffer) bg = art_upload (t, dt, gamma, c);
  g_autoptr (ArBuffer) bb = art_upload (t, dt, beta, c);
  g_autoptr (ArBuffer) bo = in_place ? NULL : art_alloc (t, dt, len);
  ArBuffer *out = in_place ? bx : bo;
  art_begin (t);
  ar_op_group_norm (t->cmd, dt, bx, affine ? bg : NULL, affine ? bb : NULL, out, n, c, h, w,
      groups, eps, silu);
  if (!art_run (t))
    return;
  g_autofree float *o = art_download (t, dt, out, len);
  g_autofree gchar *shape = g_strdup_printf ("[%u,%u,%u,%u]g%u%s%s%s", n, c, h, w, groups,
      affine ? "" : "(no-affine)", silu ? "+silu" : "", in_place ? "(in-place)" : "");
  art_report (t, "group_norm", shape, dt, art_nmse (o, ref, len), limit_for (dt));
}

static void
check_row_norm (ArTest *t, ArDType dt, gboolean rms, guint32 rows, guint32 cols,
    gboolean affine)
{
  gsize len = (gsize) rows * cols;
  g_autofree float *x = art_random (t, len, rms ? -2 : 3, rms ? 2 : 5, dt);
  g_autofree float *gamma = art_random (t, cols, 0.5, 1.5, dt);
  g_autofree float *beta = art_random (t, cols, -1, 1, dt);
  g_autofree float *ref = g_new (float, len);
  const float eps = 1e-6f;
  if (rms)
    ref_rms_norm (x, affine ? gamma : NULL, ref, rows, cols, eps);
  else
    ref_layer_norm (x, affine ? gamma : NULL, affine ? beta : NULL, ref, rows, cols, eps);
  art_round (ref, len, dt);
  g_autoptr (ArBuffer) bx = art_upload (t, dt, x, len);
  g_autoptr (ArBuffer) bg = art_upload (t, dt, gamma, cols);
  g_autoptr (ArBuffer) bb = art_upload (t, dt, beta, cols);
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, len);
  art_begin (t);
  if (rms)
    ar_op_rms_norm (t->cmd, dt, bx, affine ? bg : NULL, bo, rows, cols, eps);
  else
    ar_op_layer_norm (t->cmd, dt, bx, affine ? bg : NULL, affine ? bb : NULL, bo, rows, cols, eps);
  if (!art_run (t))
    return;
  g_autofree float *o = art_download (t, dt, bo, len);
  g_autofree gchar *shape = g_strdup_printf ("[%u,%u]%s", rows, cols, affine ? "" : "(no-affine)");
  art_report (t, rms ? "rms_norm" : "layer_norm", shape, dt, art_nmse (o, ref, len), limit_for (dt));
}

/* Bad arguments fail the recording with a clear message, and the run reports it. */
static void
check_bad_args (ArTest *t)
{
  g_autoptr (ArBuffer) bx = art_alloc (t, AR_F32, 10 * 4);
  g_autoptr (ArBuffer) bo = art_alloc (t, AR_F32, 10 * 4);
  GError *err = NULL;
  art_begin (t);
  ar_op_group_norm (t->cmd, AR_F32, bx, NULL, NULL, bo, 1, 10, 2, 2, 3, 1e-5f, FALSE);
  gboolean ok = ar_cmd_failed (t->cmd) && !ar_cmd_run (t->cmd, &err)
      && strstr (err->message, "3 groups do not divide 10 channels");
  art_report_cond (t, "group_norm", "[1,10,2,2]g3", AR_F32, ok, "bad groups: %s",
      err ? err->message : "(no error)");
  g_clear_error (&err);

  art_begin (t);
  ar_op_layer_norm (t->cmd, AR_F32, bx, NULL, NULL, bo, 3, 17, 1e-5f);
  ok = !ar_cmd_run (t->cmd, &err) && strstr (err->message, "x needs 51 elements");
  art_report_cond (t, "layer_norm", "[3,17] in 40", AR_F32, ok, "short buffer: %s",
      err ? err->message : "(no error)");
  g_clear_error (&err);
}

static void
run_all (ArTest *t, ArDType dt, gboolean realistic)
{
  check_group_norm (t, dt, 1, 1, 1, 1, 1, TRUE, FALSE, FALSE);
  check_group_norm (t, dt, 1, 6, 5, 7, 3, TRUE, FALSE, FALSE);
  check_group_norm (t, dt, 2, 10, 3, 1, 5, TRUE, TRUE, FALSE);
  check_group_norm (t, dt, 1, 13, 11, 3, 13, FALSE, TRUE, TRUE);
  if (realistic) {
    check_group_norm (t, dt, 1, 128, 64, 64, 32, TRUE, FALSE, FALSE);
    check_group_norm (t, dt, 1, 128, 64, 64, 32, TRUE, TRUE, TRUE);
  }
  const guint32 rows_cols[][2] = { { 1, 1 }, { 3, 17 }, { 7, 256 }, { 5, 512 }, { 2, 1031 } };
  for (guint rms = 0; rms < 2; rms++) {
    for (guint i = 0; i < G_N_ELEMENTS (rows_cols); i++)
      check_row_norm (t, dt, rms, rows_cols[i][0], rows_cols[i][1], TRUE);
    check_row_norm (t, dt, rms, 3, 100, FALSE);
    if (realistic)
      check_row_norm (t, dt, rms, 64, rms ? 4096 : 512, TRUE);
  }
}

void
test_norm (ArTest *t)
{
  ArDType dts[2];
  guint ndt = art_dtypes (t, dts);
  for (guint d = 0; d < ndt; d++)
    run_all (t, dts[d], TRUE);
  /* The shared-memory tree used where subgroup arithmetic is missing. */
  printf ("# without subgroup arithmetic\n");
  ar_ops_reduce_use_subgroups (FALSE);
  for (guint d = 0; d < ndt; d++)
    run_all (t, dts[d], FALSE);
  ar_ops_reduce_use_subgroups (TRUE);
  /* The texel flavour (CPU devices' default where it applies) on every device: group norms
   * with whole vec4s per channel (and the shapes above where they allow it), rows whose
   * length is a multiple of 4. */
  printf ("# texel flavour where it applies\n");
  ar_ops_reduce_force_texel (TRUE);
  for (guint d = 0; d < ndt; d++) {
    run_all (t, dts[d], FALSE);
    check_group_norm (t, dts[d], 1, 8, 4, 2, 4, TRUE, FALSE, FALSE);
    check_group_norm (t, dts[d], 2, 12, 2, 2, 3, FALSE, TRUE, FALSE);
    check_group_norm (t, dts[d], 1, 64, 16, 16, 32, TRUE, TRUE, FALSE);
    /* Its one-pass moments are shifted by each group's first element: a mean 250 times the
     * spread still leaves the fp32 limit met (unshifted sums of x^2 would lose it all). */
    offset_mean = dts[d] == AR_F32 ? 500.0f : 0.0f;
    check_group_norm (t, dts[d], 1, 64, 16, 16, 32, TRUE, FALSE, FALSE);
    offset_mean = 0.0f;
    check_row_norm (t, dts[d], FALSE, 323, 256, TRUE);
    check_row_norm (t, dts[d], TRUE, 9, 44, TRUE);
  }
  ar_ops_reduce_force_texel (FALSE);
  /* The general flavour on every device (what GPUs run), with segments held in registers
   * where they fit (every small shape; on CPU devices' 64 invocations also 64 x 32 x 32 in 32
   * groups, 32 per invocation) and, forced, in three passes over x. */
  ar_ops_reduce_avoid_texel (TRUE);
  for (guint regs = 0; regs < 2; regs++) {
    printf ("# general flavour, %s\n", regs ? "three passes" : "segments in registers");
    ar_ops_reduce_max_registers (regs ? 0 : AR_REDUCE_MAX_REGISTERS);
    for (guint d = 0; d < ndt; d++) {
      run_all (t, dts[d], FALSE);
      check_group_norm (t, dts[d], 1, 64, 32, 32, 32, TRUE, TRUE, FALSE);
      check_group_norm (t, dts[d], 1, 64, 32, 32, 32, TRUE, FALSE, TRUE);
      check_row_norm (t, dts[d], FALSE, 323, 256, TRUE);
    }
  }
  ar_ops_reduce_max_registers (AR_REDUCE_MAX_REGISTERS);
  ar_ops_reduce_avoid_texel (FALSE);
  check_bad_args (t);
}
