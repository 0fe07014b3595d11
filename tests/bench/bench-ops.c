/* Op benchmark: GPU time per call (median of repeated replays of one recorded dispatch,
 * measured with timestamp queries), throughput, and the plain C reference's time for scale.
 * With --calls N, each replay is one recording of N calls of the op and the time is its wall
 * time per call: what a call costs inside a model's recording (on lavapipe timestamps add
 * tens of microseconds per dispatch, which that mode leaves out).
 * Usage: bench-ops [--reps N] [--calls N] [--f16-only|--f32-only] [--only matmul|conv2d|attention|step] */
#include "harness.h"
#include "ref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reps = 15;
static int calls = 0;   /* 0: one call per recording, GPU timestamps; else wall time per call */

/* How many times a bench records its op. */
static int
calls_per_run (void)
{
  return calls ? calls : 1;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* Replays the recording on t->cmd; returns the median GPU time in microseconds (with
 * --calls, the median wall time of a replay divided by the calls in it). */
static double
median_gpu_us (ArTest *t)
{
  double *us = g_new (double, reps);
  GError *err = NULL;
  if (!ar_cmd_run (t->cmd, &err)) {   /* warm-up: first touch of memory, pipeline caches */
    fprintf (stderr, "bench: %s\n", err->message);
    exit (1);
  }
  for (int i = 0; i < reps; i++) {
    gint64 t0 = g_get_monotonic_time ();
    ar_cmd_run (t->cmd, NULL);
    us[i] = calls ? (double) (g_get_monotonic_time () - t0) / calls : ar_cmd_gpu_time_us (t->cmd);
  }
  qsort (us, reps, sizeof (double), cmp_double);
  double m = us[reps / 2];
  g_free (us);
  return m;
}

static double
time_cpu_us (void (*fn) (void *), void *data)
{
  double best = 1e30;
  for (int i = 0; i < 3; i++) {
    gint64 t0 = g_get_monotonic_time ();
    fn (data);
    best = MIN (best, (double) (g_get_monotonic_time () - t0));
  }
  return best;
}

static void
print_row (const char *op, const char *shape, ArDType dt, double gpu_us, double work, const char *unit,
    double ref_us)
{
  printf ("bench %-10s %-28s %s  %s %10.1f us  %8.2f %s  c-ref %10.1f us  (x%.1f)\n", op, shape,
      ar_dtype_name (dt), calls ? "wall" : "gpu ", gpu_us, work / gpu_us / 1e3, unit, ref_us,
      ref_us / gpu_us);
}

typedef struct {
  const float *a, *w, *x;
  float *out;
  guint M, N, K;
} MatmulJob;

static void
run_ref_matmul (void *data)
{
  MatmulJob *j = data;
  ref_matmul (j->a, j->w, NULL, j->out, j->M, j->N, j->K, 0, 1.0f, 0);
}

static void
bench_matmul (ArTest *t, ArDType dt, guint M, guint N, guint K, ArActivation act)
{
  g_autofree float *a = art_random (t, (gsize) M * K, -1, 1, dt);
  g_autofree float *w = art_random (t, (gsize) N * K, -1, 1, dt);
  g_autofree float *ref = g_new (float, (gsize) M * N);
  g_autoptr (ArBuffer) ba = art_upload (t, dt, a, (gsize) M * K);
  g_autoptr (ArBuffer) bw = art_upload (t, dt, w, (gsize) N * K);
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, (gsize) M * N);
  art_begin (t);
  for (int c = 0; c < calls_per_run (); c++)
    ar_op_matmul (t->cmd, dt, ba, bw, NULL, bo, M, N, K, act);
  double us = median_gpu_us (t);
  MatmulJob job = { a, w, NULL, ref, M, N, K };
  double ref_us = time_cpu_us (run_ref_matmul, &job);
  g_autofree gchar *shape = g_strdup_printf ("M=%u K=%u N=%u%s", M, K, N,
      act == AR_ACT_GELU_ERF ? " +gelu" : "");
  print_row ("matmul", shape, dt, us, 2.0 * M * N * K, "GFLOP/s", ref_us);
}

typedef struct {
  const float *in, *w;
  float *out;
  guint C, H, W, O;
} ConvJob;

static void
run_ref_conv (void *data)
{
  ConvJob *j = data;
  ref_conv2d (j->in, j->w, NULL, j->out, 1, j->C, j->H, j->W, j->O, 3, 3, 1, 1, 1, j->H, j->W);
}

