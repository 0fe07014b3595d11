#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void
art_init (ArTest *t)
{
  memset (t, 0, sizeof *t);
  g_setenv ("AR_VULKAN_VALIDATE", "1", FALSE);
  GError *err = NULL;
  t->dev = ar_device_new (&err);
  if (!t->dev) {
    /* A missing device is a failure, never a skip. */
    fprintf (stderr, "FAIL: %s\n", err->message);
    printf ("0 passed, 1 failed\n");
    exit (1);
  }
  t->cmd = ar_cmd_new (t->dev, &err);
  if (!t->cmd) {
    fprintf (stderr, "FAIL: %s\n", err->message);
    exit (1);
  }
  g_autofree gchar *desc = ar_device_describe (t->dev);
  printf ("# device: %s\n", desc);
  t->rng = 0x9e3779b97f4a7c15ull;
}

int
art_finish (ArTest *t)
{
  guint msgs = ar_device_validation_messages (t->dev);
  ar_cmd_free (t->cmd);
  ar_device_unref (t->dev);
  if (msgs) {
    printf ("validation: %u messages FAIL\n", msgs);
    t->failed++;
  }
  printf ("%d passed, %d failed\n", t->passed, t->failed);
  return t->failed ? 1 : 0;
}

guint
art_dtypes (ArTest *t, ArDType out[2])
{
  guint n = 0;
  out[n++] = AR_F32;
  if (t->dev->caps.fp16_storage)
    out[n++] = AR_F16;
  else
    printf ("# fp16 storage unsupported on this device: f16 cases not run\n");
  return n;
}

