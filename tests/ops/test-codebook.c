#include "test-ops.h"

#include <stdio.h>

typedef enum {
  DATA_UNIFORM,   /* continuous values: ties improbable */
  DATA_GRID,      /* multiples of 1/8 in [-2, 2]: fp32 sums are exact, so real ties are common */
  DATA_DUPLICATE, /* the codebook's second half repeats its first: every best code is a tie */
} DataKind;

static float *
make_data (ArTest *t, gsize n, DataKind kind, ArDType dt)
{
  float *v = art_random (t, n, -1, 1, dt);
  if (kind == DATA_GRID)
    for (gsize i = 0; i < n; i++)
      v[i] = (float) ((int) (art_rand_u32 (t) % 33) - 16) / 8.0f;
  return v;
}

static void
check_argmin_path (ArTest *t, ArDType dt, guint n, guint dim, guint K, guint hw, DataKind kind,
    gboolean timed, ArCodebookPath path)
{
  gsize xn = (gsize) n * dim, en = (gsize) K * dim;
  g_autofree float *x = make_data (t, xn, kind, dt);
  g_autofree float *e = make_data (t, en, kind, dt);
  if (kind == DATA_DUPLICATE)
    for (gsize i = (K + 1) / 2 * dim; i < en; i++)
      e[i] = e[i - (K + 1) / 2 * dim];
  g_autofree guint32 *ref = g_new (guint32, MAX (n, 1));
  ref_codebook_argmin (x, e, ref, n, dim, K, hw);

  g_autoptr (ArBuffer) bx = art_upload (t, dt, x, xn);
  g_autoptr (ArBuffer) be = art_upload (t, dt, e, en);
  g_autoptr (ArBuffer) btok = art_alloc (t, AR_F32, n);
  ar_cmd_set_timing (t->cmd, timed);
  art_begin (t);
  ar_op_codebook_argmin_path (t->cmd, dt, bx, be, btok, n, dim, K, hw, path);
  gboolean ok = art_run (t);
  ar_cmd_set_timing (t->cmd, FALSE);
  if (!ok)
    return;
  g_autofree guint32 *out = art_download_u32 (t, btok, n);
  static const char *kinds[] = { "uniform", "grid", "dup" };
  static const char *paths[] = { "", " shared", " texel", " wide" };
  g_autofree gchar *shape = g_strdup_printf ("[n=%u dim=%u K=%u hw=%u %s%s]", n, dim, K, hw,
      kinds[kind], paths[path]);
  art_report_exact (t, "codebook_argmin", shape, dt, out, ref, n);
  if (timed)
    printf ("# time codebook_argmin %s %s: %.1f us (%.2f GFLOP/s, 3 flops per element)\n",
        shape, ar_dtype_name (dt), ar_cmd_gpu_time_us (t->cmd),
        3.0 * n * K * dim / ar_cmd_gpu_time_us (t->cmd) / 1e3);
}

/* Every path that applies: the automatic choice, the wide shape (AUTO's on GPUs), and on
 * channel-major vectors with hw and dim multiples of 4 the other two kernels by name. */
static void
check_argmin (ArTest *t, ArDType dt, guint n, guint dim, guint K, guint hw, DataKind kind,
    gboolean timed)
{
  check_argmin_path (t, dt, n, dim, K, hw, kind, timed, AR_CODEBOOK_AUTO);
  check_argmin_path (t, dt, n, dim, K, hw, kind, timed, AR_CODEBOOK_SHARED_WIDE);
  if (hw > 0 && hw % 4 == 0 && dim % 4 == 0) {
    check_argmin_path (t, dt, n, dim, K, hw, kind, timed, AR_CODEBOOK_SHARED);
    check_argmin_path (t, dt, n, dim, K, hw, kind, timed, AR_CODEBOOK_TEXEL);
  }
}