static void
bench_conv (ArTest *t, ArDType dt, guint C, guint H, guint W, guint O, ArConv2dPath path)
{
  gsize n_in = (gsize) C * H * W, n_w = (gsize) O * C * 9, n_out = (gsize) O * H * W;
  g_autofree float *in = art_random (t, n_in, -1, 1, dt);
  g_autofree float *w = art_random (t, n_w, -0.1f, 0.1f, dt);
  g_autofree float *ref = g_new (float, n_out);
  g_autoptr (ArBuffer) bi = art_upload (t, dt, in, n_in);
  g_autoptr (ArBuffer) bw = art_upload (t, dt, w, n_w);
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, n_out);
  ArConv2dParams p;
  ar_conv2d_params_init (&p, C, H, W, O, 3, 1, 1);
  p.path = path;
  art_begin (t);
  for (int c = 0; c < calls_per_run (); c++)
    ar_op_conv2d (t->cmd, dt, bi, bw, NULL, bo, &p);
  double us = median_gpu_us (t);
  ConvJob job = { in, w, ref, C, H, W, O };
  double ref_us = time_cpu_us (run_ref_conv, &job);
  g_autofree gchar *shape = g_strdup_printf ("3x3 %u->%u @%ux%u%s", C, O, H, W,
      path == AR_CONV2D_VEC4_TEXEL ? " direct" : "");
  print_row ("conv2d", shape, dt, us, 2.0 * n_out * C * 9, "GFLOP/s", ref_us);
}

/* Upsample 2x + 3x3 conv from [C, H, W] as one op (ar_op_conv2d_up2) and as the two ops it
 * replaces, in the same run; work counted as the 3x3 convolution at 2H x 2W, both rows. */
static void
bench_conv_up2 (ArTest *t, ArDType dt, guint C, guint H, guint W, guint O)
{
  gsize n_in = (gsize) C * H * W, n_w = (gsize) O * C * 9, n_out = (gsize) O * 4 * H * W;
  g_autofree float *in = art_random (t, n_in, -1, 1, dt);
  g_autofree float *w = art_random (t, n_w, -0.1f, 0.1f, dt);
  g_autofree float *up = g_new (float, 4 * n_in);
  g_autofree float *ref = g_new (float, n_out);
  g_autoptr (ArBuffer) bi = art_upload (t, dt, in, n_in);
  g_autoptr (ArBuffer) bw = art_upload (t, dt, w, n_w);
  g_autoptr (ArBuffer) bp = art_alloc (t, dt, (gsize) O * C * 16);
  g_autoptr (ArBuffer) bu = art_alloc (t, dt, 4 * n_in);
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, n_out);
  art_begin (t);
  ar_op_conv2d_up2_weights (t->cmd, dt, bw, bp, O, C);
  art_run (t);
  ArConv2dParams p, q;
  ar_conv2d_params_init (&p, C, H, W, O, 3, 1, 1);
  ar_conv2d_params_init (&q, C, 2 * H, 2 * W, O, 3, 1, 1);
  ConvJob job = { up, w, ref, C, 2 * H, 2 * W, O };
  ref_upsample2x (in, up, C, H, W);
  double ref_us = time_cpu_us (run_ref_conv, &job);
  g_autofree gchar *shape = g_strdup_printf ("3x3 %u->%u @%ux%u->2x", C, O, H, W);
  art_begin (t);
  for (int c = 0; c < calls_per_run (); c++)
    ar_op_conv2d_up2 (t->cmd, dt, bi, bp, NULL, bo, &p);
  print_row ("conv2d_up2", shape, dt, median_gpu_us (t), 2.0 * n_out * C * 9, "GFLOP/s", ref_us);
  art_begin (t);
  for (int c = 0; c < calls_per_run (); c++) {
    ar_op_upsample2x (t->cmd, dt, bi, bu, C, H, W);
    ar_op_conv2d (t->cmd, dt, bu, bw, NULL, bo, &q);
  }
  print_row ("up+conv2d", shape, dt, median_gpu_us (t), 2.0 * n_out * C * 9, "GFLOP/s", ref_us);
}

typedef struct {
  const float *qkv, *k, *v;
  float *out;
  ArAttnLayout l;
  guint pos;
} AttnJob;

static void
run_ref_attention (void *data)
{
  AttnJob *j = data;
  ref_attention (j->qkv, j->l.row_stride, j->k, j->v, j->out, j->l.n_heads, j->l.n_kv_heads,
      j->l.head_dim, j->l.max_tokens, j->pos, 1, 0, 0, 1.0 / sqrt (j->l.head_dim));
}

