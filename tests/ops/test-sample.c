#include "test-ops.h"

#include <math.h>
#include <stdio.h>

#define SENTINEL 0xdeadbeefu

static RefSampleParams
ref_params (const ArSampleParams *p)
{
  return (RefSampleParams) { p->temperature, p->top_k, p->top_p, p->greedy, p->seed, p->counter };
}

static void
params_text (const ArSampleParams *p, char *buf, gsize size)
{
  if (p->greedy || p->top_k == 1 || p->temperature == 0.0f)
    g_snprintf (buf, size, "greedy");
  else
    g_snprintf (buf, size, "T=%g,k=%u,p=%g", p->temperature, p->top_k, p->top_p);
}

/* Philox4x32-10 known-answer vectors (Random123 kat_vectors), then the shader against the C
 * function on random counters and keys. */
static void
check_philox (ArTest *t)
{
  static const guint32 kat[][10] = {
    { 0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 },
    { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
      0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd },
  };
  guint bad = 0;
  for (guint v = 0; v < G_N_ELEMENTS (kat); v++) {
    guint32 out[4];
    ref_philox4x32_10 (kat[v], kat[v] + 4, out);
    bad += memcmp (out, kat[v] + 6, sizeof out) != 0;
  }
  art_report_cond (t, "philox_kat", "[2]", AR_F32, bad == 0, "mismatches=%u", bad);

  const guint n = 1000;
  g_autofree guint32 *src = g_new (guint32, 6 * n);
  g_autofree guint32 *ref = g_new (guint32, 4 * n);
  for (guint i = 0; i < 6 * n; i++)
    src[i] = art_rand_u32 (t);
  memcpy (src, kat[0], 6 * 4);
  memcpy (src + 6, kat[1], 6 * 4);
  for (guint i = 0; i < n; i++)
    ref_philox4x32_10 (src + 6 * i, src + 6 * i + 4, ref + 4 * i);
  g_autoptr (ArBuffer) bs = art_upload_u32 (t, src, 6 * n);
  g_autoptr (ArBuffer) bd = art_alloc (t, AR_F32, 4 * n);
  art_begin (t);
  ar_op_philox (t->cmd, bs, bd, n);
  if (!art_run (t))
    return;
  g_autofree guint32 *out = art_download_u32 (t, bd, 4 * n);
  art_report_exact (t, "philox_glsl", "[1000x4]", AR_F32, out, ref, 4 * n);
}

/* Runs the op on @rows rows of @logits (already rounded to @dt) and compares tokens exactly
 * with the reference; tokens land at an offset between sentinels, which must survive. */
static gboolean
run_sample (ArTest *t, ArDType dt, const float *logits, guint rows, guint vocab,
    const ArSampleParams *p, guint32 *tokens, float *probs)
{
  const guint off = 3, pad = 2;
  g_autofree guint32 *init = g_new (guint32, off + rows + pad);
  for (guint i = 0; i < off + rows + pad; i++)
    init[i] = SENTINEL;
  g_autoptr (ArBuffer) bl = art_upload (t, dt, logits, (gsize) rows * vocab);
  g_autoptr (ArBuffer) bt = art_upload_u32 (t, init, off + rows + pad);
  g_autoptr (ArBuffer) bp = probs ? art_alloc (t, AR_F32, rows + 1) : NULL;
  art_begin (t);
  ar_op_sample_prob (t->cmd, dt, bl, rows, vocab, p, bt, off, bp, 1);
  if (!art_run (t))
    return FALSE;
  g_autofree guint32 *out = art_download_u32 (t, bt, off + rows + pad);
  gboolean sentinels = TRUE;
  for (guint i = 0; i < off + rows + pad; i++)
    if (i < off || i >= off + rows)
      sentinels &= out[i] == SENTINEL;
  if (!sentinels) {
    art_report_cond (t, "sample_offset", "-", dt, FALSE, "tokens written outside [out_offset, +rows)");
    return FALSE;
  }
  memcpy (tokens, out + off, rows * sizeof *tokens);
  if (probs) {
    g_autofree float *pr = art_download (t, AR_F32, bp, rows + 1);
    memcpy (probs, pr + 1, rows * sizeof *probs);
  }
  return TRUE;
}

typedef enum {
  LOGITS_UNIFORM,   /* uniform in [-6, 6) */
  LOGITS_TIES,      /* few distinct values: many ties, also at the top */
  LOGITS_MASKED,    /* uniform with a third of them -inf */
} LogitsKind;

