#include "test-ops.h"

static void
check_add (ArTest *t, ArDType dt, gsize n)
{
  g_autofree float *a = art_random (t, n, -2, 2, dt);
  g_autofree float *b = art_random (t, n, -2, 2, dt);
  g_autofree float *ref = g_new (float, n);
  ref_add (a, b, ref, n);
  art_round (ref, n, dt);
  g_autoptr (ArBuffer) ba = art_upload (t, dt, a, n);
  g_autoptr (ArBuffer) bb = art_upload (t, dt, b, n);
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, n);
  art_begin (t);
  ar_op_add (t->cmd, dt, ba, bb, bo, n);
  if (!art_run (t))
    return;
  g_autofree float *out = art_download (t, dt, bo, n);
  g_autofree gchar *shape = g_strdup_printf ("[%" G_GSIZE_FORMAT "]", n);
  art_report (t, "add", shape, dt, art_nmse (out, ref, n),
      dt == AR_F16 ? ART_NMSE_LOOSE : ART_NMSE_F32_ELTWISE);
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
      check_add (t, dts[d], sizes[i]);
}