/* One query token attending over @n_ctx cached positions (the newest one included), with
 * the decode op's split-K scratch (@split) or without (one workgroup per head). */
static void
bench_attention (ArTest *t, ArDType dt, guint heads, guint d, guint n_ctx, gboolean split)
{
  ArAttnLayout l = ar_attn_layout_fused (heads, 0, d, n_ctx);
  gsize n_cache = (gsize) heads * n_ctx * d;
  g_autofree float *qkv = art_random (t, l.row_stride, -1, 1, dt);
  g_autofree float *k = art_random (t, n_cache, -1, 1, dt);
  g_autofree float *v = art_random (t, n_cache, -1, 1, dt);
  g_autofree float *ref = g_new (float, (gsize) heads * d);
  g_autoptr (ArBuffer) bq = art_upload (t, dt, qkv, l.row_stride);
  g_autoptr (ArBuffer) bk = art_upload (t, dt, k, n_cache);
  g_autoptr (ArBuffer) bv = art_upload (t, dt, v, n_cache);
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, (gsize) heads * d);
  g_autoptr (ArBuffer) scratch = split ? art_alloc (t, AR_F32,
      ar_op_attention_scratch_size (&l) / sizeof (float)) : NULL;
  art_begin (t);
  if (scratch)
    ar_cmd_zero (t->cmd, scratch);   /* the fused combine's counters */
  for (int c = 0; c < calls_per_run (); c++)
    ar_op_attention_decode (t->cmd, dt, bq, &l, bk, bv, bo, n_ctx - 1, 0, scratch);
  double us = median_gpu_us (t);
  AttnJob job = { qkv, k, v, ref, l, n_ctx - 1 };
  double ref_us = time_cpu_us (run_ref_attention, &job);
  g_autofree gchar *shape = g_strdup_printf ("decode%s H=%u D=%u ctx=%u", split ? "" : "-1wg",
      heads, d, n_ctx);
  /* Bytes of K and V read dominate. */
  print_row ("attention", shape, dt, us, 2.0 * n_cache * ar_dtype_size (dt), "GB/s", ref_us);
}

/* A causal prefill of @n queries from position 0 (the window re-prefill of iris-small:
 * H=4, D=64, n=340). */
static void
bench_attention_prefill (ArTest *t, ArDType dt, guint heads, guint d, guint n)
{
  ArAttnLayout l = ar_attn_layout_fused (heads, 0, d, n);
  gsize n_qkv = (gsize) n * l.row_stride, n_cache = (gsize) heads * n * d;
  g_autofree float *qkv = art_random (t, n_qkv, -1, 1, dt);
  g_autofree float *k = art_random (t, n_cache, -1, 1, dt);
  g_autofree float *v = art_random (t, n_cache, -1, 1, dt);
  g_autoptr (ArBuffer) bq = art_upload (t, dt, qkv, n_qkv);
  g_autoptr (ArBuffer) bk = art_upload (t, dt, k, n_cache);
  g_autoptr (ArBuffer) bv = art_upload (t, dt, v, n_cache);
  g_autoptr (ArBuffer) bo = art_alloc (t, dt, (gsize) n * heads * d);
  art_begin (t);
  for (int c = 0; c < calls_per_run (); c++)
    ar_op_attention (t->cmd, dt, bq, &l, bk, bv, bo, 0, n, 0);
  double us = median_gpu_us (t);
  g_autofree gchar *shape = g_strdup_printf ("prefill H=%u D=%u n=%u", heads, d, n);
  /* Two products of D multiply-adds per causal (query, key) pair. */
  double pairs = (double) heads * n * (n + 1) / 2;
  print_row ("attention", shape, dt, us, 4.0 * d * pairs, "GFLOP/s", 0);
}

/* With AR_STEP_TRACE=1 (devices with a shader device clock): one traced step after
 * calls_per_run() - 1 plain ones in a recording (replayed twice, the second read), and per
 * kind of phase (qkv, attention, ...): phases, tasks per phase, the critical path's share (from
 * the last task done in the phase before to the last done in this one), the notification
 * latency (from that to the first task begun here), and the tasks' own time (begun to done),
 * mean and worst. Clock units are the device's (ns on NVIDIA); the step's span is printed
 * beside them. */