static float *
make_logits (ArTest *t, ArDType dt, gsize n, LogitsKind kind)
{
  float *v = art_random (t, n, -6, 6, dt);
  for (gsize i = 0; i < n; i++) {
    if (kind == LOGITS_TIES)
      v[i] = floorf (v[i]) * 0.5f;
    else if (kind == LOGITS_MASKED && art_rand_u32 (t) % 3 == 0)
      v[i] = -INFINITY;
  }
  return v;
}

static void
check_exact (ArTest *t, ArDType dt, guint vocab, guint rows, LogitsKind kind,
    const ArSampleParams *p, const char *name)
{
  g_autofree float *x = make_logits (t, dt, (gsize) rows * vocab, kind);
  g_autofree guint32 *out = g_new (guint32, rows);
  g_autofree guint32 *ref = g_new (guint32, rows);
  g_autofree float *prob = g_new (float, rows);
  g_autofree float *ref_prob = g_new (float, rows);
  RefSampleParams rp = ref_params (p);
  ref_sample (x, rows, vocab, &rp, ref, ref_prob);
  if (!run_sample (t, dt, x, rows, vocab, p, out, prob))
    return;
  char ptext[64];
  params_text (p, ptext, sizeof ptext);
  static const char *kinds[] = { "", ",ties", ",masked" };
  g_autofree gchar *shape = g_strdup_printf ("[R=%u,V=%u,%s,seed=%" G_GINT64_MODIFIER "x,ctr=%"
      G_GINT64_MODIFIER "x%s]", rows, vocab, ptext, p->seed, p->counter, kinds[kind]);
  art_report_exact (t, name, shape, dt, out, ref, rows);
  art_report (t, "sample_prob", shape, dt, art_nmse (prob, ref_prob, rows), 1e-10);
}

static double
chi2_critical (guint df)
{
  /* Wilson-Hilferty approximation of the 0.999 quantile (z = 3.090). */
  double k = df, z = 3.090;
  double c = 1 - 2 / (9 * k) + z * sqrt (2 / (9 * k));
  return k * c * c * c;
}

/* R rows of the same logits, counters counter + r: the histogram must follow the renormalised
 * distribution, with no draw outside the kept set. */
static void
check_chi2 (ArTest *t, ArDType dt, guint vocab, const ArSampleParams *p)
{
  const guint rows = 20000;
  g_autofree float *row = art_random (t, vocab, -2.5f, 2.5f, dt);
  g_autofree float *x = g_new (float, (gsize) rows * vocab);
  for (guint r = 0; r < rows; r++)
    memcpy (x + (gsize) r * vocab, row, vocab * sizeof *x);
  g_autofree guint32 *out = g_new (guint32, rows);
  if (!run_sample (t, dt, x, rows, vocab, p, out, NULL))
    return;
  g_autofree double *dist = g_new (double, vocab);
  RefSampleParams rp = ref_params (p);
  ref_sample_dist (row, vocab, &rp, dist);
  g_autofree guint *hist = g_new0 (guint, vocab);
  guint outside = 0;
  for (guint r = 0; r < rows; r++)
    if (out[r] < vocab)
      hist[out[r]]++;
    else
      outside++;
  double chi2 = 0;
  guint kept = 0;
  for (guint i = 0; i < vocab; i++) {
    if (dist[i] > 0) {
      double e = dist[i] * rows;
      chi2 += (hist[i] - e) * (hist[i] - e) / e;
      kept++;
    } else {
      outside += hist[i];
    }
  }
  guint df = kept > 1 ? kept - 1 : 1;
  double crit = chi2_critical (df);
  char ptext[64];
  params_text (p, ptext, sizeof ptext);
  g_autofree gchar *shape = g_strdup_printf ("[V=%u,R=%u,%s]", vocab, rows, ptext);
  art_report_cond (t, "sample_chi2", shape, dt, kept >= 1 && chi2 <= crit && outside == 0,
      "chi2=%.2f df=%u crit=%.2f kept=%u outside=%u", chi2, df, crit, kept, outside);
}