guint32
art_rand_u32 (ArTest *t)
{
  /* splitmix64 */
  guint64 z = (t->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return (guint32) ((z ^ (z >> 31)) >> 32);
}

float
art_rand_float (ArTest *t, float lo, float hi)
{
  return lo + (hi - lo) * (float) ((art_rand_u32 (t) >> 8) * (1.0 / 16777216.0));
}

void
art_round (float *v, gsize n, ArDType dt)
{
  if (dt == AR_F16)
    for (gsize i = 0; i < n; i++)
      v[i] = ar_half_to_float (ar_float_to_half (v[i]));
}

float *
art_random (ArTest *t, gsize n, float lo, float hi, ArDType dt)
{
  float *v = g_new (float, MAX (n, 1));
  for (gsize i = 0; i < n; i++)
    v[i] = art_rand_float (t, lo, hi);
  art_round (v, n, dt);
  return v;
}

static void
die (GError *err)
{
  fprintf (stderr, "FAIL: %s\n", err->message);
  printf ("0 passed, 1 failed\n");
  exit (1);
}

ArBuffer *
art_alloc (ArTest *t, ArDType dt, gsize n)
{
  GError *err = NULL;
  ArBuffer *b = ar_buffer_new (t->dev, MAX (n, 1) * ar_dtype_size (dt), AR_MEM_DEVICE, &err);
  if (!b)
    die (err);
  return b;
}

ArBuffer *
art_upload (ArTest *t, ArDType dt, const float *data, gsize n)
{
  GError *err = NULL;
  ArBuffer *b = art_alloc (t, dt, n);
  gboolean ok;
  if (dt == AR_F16) {
    g_autofree guint16 *h = g_new (guint16, MAX (n, 1));
    for (gsize i = 0; i < n; i++)
      h[i] = ar_float_to_half (data[i]);
    ok = ar_buffer_write (b, 0, h, n * 2, &err);
  } else {
    ok = ar_buffer_write (b, 0, data, n * 4, &err);
  }
  if (!ok)
    die (err);
  return b;
}

ArBuffer *
art_upload_u32 (ArTest *t, const guint32 *data, gsize n)
{
  GError *err = NULL;
  ArBuffer *b = ar_buffer_new (t->dev, MAX (n, 1) * 4, AR_MEM_DEVICE, &err);
  if (!b || !ar_buffer_write (b, 0, data, n * 4, &err))
    die (err);
  return b;
}

void
art_step_init (ArTest *t, ArDType dt, const ArStepShape *s, float w_range, ArtStep *out)
{
  ArStepLayout lay;
  ar_step_layout (s, &lay);
  gsize cache_n = (gsize) s->layers * s->cache_stride, table_n = (gsize) s->table_rows * s->dim;
  g_autofree float *w = art_random (t, lay.total, -w_range, w_range, dt);
  g_autofree float *caches = art_random (t, cache_n, -1, 1, dt);
  g_autofree float *table = art_random (t, table_n, -1, 1, dt);
  g_autofree guint32 *ids = g_new0 (guint32, s->ctx);
  out->weights = art_upload (t, dt, w, lay.total);
  out->caches = art_upload (t, dt, caches, cache_n);
  out->table = art_upload (t, dt, table, table_n);
  out->ids = art_upload_u32 (t, ids, s->ctx);
  out->scratch = art_alloc (t, AR_F32, ar_step_scratch_size (s, 1) / 4);
  out->logits = art_alloc (t, dt, s->vocab);
}

void
art_step_clear (ArtStep *b)
{
  ArBuffer **bufs[] = { &b->weights, &b->caches, &b->table, &b->ids, &b->scratch, &b->logits };
  for (guint i = 0; i < G_N_ELEMENTS (bufs); i++)
    g_clear_pointer (bufs[i], ar_buffer_free);
}

void
art_step_record (ArTest *t, ArDType dt, const ArStepShape *s, ArtStep *b, guint pos)
{
  ar_cmd_zero (t->cmd, b->scratch);   /* its counters */
  ar_op_decode_step (t->cmd, dt, s, b->weights, b->caches, b->table, b->ids, b->ids, b->scratch,
      b->logits, pos, 0);
}

void
art_step_record_traced (ArTest *t, ArDType dt, const ArStepShape *s, ArtStep *b, guint pos,
    ArBuffer *trace)
{
  ar_cmd_zero (t->cmd, b->scratch);
  ar_op_decode_step_traced (t->cmd, dt, s, b->weights, b->caches, b->table, b->ids, b->ids,
      b->scratch, b->logits, pos, 0, trace);
}

guint64
art_step_trace_stamp (const guint32 *record, guint k)
{
  return (guint64) record[4 + 2 * k] | (guint64) record[5 + 2 * k] << 32;
}

float *
art_download (ArTest *t, ArDType dt, ArBuffer *buf, gsize n)
{
  GError *err = NULL;
  float *out = g_new (float, MAX (n, 1));
  if (dt == AR_F16) {
    g_autofree guint16 *h = g_new (guint16, MAX (n, 1));
    if (!ar_buffer_read (buf, 0, h, n * 2, &err))
      die (err);
    for (gsize i = 0; i < n; i++)
      out[i] = ar_half_to_float (h[i]);
  } else if (!ar_buffer_read (buf, 0, out, n * 4, &err)) {
    die (err);
  }
  return out;
}

guint32 *
art_download_u32 (ArTest *t, ArBuffer *buf, gsize n)
{
  GError *err = NULL;
  guint32 *out = g_new (guint32, MAX (n, 1));
  if (!ar_buffer_read (buf, 0, out, n * 4, &err))
    die (err);
  return out;
}

void
art_begin (ArTest *t)
{
  ar_cmd_begin (t->cmd);
}

gboolean
art_run (ArTest *t)
{
  GError *err = NULL;
  if (!ar_cmd_run (t->cmd, &err)) {
    printf ("run failed: %s FAIL\n", err->message);
    g_error_free (err);
    t->failed++;
    return FALSE;
  }
  return TRUE;
}

double
art_best_time_us (ArTest *t, int reps)
{
  double best = -1;
  for (int r = 0; r < reps; r++) {
    gint64 t0 = g_get_monotonic_time ();
    if (!art_run (t))
      break;
    double us = ar_cmd_gpu_time_us (t->cmd);
    if (us <= 0)
      us = (double) (g_get_monotonic_time () - t0);
    if (best < 0 || us < best)
      best = us;
  }
  return best;
}

double
art_nmse (const float *out, const float *ref, gsize n)
{
  double num = 0, den = 0;
  for (gsize i = 0; i < n; i++) {
    if (!isfinite (out[i]))
      return INFINITY;
    double d = (double) out[i] - ref[i];
    num += d * d;
    den += (double) ref[i] * ref[i];
  }
  if (den == 0)
    return num == 0 ? 0 : INFINITY;
  return num / den;
}

gboolean
art_report (ArTest *t, const char *op, const char *shape, ArDType dt, double nmse, double limit)
{
  gboolean ok = nmse <= limit;
  printf ("op %s %s %s nmse=%.3g %s\n", op, shape, ar_dtype_name (dt), nmse, ok ? "ok" : "FAIL");
  if (!ok)
    printf ("#   limit %.3g\n", limit);
  ok ? t->passed++ : t->failed++;
  return ok;
}

gboolean
art_report_exact (ArTest *t, const char *op, const char *shape, ArDType dt, const guint32 *out,
    const guint32 *ref, gsize n)
{
  gsize bad = 0, first = n;
  for (gsize i = 0; i < n; i++)
    if (out[i] != ref[i] && bad++ == 0)
      first = i;
  gboolean ok = bad == 0;
  printf ("op %s %s %s nmse=%g mismatches=%" G_GSIZE_FORMAT " %s\n", op, shape, ar_dtype_name (dt),
      n ? (double) bad / n : 0.0, bad, ok ? "ok" : "FAIL");
  if (!ok)
    printf ("#   first mismatch at %" G_GSIZE_FORMAT ": got %u, want %u\n", first, out[first], ref[first]);
  ok ? t->passed++ : t->failed++;
  return ok;
}

gboolean
art_report_cond (ArTest *t, const char *op, const char *shape, ArDType dt, gboolean ok,
    const char *detail_format, ...)
{
  va_list ap;
  va_start (ap, detail_format);
  g_autofree gchar *detail = g_strdup_vprintf (detail_format, ap);
  va_end (ap);
  printf ("op %s %s %s %s %s\n", op, shape, ar_dtype_name (dt), detail, ok ? "ok" : "FAIL");
  ok ? t->passed++ : t->failed++;
  return ok;
}