static void
trace_step (ArTest *t, ArDType dt, const ArStepShape *s, ArtStep *b, guint pos, const char *shape)
{
  guint n = ar_step_tasks (t->dev, s, pos), phases = ar_step_phases (s);
  g_autoptr (ArBuffer) trace = art_alloc (t, AR_F32, (gsize) n * AR_STEP_TRACE_WORDS);
  art_begin (t);
  for (int c = 0; c + 1 < calls_per_run (); c++)
    art_step_record (t, dt, s, b, pos);
  art_step_record_traced (t, dt, s, b, pos, trace);
  GError *err = NULL;
  if (!ar_cmd_run (t->cmd, &err) || !ar_cmd_run (t->cmd, &err)) {
    printf ("trace step      %-28s not run: %s\n", shape, err->message);
    g_clear_error (&err);
    return;
  }
  g_autofree guint32 *rec = art_download_u32 (t, trace, (gsize) n * AR_STEP_TRACE_WORDS);
  g_autofree guint64 *done = g_new0 (guint64, phases), *first = g_new (guint64, phases);
  g_autofree double *work_sum = g_new0 (double, phases), *work_max = g_new0 (double, phases);
  g_autofree guint *count = g_new0 (guint, phases);
  guint64 t0 = G_MAXUINT64, t_end = 0;
  for (guint p = 0; p < phases; p++)
    first[p] = G_MAXUINT64;
  for (guint i = 0; i < n; i++) {
    const guint32 *r = rec + (gsize) i * AR_STEP_TRACE_WORDS;
    guint64 c[4];
    for (guint k = 0; k < 4; k++)
      c[k] = art_step_trace_stamp (r, k);
    guint g = r[0] < phases ? r[0] : phases - 1;
    t0 = MIN (t0, c[0]);
    t_end = MAX (t_end, c[3]);
    done[g] = MAX (done[g], c[3]);
    first[g] = MIN (first[g], c[2]);
    work_sum[g] += (double) (c[3] - c[2]);
    work_max[g] = MAX (work_max[g], (double) (c[3] - c[2]));
    count[g]++;
  }
  /* Kinds: plain: embed, then qkv att proj fc1 fc2 per layer; folded: qkv att mlp; head. */
  static const char *plain_kinds[] = { "embed", "qkv", "attention", "proj", "fc1", "fc2", "head" };
  static const char *fold_kinds[] = { "qkv", "attention", "mlp", "head" };
  guint ppl = s->fold ? 3 : 5, first_layer = s->fold ? 0 : 1, n_kinds = s->fold ? 4 : 7;
  double crit[7] = { 0 }, notify[7] = { 0 }, wsum[7] = { 0 }, wmax[7] = { 0 };
  guint nph[7] = { 0 }, ntask[7] = { 0 };
  for (guint g = 0; g < phases; g++) {
    guint k = g < first_layer ? 0 : g >= first_layer + ppl * s->layers ? n_kinds - 1
        : first_layer + (g - first_layer) % ppl;
    guint64 before = g == 0 ? t0 : done[g - 1];
    crit[k] += (double) (done[g] - MIN (before, done[g]));
    notify[k] += (double) (first[g] - MIN (before, first[g]));
    wsum[k] += work_sum[g];
    wmax[k] = MAX (wmax[k], work_max[g]);
    nph[k]++;
    ntask[k] += count[g];
  }
  printf ("trace step      %-28s %s  %u tasks, span %.0f (clock units; ns on NVIDIA)\n", shape,
      ar_dtype_name (dt), n, (double) (t_end - t0));
  for (guint k = 0; k < n_kinds; k++)
    if (nph[k])
      printf ("trace step        %-10s x%-3u %4u tasks each  critical %8.0f per phase (%4.1f%%)  "
          "notify %6.0f  task mean %6.0f max %6.0f\n", (s->fold ? fold_kinds : plain_kinds)[k],
          nph[k], ntask[k] / nph[k], crit[k] / nph[k], 100.0 * crit[k] / MAX (t_end - t0, 1),
          notify[k] / nph[k], wsum[k] / MAX (ntask[k], 1), wmax[k]);
}

/* The fused one-token step (ar_op_decode_step) of a bench card's predictor at @pos, in the
 * configuration @env names (AR_STEP_* variables, "" for the defaults; AR_STEP_FOLD=1 the
 * folded kernel). Throughput: the bytes of weights and cache rows one step reads. */