/* The fixed-point weights against softmax in double. */
static void
check_weights (ArTest *t)
{
  const guint vocab = 4099;
  g_autofree float *x = art_random (t, vocab, -12, 12, AR_F32);
  g_autofree double *dist = g_new (double, vocab);
  RefSampleParams rp = { 0.8f, 0, 1.0f, 0, 1, 0 };
  ref_sample_dist (x, vocab, &rp, dist);
  double mx = -INFINITY, sum = 0, err = 0;
  for (guint i = 0; i < vocab; i++)
    mx = MAX (mx, (double) x[i] / 0.8);
  for (guint i = 0; i < vocab; i++)
    sum += exp ((double) x[i] / 0.8 - mx);
  for (guint i = 0; i < vocab; i++)
    err = MAX (err, fabs (dist[i] - exp ((double) x[i] / 0.8 - mx) / sum));
  art_report_cond (t, "sample_weights", "[V=4099,T=0.8]", AR_F32, err < 1e-8,
      "max_abs_err=%.3g", err);
}

static void
check_determinism (ArTest *t, ArDType dt)
{
  const guint rows = 256, vocab = 512;
  g_autofree float *x = art_random (t, (gsize) rows * vocab, -1, 1, dt);
  g_autofree guint32 *a = g_new (guint32, rows);
  g_autofree guint32 *b = g_new (guint32, rows);
  g_autofree guint32 *c = g_new (guint32, rows);
  ArSampleParams p = { 1.0f, 0, 1.0f, FALSE, 42, 7 };
  if (!run_sample (t, dt, x, rows, vocab, &p, a, NULL) || !run_sample (t, dt, x, rows, vocab, &p, b, NULL))
    return;
  p.seed = 43;
  if (!run_sample (t, dt, x, rows, vocab, &p, c, NULL))
    return;
  guint same = 0, differ = 0;
  for (guint r = 0; r < rows; r++) {
    same += a[r] == b[r];
    differ += a[r] != c[r];
  }
  art_report_cond (t, "sample_determinism", "[R=256,V=512]", dt,
      same == rows && differ > rows * 9 / 10, "same_seed_equal=%u/%u other_seed_differ=%u", same,
      rows, differ);
}

/* A counter read from a buffer at run time: one recording, replayed after rewriting the
 * buffer, draws what a recording with that counter in its parameters draws (a carry into
 * the high word included). */
static void
check_counter_base (ArTest *t, ArDType dt)
{
  const guint rows = 64, vocab = 300;
  g_autofree float *x = art_random (t, (gsize) rows * vocab, -1, 1, dt);
  const guint64 bases[] = { 5, G_GUINT64_CONSTANT (0xfffffffffffffff0) };
  g_autoptr (ArBuffer) bl = art_upload (t, dt, x, (gsize) rows * vocab);
  g_autoptr (ArBuffer) bt = art_alloc (t, AR_F32, rows);
  g_autoptr (ArBuffer) bc = art_alloc (t, AR_F32, 2);
  ArSampleParams p = { 1.0f, 0, 1.0f, FALSE, 42, 7 };
  guint equal = 0, total = 0, changed = 0;
  g_autofree guint32 *first = NULL;
  /* Its own recorder, recorded once: run_sample records into t->cmd. */
  GError *err = NULL;
  g_autoptr (ArCmd) rec = ar_cmd_new (t->dev, &err);
  if (!rec) {
    art_report_cond (t, "sample_counter_base", "-", dt, FALSE, "%s", err->message);
    g_clear_error (&err);
    return;
  }
  ar_cmd_begin (rec);
  ar_op_sample_ex (rec, dt, bl, rows, vocab, &p, bt, 0, NULL, 0, bc);
  for (guint i = 0; i < G_N_ELEMENTS (bases); i++) {
    guint32 words[2] = { (guint32) bases[i], (guint32) (bases[i] >> 32) };
    if (!ar_buffer_write (bc, 0, words, sizeof words, &err) || !ar_cmd_run (rec, &err)) {
      art_report_cond (t, "sample_counter_base", "-", dt, FALSE, "%s", err->message);
      g_clear_error (&err);
      return;
    }
    g_autofree guint32 *got = art_download_u32 (t, bt, rows);
    g_autofree guint32 *want = g_new (guint32, rows);
    ArSampleParams q = p;
    q.counter = p.counter + bases[i];
    if (!run_sample (t, dt, x, rows, vocab, &q, want, NULL))
      return;
    for (guint r = 0; r < rows; r++)
      equal += got[r] == want[r];
    total += rows;
    if (first)
      for (guint r = 0; r < rows; r++)
        changed += got[r] != first[r];
    else
      first = g_steal_pointer (&got);
  }
  art_report_cond (t, "sample_counter_base", "[R=64,V=300]", dt,
      equal == total && changed > rows / 2, "equal=%u/%u changed_between_bases=%u", equal, total,
      changed);
}