static void
check_lookup (ArTest *t, ArDType dt, guint n, guint dim, guint K, guint hw)
{
  gsize en = (gsize) K * dim, on = (gsize) n * dim;
  g_autofree float *e = art_random (t, en, -1, 1, dt);
  g_autofree guint32 *tok = g_new (guint32, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    tok[i] = art_rand_u32 (t) % K;
  tok[n - 1] = K + 5;   /* out of range: clamped to the last code */
  g_autofree float *ref = g_new (float, MAX (on, 1));
  ref_codebook_lookup (tok, e, ref, n, dim, K, hw);
  g_autoptr (ArBuffer) bt = art_upload_u32 (t, tok, n);
  g_autoptr (ArBuffer) be = art_upload (t, dt, e, en);
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, on);
  art_begin (t);
  ar_op_codebook_lookup (t->cmd, dt, bt, be, bo, n, dim, K, hw);
  if (!art_run (t))
    return;
  g_autofree float *out = art_download (t, dt, bo, on);
  g_autofree gchar *shape = g_strdup_printf ("[n=%u dim=%u K=%u hw=%u]", n, dim, K, hw);
  art_report (t, "codebook_lookup", shape, dt, art_nmse (out, ref, on), 0.0);
}

void
test_codebook (ArTest *t)
{
  ArDType dts[2];
  guint ndt = art_dtypes (t, dts);
  const guint Ks[] = { 1, 7, 512, 1024 }, dims[] = { 1, 3, 64, 256 }, ns[] = { 1, 16, 257 };
  for (guint d = 0; d < ndt; d++) {
    ArDType dt = dts[d];
    for (guint k = 0; k < G_N_ELEMENTS (Ks); k++)
      for (guint c = 0; c < G_N_ELEMENTS (dims); c++) {
        guint n = ns[(k + c) % G_N_ELEMENTS (ns)];
        check_argmin (t, dt, n, dims[c], Ks[k], 0, DATA_UNIFORM, FALSE);
        check_argmin (t, dt, n, dims[c], Ks[k], 0, DATA_GRID, FALSE);
      }
    /* Ties: the lower index must win. */
    check_argmin (t, dt, 257, 16, 64, 0, DATA_DUPLICATE, FALSE);
    check_argmin (t, dt, 16, 3, 7, 0, DATA_DUPLICATE, FALSE);
    check_argmin (t, dt, 100, 1, 9, 0, DATA_GRID, FALSE);
    /* Channel-major latents: one image, and a batch of 2 with an odd H*W. */
    check_argmin (t, dt, 256, 64, 512, 256, DATA_UNIFORM, FALSE);
    check_argmin (t, dt, 70, 3, 7, 35, DATA_GRID, FALSE);
    check_argmin (t, dt, 2 * 35, 256, 1024, 35, DATA_UNIFORM, FALSE);
    /* Shapes for the texel kernel: 4 vectors per workgroup (hw 12, 3 images), ties, code
     * counts that leave lanes idle or take several passes, 4 dims. */
    check_argmin (t, dt, 3 * 12, 8, 7, 12, DATA_GRID, FALSE);
    check_argmin (t, dt, 2 * 16, 16, 64, 16, DATA_DUPLICATE, FALSE);
    check_argmin (t, dt, 24, 4, 300, 24, DATA_UNIFORM, FALSE);
    check_argmin (t, dt, 8, 12, 1, 8, DATA_UNIFORM, FALSE);
    /* Realistic VQGAN latents: iris-small's 4x4 codes of 512 dims, 512 codes; 16x16 codes of
     * 256 dims, 1024 codes. */
    check_argmin (t, dt, 16, 512, 512, 16, DATA_UNIFORM, TRUE);
    check_argmin (t, dt, 256, 256, 1024, 256, DATA_UNIFORM, TRUE);
    {
      /* The texel kernel asked for where it does not apply: a clear error. */
      g_autoptr (ArBuffer) bx = art_alloc (t, dt, 70 * 8);
      g_autoptr (ArBuffer) be = art_alloc (t, dt, 7 * 8);
      g_autoptr (ArBuffer) btok = art_alloc (t, AR_F32, 70);
      GError *err = NULL;
      art_begin (t);
      ar_op_codebook_argmin_path (t->cmd, dt, bx, be, btok, 70, 8, 7, 35, AR_CODEBOOK_TEXEL);
      gboolean ran = ar_cmd_run (t->cmd, &err);
      art_report_cond (t, "codebook_argmin", "[n=70 dim=8 K=7 hw=35 texel-unavailable]", dt,
          !ran && err && strstr (err->message, "codebook_argmin") && strstr (err->message, "hw 35"),
          "error=\"%s\"", err ? err->message : "none");
      g_clear_error (&err);
    }

    check_lookup (t, dt, 1, 1, 1, 0);
    check_lookup (t, dt, 257, 3, 7, 0);
    check_lookup (t, dt, 256, 256, 1024, 256);
    check_lookup (t, dt, 70, 64, 512, 35);
  }
}