static void
bench_step (ArTest *t, ArDType dt, const char *card, const ArStepShape *plain, guint pos,
    const char *env)
{
  g_auto (GStrv) vars = g_strsplit (env, " ", -1);
  for (guint i = 0; vars[i] && *vars[i]; i++) {
    g_auto (GStrv) kv = g_strsplit (vars[i], "=", 2);
    g_setenv (kv[0], kv[1] ? kv[1] : "", TRUE);
  }
  ArStepShape sh = *plain;
  sh.fold = g_strcmp0 (g_getenv ("AR_STEP_FOLD"), "1") == 0;
  const ArStepShape *s = &sh;
  g_autofree gchar *shape = g_strdup_printf ("%s pos=%u%s%s", card, pos, *env ? " " : "", env);
  GError *err = NULL;
  if (ar_step_supported (t->dev, dt, s, &err)) {
    ArStepLayout lay;
    ar_step_layout (s, &lay);
    ArtStep b;
    art_step_init (t, dt, s, 0.05f, &b);
    art_begin (t);
    /* The scratch zeroed before each step. With --calls N, N steps back to back: a lone
     * step leaves the GPU idle between replays, and on H200s it measured 0.73 ms on one
     * machine and 2.8 ms on another (128 workgroups, `large`; ~0.72 in a frame on both). */
    for (int c = 0; c < calls_per_run (); c++)
      art_step_record (t, dt, s, &b, pos);
    double us = median_gpu_us (t);
    double bytes = ((double) lay.total + 2.0 * s->layers * (pos + 1) * s->dim) * ar_dtype_size (dt);
    print_row ("step", shape, dt, us, bytes, "GB/s", 0);
    if (g_strcmp0 (g_getenv ("AR_STEP_TRACE"), "1") == 0 && t->dev->caps.device_clock)
      trace_step (t, dt, s, &b, pos, shape);
    art_step_clear (&b);
  } else {
    printf ("bench step      %-28s %s  not run: %s\n", shape, ar_dtype_name (dt), err->message);
    g_clear_error (&err);
  }
  for (guint i = 0; vars[i] && *vars[i]; i++) {
    g_auto (GStrv) kv = g_strsplit (vars[i], "=", 2);
    g_unsetenv (kv[0]);
  }
}

/* iris-small's and large's steps (models/bench), mid-frame once the window is full, in the
 * default configuration and the ones device-check compares. */
static void
bench_steps (ArTest *t, ArDType dt)
{
  const ArStepShape iris = {
    .dim = 256, .hidden = 1024, .heads = 4, .layers = 10, .ctx = 340, .cache_stride = 340 * 768,
    .vocab = 512, .head_hidden = 256, .table_rows = 531, .eps = 1e-5f,
  };
  const ArStepShape large = {
    .dim = 512, .hidden = 2048, .heads = 8, .layers = 12, .ctx = 2056,
    .cache_stride = 2056 * 1536, .vocab = 1024, .table_rows = 1043, .eps = 1e-5f,
  };
  /* Small enough for CPU devices (llvmpipe's loop limit), so the bench runs everywhere. */
  const ArStepShape small = {
    .dim = 128, .hidden = 512, .heads = 4, .layers = 2, .ctx = 256, .cache_stride = 256 * 384,
    .vocab = 256, .table_rows = 275, .eps = 1e-5f,
  };
  /* Both bench cards: the defaults, the folded kernel, nothing preloaded, either kernel with
   * attention tasks of at least 128 keys (fewer splits to merge); large also the keys loaded
   * after the wait (PRELOAD=rows), fewer or more workgroups, longer tasks. */
  const char *configs[] = { "", "AR_STEP_FOLD=1", "AR_STEP_PRELOAD=0", "AR_STEP_MIN_KEYS=128",
    "AR_STEP_FOLD=1 AR_STEP_MIN_KEYS=128", "AR_STEP_FOLD=1 AR_STEP_PRELOAD=0",
    "AR_STEP_PRELOAD=rows", "AR_STEP_GROUPS=128", "AR_STEP_GROUPS=396", "AR_STEP_ROWS=2" };
  bench_step (t, dt, "small", &small, 200, "");
  bench_step (t, dt, "small", &small, 200, "AR_STEP_FOLD=1");
  for (guint i = 0; i < 6; i++)
    bench_step (t, dt, "iris-small", &iris, 330, configs[i]);
  for (guint i = 0; i < G_N_ELEMENTS (configs); i++)
    bench_step (t, dt, "large", &large, 1927, configs[i]);
}