static void
time_sample (ArTest *t, ArDType dt, guint rows, guint vocab, const ArSampleParams *p)
{
  g_autofree float *x = art_random (t, (gsize) rows * vocab, -6, 6, dt);
  g_autoptr (ArBuffer) bl = art_upload (t, dt, x, (gsize) rows * vocab);
  g_autoptr (ArBuffer) bt = art_alloc (t, AR_F32, rows);
  ar_cmd_set_timing (t->cmd, TRUE);
  art_begin (t);
  for (guint i = 0; i < 5; i++)
    ar_op_sample (t->cmd, dt, bl, rows, vocab, p, bt, 0);
  /* The first run also compiles the pipeline: time the replay. */
  if (art_run (t) && art_run (t)) {
    char ptext[64];
    params_text (p, ptext, sizeof ptext);
    printf ("# sample [R=%u,V=%u,%s] %s: %.1f us per dispatch\n", rows, vocab, ptext,
        ar_dtype_name (dt), ar_cmd_gpu_time_us (t->cmd) / 5);
  }
  ar_cmd_set_timing (t->cmd, FALSE);
}

void
test_sample (ArTest *t)
{
  ArDType dts[2];
  guint ndt = art_dtypes (t, dts);
  check_philox (t);
  check_weights (t);

  const guint vocabs[] = { 1, 2, 18, 512, 1024, 4099, 50257 };
  const ArSampleParams greedy[] = {
    { 1.0f, 0, 1.0f, TRUE, 0, 0 },
    { 0.7f, 1, 1.0f, FALSE, 0, 0 },
  };
  /* Seeds and counters include a counter whose low word carries. */
  const ArSampleParams sampled[] = {
    { 1.0f, 0, 1.0f, FALSE, 1, 0 },
    { 0.7f, 40, 0.9f, FALSE, 0x123456789abcdefull, 0xfffffff0ull },
    { 1.3f, 0, 0.5f, FALSE, 0xfeedfacecafebeefull, 1000 },
    { 0.9f, 5, 1.0f, FALSE, 7, 0x100000000ull },
    { 2.0f, 300, 0.95f, FALSE, 99, 12345 },
    { 0.5f, 0, 0.05f, FALSE, 3, 77 },
  };
  for (guint d = 0; d < ndt; d++) {
    ArDType dt = dts[d];
    for (guint v = 0; v < G_N_ELEMENTS (vocabs); v++) {
      guint rows = vocabs[v] > 5000 ? 4 : 33;
      for (guint k = 0; k < 2; k++)
        for (guint g = 0; g < G_N_ELEMENTS (greedy); g++)
          check_exact (t, dt, vocabs[v], rows, k ? LOGITS_TIES : LOGITS_UNIFORM, &greedy[g],
              "sample_greedy");
      for (guint s = 0; s < G_N_ELEMENTS (sampled); s++)
        check_exact (t, dt, vocabs[v], rows, (LogitsKind) (s % 3), &sampled[s], "sample");
    }
    const ArSampleParams chi[] = {
      { 1.0f, 0, 1.0f, FALSE, 5, 0 },
      { 0.7f, 5, 1.0f, FALSE, 6, 1 << 20 },
      { 1.0f, 0, 0.8f, FALSE, 7, 0 },
      { 1.2f, 10, 0.9f, FALSE, 8, 0 },
    };
    for (guint c = 0; c < G_N_ELEMENTS (chi); c++)
      check_chi2 (t, dt, 16, &chi[c]);
    check_determinism (t, dt);
    check_counter_base (t, dt);
  }
  const ArSampleParams perf = { 0.8f, 40, 0.9f, FALSE, 1, 0 };
  const ArSampleParams perf_plain = { 1.0f, 0, 1.0f, FALSE, 1, 0 };
  time_sample (t, AR_F32, 1, 50257, &perf);
  time_sample (t, AR_F32, 1, 50257, &perf_plain);
  const ArSampleParams perf_p = { 0.8f, 0, 0.9f, FALSE, 1, 0 };
  const ArSampleParams perf_greedy = { 1.0f, 0, 1.0f, TRUE, 1, 0 };
  time_sample (t, AR_F32, 1, 50257, &perf_p);
  time_sample (t, AR_F32, 1, 50257, &perf_greedy);
  time_sample (t, AR_F32, 16, 50257, &perf);
}
