#include "test-ops.h"

#include <stdio.h>
#include <string.h>

static void
check_softmax (ArTest *t, ArDType dt, guint32 rows, guint32 cols, float scale, gboolean in_place)
{
  gsize n = (gsize) rows * cols;
  g_autofree float *x = art_random (t, n, -8, 8, dt);
  g_autofree float *ref = g_new (float, n);
  ref_softmax (x, ref, rows, cols, scale);
  art_round (ref, n, dt);
  g_autoptr (ArBuffer) bx = art_upload (t, dt, x, n);
  g_autoptr (ArBuffer) bo = in_place ? NULL : art_alloc (t, dt, n);
  ArBuffer *out = in_place ? bx : bo;
  art_begin (t);
  ar_op_softmax (t->cmd, dt, bx, out, rows, cols, scale);
  if (!art_run (t))
    return;
  g_autofree float *o = art_download (t, dt, out, n);
  g_autofree gchar *shape = g_strdup_printf ("[%u,%u]*%g%s", rows, cols, scale,
      in_place ? "(in-place)" : "");
  /* A row reduction, but exp and one sum keep it at elementwise fp32 accuracy. */
  art_report (t, "softmax", shape, dt, art_nmse (o, ref, n),
      dt == AR_F16 ? ART_NMSE_LOOSE : ART_NMSE_F32_ELTWISE);
}

static void
run_all (ArTest *t, ArDType dt)
{
  check_softmax (t, dt, 1, 1, 1, FALSE);
  check_softmax (t, dt, 3, 17, 1, FALSE);
  check_softmax (t, dt, 5, 1024, 1, FALSE);
  check_softmax (t, dt, 2, 1000, 0.125f, FALSE);
  check_softmax (t, dt, 7, 4099, -0.5f, TRUE);
  check_softmax (t, dt, 300, 17, 2, FALSE);
  /* Rows of whole vec4s (the texel flavour on CPU devices): short ones several to a
   * workgroup, a row count that is not a multiple of that, in place. */
  check_softmax (t, dt, 257, 256, 0.0625f, TRUE);
  check_softmax (t, dt, 19, 64, 1, FALSE);
  check_softmax (t, dt, 3, 4, 3, FALSE);
}

void
test_softmax (ArTest *t)
{
  ArDType dts[2];
  guint ndt = art_dtypes (t, dts);
  for (guint d = 0; d < ndt; d++) {
    run_all (t, dts[d]);
    check_softmax (t, dts[d], 64, 16384, 1, FALSE);  /* a vocabulary-sized row */
  }
  printf ("# without subgroup arithmetic\n");
  ar_ops_reduce_use_subgroups (FALSE);
  for (guint d = 0; d < ndt; d++)
    run_all (t, dts[d]);
  ar_ops_reduce_use_subgroups (TRUE);
  printf ("# texel flavour where it applies\n");
  ar_ops_reduce_force_texel (TRUE);
  for (guint d = 0; d < ndt; d++) {
    run_all (t, dts[d]);
    check_softmax (t, dts[d], 4, 16384, 1, FALSE);
  }
  ar_ops_reduce_force_texel (FALSE);
  /* The general flavour on every device (what GPUs run), rows held in registers where they
   * fit (up to 32 elements per invocation) and, forced, in three passes over x. */
  ar_ops_reduce_avoid_texel (TRUE);
  for (guint regs = 0; regs < 2; regs++) {
    printf ("# general flavour, %s\n", regs ? "three passes" : "rows in registers");
    ar_ops_reduce_max_registers (regs ? 0 : AR_REDUCE_MAX_REGISTERS);
    for (guint d = 0; d < ndt; d++)
      run_all (t, dts[d]);
  }
  ar_ops_reduce_max_registers (AR_REDUCE_MAX_REGISTERS);
  ar_ops_reduce_avoid_texel (FALSE);

  g_autoptr (ArBuffer) bx = art_alloc (t, AR_F32, 16);
  GError *err = NULL;
  art_begin (t);
  ar_op_softmax (t->cmd, AR_F32, bx, bx, 2, 17, 1);
  gboolean ok = !ar_cmd_run (t->cmd, &err) && strstr (err->message, "x needs 34 elements");
  art_report_cond (t, "softmax", "[2,17] in 16", AR_F32, ok, "short buffer: %s",
      err ? err->message : "(no error)");
  g_clear_error (&err);
}