int
main (int argc, char **argv)
{
  gboolean f16_only = FALSE, f32_only = FALSE;
  const char *only = NULL;   /* matmul, conv2d, attention or step */
  for (int i = 1; i < argc; i++) {
    if (strcmp (argv[i], "--reps") == 0 && i + 1 < argc) {
      i++;
      reps = MAX (1, atoi (argv[i]));
    }
    else if (strcmp (argv[i], "--calls") == 0 && i + 1 < argc) {
      i++;
      calls = MAX (1, atoi (argv[i]));
    }
    else if (strcmp (argv[i], "--f16-only") == 0)
      f16_only = TRUE;
    else if (strcmp (argv[i], "--f32-only") == 0)
      f32_only = TRUE;
    else if (strcmp (argv[i], "--only") == 0 && i + 1 < argc)
      only = argv[++i];
    else {
      fprintf (stderr, "usage: %s [--reps N] [--calls N] [--f16-only|--f32-only] "
          "[--only matmul|conv2d|attention|step]\n", argv[0]);
      return 2;
    }
  }
  /* Timing, not validation: the layer would distort the numbers. */
  g_setenv ("AR_VULKAN_VALIDATE", "0", FALSE);
  ArTest t;
  art_init (&t);
  if (!t.dev->caps.timestamps) {
    fprintf (stderr, "bench-ops: the device has no timestamp queries\n");
    return 1;
  }
  ar_cmd_set_timing (t.cmd, calls == 0);
  ArDType dts[2];
  guint ndt = art_dtypes (&t, dts);
  if (calls)
    printf ("# median of %d runs of %d calls in one recording; wall time per call; c-ref = plain C reference (double accumulation), single thread\n", reps, calls);
  else
    printf ("# median of %d runs; throughput from GPU timestamps; c-ref = plain C reference (double accumulation), single thread\n", reps);
  for (guint d = 0; d < ndt; d++) {
    ArDType dt = dts[d];
    if ((f16_only && dt != AR_F16) || (f32_only && dt != AR_F32))
      continue;
    if (!only || strcmp (only, "matmul") == 0) {
      bench_matmul (&t, dt, 1, 512, 512, AR_ACT_NONE);
      bench_matmul (&t, dt, 1, 1024, 1024, AR_ACT_NONE);
      bench_matmul (&t, dt, 256, 512, 512, AR_ACT_NONE);
      bench_matmul (&t, dt, 256, 1024, 1024, AR_ACT_NONE);
      /* iris-small's window prefill: qkv, fc1 (+GELU), fc2 */
      bench_matmul (&t, dt, 340, 768, 256, AR_ACT_NONE);
      bench_matmul (&t, dt, 340, 1024, 256, AR_ACT_GELU_ERF);
      bench_matmul (&t, dt, 340, 256, 1024, AR_ACT_NONE);
      /* its refresh frames' prefill (one frame of 17 tokens) and the tokenizer's 8x8 attention */
      bench_matmul (&t, dt, 17, 768, 256, AR_ACT_NONE);
      bench_matmul (&t, dt, 17, 1024, 256, AR_ACT_GELU_ERF);
      bench_matmul (&t, dt, 17, 256, 1024, AR_ACT_NONE);
      bench_matmul (&t, dt, 64, 64, 64, AR_ACT_NONE);
    }
    if (!only || strcmp (only, "conv2d") == 0) {
      bench_conv (&t, dt, 64, 64, 64, 64, AR_CONV2D_AUTO);
      /* CPU devices: the automatic choice is Winograd rows; the direct products beside it */
      if (t.dev->caps.is_cpu) {
        bench_conv (&t, dt, 64, 64, 64, 64, AR_CONV2D_VEC4_TEXEL);
        bench_conv (&t, dt, 64, 32, 32, 64, AR_CONV2D_AUTO);
        bench_conv (&t, dt, 64, 32, 32, 64, AR_CONV2D_VEC4_TEXEL);
      }
      /* iris-small's decoder's last upsample; the fused kernel is a CPU one */
      if (t.dev->caps.is_cpu)
        bench_conv_up2 (&t, dt, 64, 32, 32, 64);
    }
    if (!only || strcmp (only, "attention") == 0)
      bench_attention_prefill (&t, dt, 4, 64, 340);
    for (int split = 1; split >= 0 && (!only || strcmp (only, "attention") == 0); split--) {
      bench_attention (&t, dt, 8, 64, 340, split);
      bench_attention (&t, dt, 8, 64, 2056, split);
    }
    if (!only || strcmp (only, "step") == 0)
      bench_steps (&t, dt);
  }
  ar_cmd_free (t.cmd);
  ar_device_unref (t.dev);
  return 0;
}
