#include "test-ops.h"

#include <string.h>

/* fp32 inv_freq costs an angle error ~ pos * inv_freq * 6e-8, so the NMSE grows as pos^2:
 * ~5e-8 at 16K positions, ~2e-6 at 100K. Far positions get @f32_limit. */
static void
check_rope (ArTest *t, ArDType dt, guint32 tok, guint32 heads, guint32 d, guint32 pos0,
    float theta, gboolean in_place, double f32_limit)
{
  gsize n = (gsize) tok * heads * d;
  g_autofree float *x = art_random (t, n, -2, 2, dt);
  g_autofree float *ref = g_new (float, n);
  ref_rope (x, ref, tok, heads, d, pos0, theta);
  art_round (ref, n, dt);
  g_autoptr (ArBuffer) bx = art_upload (t, dt, x, n);
  g_autoptr (ArBuffer) bo = in_place ? NULL : art_alloc (t, dt, n);
  ArBuffer *out = in_place ? bx : bo;
  art_begin (t);
  ar_op_rope (t->cmd, dt, bx, out, tok, heads, d, pos0, theta);
  if (!art_run (t))
    return;
  g_autofree float *o = art_download (t, dt, out, n);
  g_autofree gchar *shape = g_strdup_printf ("[%u,%u,%u]@%u,theta=%g%s", tok, heads, d, pos0,
      theta, in_place ? "(in-place)" : "");
  art_report (t, "rope", shape, dt, art_nmse (o, ref, n),
      dt == AR_F16 ? ART_NMSE_LOOSE : f32_limit);
}

void
test_rope (ArTest *t)
{
  ArDType dts[2];
  guint ndt = art_dtypes (t, dts);
  for (guint d = 0; d < ndt; d++) {
    ArDType dt = dts[d];
    check_rope (t, dt, 1, 1, 2, 0, 10000, FALSE, ART_NMSE_F32_ELTWISE);
    check_rope (t, dt, 3, 2, 6, 5, 10000, FALSE, ART_NMSE_F32_ELTWISE);
    check_rope (t, dt, 7, 3, 10, 13, 10000, TRUE, ART_NMSE_F32_ELTWISE);
    check_rope (t, dt, 17, 4, 64, 0, 10000, FALSE, ART_NMSE_F32_ELTWISE);
    check_rope (t, dt, 256, 4, 64, 0, 10000, TRUE, ART_NMSE_F32_ELTWISE);
    check_rope (t, dt, 5, 4, 64, 4000, 10000, FALSE, ART_NMSE_F32_ELTWISE);
    check_rope (t, dt, 9, 8, 128, 8187, 500000, FALSE, ART_NMSE_F32_ELTWISE);
    check_rope (t, dt, 3, 4, 64, 16381, 10000, FALSE, ART_NMSE_F32_ELTWISE);
    check_rope (t, dt, 2, 4, 64, 100000, 10000, FALSE, 1e-5);
  }

  g_autoptr (ArBuffer) bx = art_alloc (t, AR_F32, 64);
  GError *err = NULL;
  art_begin (t);
  ar_op_rope (t->cmd, AR_F32, bx, bx, 1, 1, 7, 0, 10000);
  gboolean ok = !ar_cmd_run (t->cmd, &err) && strstr (err->message, "odd");
  art_report_cond (t, "rope", "[1,1,7]", AR_F32, ok, "odd head dim: %s",
      err ? err->message : "(no error)");
  g_clear_error (&err);
}
