/* Golden parity: the tokenizer and predictor graphs against the PyTorch reference's outputs in
 * tests/fixtures/tiny (see manifest.yaml), with fp32 and fp16 weight storage.
 * Usage: test-golden FIXTURE_DIR. A missing device is a failure. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ar-predictor.h"
#include "ar-tokenizer.h"

static guint n_passed, n_failed;
/* Failures whose message names llvmpipe's loop limit (the predictor's error when a fused
 * step's status word says the limiter ended it): see run_gpt_side_by_side(). */
static guint n_failed_loop_limit;

static void
check (gboolean ok, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static void
check (gboolean ok, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree gchar *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  printf ("%s %s\n", msg, ok ? "ok" : "FAIL");
  if (ok)
    n_passed++;
  else {
    n_failed++;
    n_failed_loop_limit += strstr (msg, "llvmpipe's loop limit") != NULL;
  }
}

static double
nmse (const float *a, const float *ref, gsize n)
{
  double num = 0, den = 0;
  for (gsize i = 0; i < n; i++) {
    double d = (double) a[i] - ref[i];
    num += d * d;
    den += (double) ref[i] * ref[i];
  }
  return den > 0 ? num / den : num;
}

/* A fixture tensor, checked for dtype and element count. */
static const void *
io (ArSafetensors *st, const char *name, ArStDType dt, gsize n)
{
  const ArStTensor *t = ar_safetensors_lookup (st, name);
  if (!t || t->dtype != dt || t->nbytes != n * ar_st_dtype_size (dt)) {
    check (FALSE, "fixture %s: missing or not %s x %" G_GSIZE_FORMAT, name, ar_st_dtype_name (dt), n);
    return NULL;
  }
  return t->data;
}

/* Fixture data may be unaligned: copies. */
static gpointer
io_copy (ArSafetensors *st, const char *name, ArStDType dt, gsize n)
{
  const void *d = io (st, name, dt, n);
  return d ? g_memdup2 (d, n * ar_st_dtype_size (dt)) : NULL;
}

/* The card's model in storage type @want (fp16 where the card and device allow it). */
static ArModel *
load_model_as (ArDevice *dev, const char *card, ArDType want, GError **error)
{
  return ar_model_load_full (dev, card, want == AR_F32 ? AR_MODEL_LOAD_FORCE_F32
      : AR_MODEL_LOAD_PREFER_F16, error);
}

static double
now_ms (void)
{
  return g_get_monotonic_time () / 1000.0;
}

/* The next frame's first-token logits from a cold predictor after frames 0 and 1 (a full
 * prefill: its last layer runs for the last position only) against the reference's logits of
 * that position. Discrete actions from @dactions, or continuous ones of @adim from @cactions. */
static void
check_next_logits (ArModel *model, const char *name, const char *dn, const guint32 *tokens,
    guint n, const gint32 *dactions, const float *cactions, guint adim, const float *ref, guint V,
    double lim)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ArPredictor) p = ar_predictor_new (model, 0, &error);
  gboolean ok = p != NULL;
  for (guint f = 0; ok && f < 2; f++) {
    ArAction a = dactions ? (ArAction) { .discrete = TRUE, .index = (guint) dactions[f] }
        : (ArAction) { .discrete = FALSE, .dim = adim, .values = cactions + f * adim };
    ok = ar_predictor_commit (p, tokens + (gsize) f * n, &a, &error);
  }
  g_autofree float *got = g_new (float, V);
  ok = ok && ar_predictor_next_logits (p, got, &error);
  double e = ok ? nmse (got, ref, V) : INFINITY;
  check (ok && e <= lim, "model %s next_logits_cold %s nmse=%.3g%s%s", name, dn, e,
      error ? ": " : "", error ? error->message : "");
}

/* @fused: the one-token steps as one dispatch each (AR_PREDICTOR_FUSED_STEP set by the
 * caller), every check the same; @variant names the run. */
static void
run_gpt (ArDevice *dev, const char *dir, ArDType want, gboolean fused, const char *variant)
{
  g_autofree gchar *dn = g_strconcat (ar_dtype_name (want), variant ? " " : "", variant, NULL);
  double lim = want == AR_F16 ? 5e-3 : 1e-4;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *card = g_build_filename (dir, "tiny-gpt.yaml", NULL);
  g_autofree gchar *iop = g_build_filename (dir, "tiny-gpt-io.safetensors", NULL);
  g_autoptr (ArSafetensors) st = ar_safetensors_open (iop, &error);
  g_autoptr (ArModel) model = st ? load_model_as (dev, card, want, &error) : NULL;
  g_autoptr (ArTokenizer) tok = model ? ar_tokenizer_new (model, &error) : NULL;
  g_autoptr (ArPredictor) pred = tok ? ar_predictor_new (model, 0, &error) : NULL;
  if (!pred) {
    check (FALSE, "model tiny-gpt load %s: %s", dn, error->message);
    return;
  }
  if (ar_model_dtype (model) != want) {
    check (FALSE, "model tiny-gpt load %s: got %s storage", dn, ar_dtype_name (ar_model_dtype (model)));
    return;
  }
  /* AR_STEP_FOLD=1 (set by the caller): the folded kernel, where the device has its atomics;
   * with AR_PREDICTOR_FUSED_STEP=auto the trial picks either. */
  gboolean folded = fused && g_strcmp0 (g_getenv ("AR_STEP_FOLD"), "1") == 0
      && dev->caps.int64_atomics;
  gboolean picked = g_strcmp0 (g_getenv ("AR_PREDICTOR_FUSED_STEP"), "auto") == 0;
  check (ar_predictor_fused_step (pred) == fused
      && (picked || ar_predictor_fused_step_folded (pred) == folded),
      "model tiny-gpt %s: fused step %s", dn,
      !ar_predictor_fused_step (pred) ? "off" : ar_predictor_fused_step_folded (pred)
      ? "on (folded)" : "on (plain)");
  const guint N = 3, H = ar_tokenizer_height (tok), W = ar_tokenizer_width (tok), C = 3;
  const guint n = ar_tokenizer_n_tokens (tok), dim = 8, T = ar_predictor_tokens_per_frame (pred);
  const guint V = ar_predictor_vocab (pred);
  const guint8 *frames = io (st, "frames", AR_ST_U8, (gsize) N * H * W * C);
  g_autofree gint32 *actions = io_copy (st, "actions", AR_ST_I32, N);
  g_autofree float *ref_lat = io_copy (st, "latents", AR_ST_F32, (gsize) N * dim * n);
  g_autofree guint32 *ref_tok = io_copy (st, "tokens", AR_ST_U32, (gsize) N * n);
  g_autofree float *margin = io_copy (st, "token_margin", AR_ST_F32, (gsize) N * n);
  g_autofree float *ref_logits = io_copy (st, "logits", AR_ST_F32, (gsize) 2 * (T + 1) * V);
  g_autofree float *ref_dec = io_copy (st, "decoded_float", AR_ST_F32, (gsize) N * C * H * W);
  const guint8 *ref_u8 = io (st, "decoded", AR_ST_U8, (gsize) N * H * W * C);
  g_autofree guint32 *ref_next = io_copy (st, "next_tokens_greedy", AR_ST_U32, T);
  if (!frames || !actions || !ref_lat || !ref_tok || !margin || !ref_logits || !ref_dec || !ref_u8
      || !ref_next)
    return;

  /* encode */
  g_autofree guint32 *tokens = g_new (guint32, (gsize) N * n);
  g_autofree float *lat = g_new (float, (gsize) N * dim * n);
  double t0 = now_ms ();
  for (guint f = 0; f < N; f++)
    if (!ar_tokenizer_encode (tok, frames + (gsize) f * H * W * C, W * C, AR_PIXEL_RGB,
            tokens + (gsize) f * n, lat + (gsize) f * dim * n, &error)) {
      check (FALSE, "model tiny-gpt encode %s: %s", dn, error->message);
      return;
    }
  double t_enc = (now_ms () - t0) / N;
  guint same = 0, hard_diff = 0;
  float min_margin_diff = G_MAXFLOAT;
  for (guint i = 0; i < N * n; i++) {
    if (tokens[i] == ref_tok[i])
      same++;
    else {
      min_margin_diff = MIN (min_margin_diff, margin[i]);
      hard_diff += margin[i] > 1e-3f;   /* a flip where the reference is not near a tie */
    }
  }
  check (same >= 0.99 * N * n, "model tiny-gpt tokens %s equal=%u/%u (%u not near a tie)", dn,
      same, N * n, hard_diff);
  check (nmse (lat, ref_lat, (gsize) N * dim * n) <= lim, "model tiny-gpt latents %s nmse=%.3g",
      dn, nmse (lat, ref_lat, (gsize) N * dim * n));

  /* decode the reference tokens */
  g_autofree float *dec = g_new (float, (gsize) N * C * H * W);
  g_autofree guint8 *u8 = g_new (guint8, (gsize) N * H * W * C);
  t0 = now_ms ();
  for (guint f = 0; f < N; f++)
    if (!ar_tokenizer_decode (tok, ref_tok + (gsize) f * n, u8 + (gsize) f * H * W * C, W * C,
            AR_PIXEL_RGB, dec + (gsize) f * C * H * W, &error)) {
      check (FALSE, "model tiny-gpt decode %s: %s", dn, error->message);
      return;
    }
  double t_dec = (now_ms () - t0) / N;
  double e = nmse (dec, ref_dec, (gsize) N * C * H * W);
  check (e <= lim, "model tiny-gpt decoded_float %s nmse=%.3g", dn, e);
  double se = 0;
  gsize np = (gsize) N * H * W * C;
  for (gsize i = 0; i < np; i++)
    se += ((double) u8[i] - ref_u8[i]) * ((double) u8[i] - ref_u8[i]);
  double psnr = se > 0 ? 10 * log10 (255.0 * 255.0 / (se / np)) : INFINITY;
  check (psnr >= 40, "model tiny-gpt decoded_u8 %s psnr=%.1fdB", dn, psnr);

  /* predictor: teacher-forced logits over frames 0, 1 and actions 0, 1 */
  for (guint f = 0; f < 2; f++) {
    ArAction a = { .discrete = TRUE, .index = (guint) actions[f] };
    if (!ar_predictor_commit (pred, ref_tok + (gsize) f * n, &a, &error)) {
      check (FALSE, "model tiny-gpt commit %s: %s", dn, error->message);
      return;
    }
  }
  g_autofree float *logits = g_new (float, (gsize) 2 * (T + 1) * V);
  if (!ar_predictor_context_logits (pred, logits, &error)) {
    check (FALSE, "model tiny-gpt logits %s: %s", dn, error->message);
    return;
  }
  e = nmse (logits, ref_logits, (gsize) 2 * (T + 1) * V);
  check (e <= lim, "model tiny-gpt logits %s nmse=%.3g", dn, e);
  check_next_logits (model, "tiny-gpt", dn, ref_tok, n, actions, NULL, 0,
      ref_logits + (gsize) (2 * (T + 1) - 1) * V, V, lim);

  ArSampleParams greedy = { .greedy = TRUE };
  g_autofree guint32 *next = g_new (guint32, T);
  t0 = now_ms ();
  if (!ar_predictor_generate (pred, &greedy, 1, NULL, next, &error)) {
    check (FALSE, "model tiny-gpt generate %s: %s", dn, error->message);
    return;
  }
  double t_gen_cached = now_ms () - t0;
  guint eq = 0;
  for (guint i = 0; i < T; i++)
    eq += next[i] == ref_next[i];
  check (eq == T, "model tiny-gpt greedy_next %s equal=%u/%u", dn, eq, T);
  /* Again from a cold cache (full prefill), and a rollout past the window (re-prefill). */
  g_autoptr (ArPredictor) cold = ar_predictor_new (model, 0, &error);
  for (guint f = 0; cold && f < 2; f++) {
    ArAction a = { .discrete = TRUE, .index = (guint) actions[f] };
    ar_predictor_commit (cold, ref_tok + (gsize) f * n, &a, NULL);
  }
  g_autofree guint32 *next2 = g_new (guint32, 3 * T);
  t0 = now_ms ();
  gboolean ok = cold && ar_predictor_generate (cold, &greedy, 1, NULL, next2, &error);
  double t_gen_cold = now_ms () - t0;
  check (ok && memcmp (next2, next, T * 4) == 0, "model tiny-gpt greedy_next_cold %s", dn);
  ArAction roll[2] = { { .discrete = TRUE, .index = 1 }, { .discrete = TRUE, .index = 2 } };
  t0 = now_ms ();
  ok = cold && ar_predictor_generate (cold, &greedy, 3, roll, next2, &error);
  double t_roll = (now_ms () - t0) / 3;
  check (ok && memcmp (next2, next, T * 4) == 0, "model tiny-gpt rollout3 %s (first frame equal)", dn);
  if (fused) {
    /* The fused steps against the per-op recording: a frame's tokens, and the last step's
     * logits (they depend on every earlier step's cache rows). fp32 differs only in the
     * order of sums; with fp16 storage the per-op path also rounds its activations. */
    g_setenv ("AR_PREDICTOR_FUSED_STEP", "0", TRUE);
    g_autoptr (ArPredictor) per_op = ar_predictor_new (model, 0, &error);
    g_setenv ("AR_PREDICTOR_FUSED_STEP", "1", TRUE);
    g_autoptr (ArPredictor) fz = per_op ? ar_predictor_new (model, 0, &error) : NULL;
    g_autofree float *la = g_new (float, V), *lb = g_new (float, V);
    g_autofree guint32 *ta = g_new (guint32, T), *tb = g_new (guint32, T);
    gboolean agree = fz != NULL;
    double worst = 0;
    for (guint f = 0; agree && f < N; f++) {
      ArAction a = { .discrete = TRUE, .index = (guint) actions[f] };
      ArSampleParams sp = { .temperature = 1.0f, .top_p = 1.0f, .seed = 3, .counter = f * T };
      agree = ar_predictor_commit (per_op, ref_tok + (gsize) f * n, &a, &error)
          && ar_predictor_commit (fz, ref_tok + (gsize) f * n, &a, &error)
          && ar_predictor_generate (per_op, &sp, 1, NULL, ta, &error)
          && ar_predictor_generate (fz, &sp, 1, NULL, tb, &error)
          && ar_predictor_last_logits (per_op, la, &error)
          && ar_predictor_last_logits (fz, lb, &error) && memcmp (ta, tb, T * 4) == 0;
      worst = MAX (worst, nmse (lb, la, V));
    }
    double step_lim = want == AR_F16 ? 1e-5 : 1e-10;
    check (agree && worst <= step_lim, "model tiny-gpt %s against per-op steps: tokens %s, last "
        "logits nmse=%.3g%s%s", dn, agree ? "equal" : "differ", worst, error ? " " : "",
        error ? error->message : "");
  }
  (void) t_enc, (void) t_dec, (void) t_gen_cached, (void) t_gen_cold, (void) t_roll;
  /* Steady-state timings (pipelines built, buffers warm), wall clock incl. transfers. */
  const guint reps = 5;
  t0 = now_ms ();
  for (guint r = 0; r < reps; r++)
    ar_tokenizer_encode (tok, frames, W * C, AR_PIXEL_RGB, tokens, NULL, NULL);
  t_enc = (now_ms () - t0) / reps;
  t0 = now_ms ();
  for (guint r = 0; r < reps; r++)
    ar_tokenizer_decode (tok, ref_tok, u8, W * C, AR_PIXEL_RGB, NULL, NULL);
  t_dec = (now_ms () - t0) / reps;
  t0 = now_ms ();
  for (guint r = 0; r < reps; r++)
    ar_predictor_generate (pred, &greedy, 1, NULL, next, NULL);
  t_gen_cached = (now_ms () - t0) / reps;
  /* Sliding window: commit a real frame, then generate (window full: re-prefill each time). */
  t0 = now_ms ();
  for (guint r = 0; r < reps; r++) {
    ArAction a = { .discrete = TRUE, .index = r % 4 };
    ar_predictor_commit (pred, ref_tok + (gsize) (r % N) * n, &a, NULL);
    ar_predictor_generate (pred, &greedy, 1, NULL, next, NULL);
  }
  t_roll = (now_ms () - t0) / reps;
  /* Replayed recordings: with the window full every frame replays the first one's command
   * buffer with a new sampling counter; it must draw what a fresh recording draws. */
  g_setenv ("AR_PREDICTOR_NO_REPLAY", "1", TRUE);
  g_autoptr (ArPredictor) fresh = ar_predictor_new (model, 0, &error);
  g_unsetenv ("AR_PREDICTOR_NO_REPLAY");
  g_autoptr (ArPredictor) replayed = ar_predictor_new (model, 0, &error);
  ArSampleParams sampled = { .temperature = 1.0f, .top_p = 1.0f, .seed = 7 };
  guint agree = 0, total = 0, moved = 0;
  g_autofree guint32 *ta = g_new (guint32, T), *tb = g_new (guint32, T), *prev = g_new0 (guint32, T);
  for (guint r = 0; fresh && replayed && r < 6; r++) {
    ArAction a = { .discrete = TRUE, .index = r % 4 };
    sampled.counter = (guint64) r * T;
    if (!ar_predictor_commit (fresh, ref_tok + (gsize) (r % N) * n, &a, &error)
        || !ar_predictor_commit (replayed, ref_tok + (gsize) (r % N) * n, &a, &error)
        || !ar_predictor_generate (fresh, &sampled, 1, NULL, ta, &error)
        || !ar_predictor_generate (replayed, &sampled, 1, NULL, tb, &error))
      break;
    for (guint i = 0; i < T; i++) {
      agree += ta[i] == tb[i];
      moved += r > 0 && tb[i] != prev[i];
    }
    total += T;
    memcpy (prev, tb, T * 4);
  }
  check (!error && total == 6 * T && agree == total && moved > 0,
      "model tiny-gpt replayed_sampling %s equal=%u/%u changed=%u%s%s", dn, agree, total, moved,
      error ? " " : "", error ? error->message : "");
  printf ("time tiny-gpt %s: encode %.2f ms/frame, decode %.2f ms/frame, generate %.2f ms/frame "
      "(cache holds the context), %.2f ms/frame (commit + generate, window full: re-prefill)\n",
      dn, t_enc, t_dec, t_gen_cached, t_roll);
}

/* run_gpt() with the fused step on several workgroups (AR_STEP_GROUPS, set by the caller). On
 * a CPU device they wait on each other by spinning, and a wait spends llvmpipe's loop budget
 * (65535 iterations per invocation) for as long as the OS keeps the other thread off its core:
 * on a loaded machine (meson runs two test programs on two cores) a step can run out, and the
 * frame's error names the loop limit. That is the device's limit under load, not the kernel's
 * result (tests/ops/test-step.c retries the same way): an attempt whose every failure is that
 * one runs again, at most twice. Wrong tokens, or the limit three times, fail. */
static void
run_gpt_side_by_side (ArDevice *dev, const char *dir, ArDType want, const char *variant)
{
  for (guint attempt = 1;; attempt++) {
    guint passed = n_passed, failed = n_failed, limited = n_failed_loop_limit;
    run_gpt (dev, dir, want, TRUE, variant);
    guint new_failed = n_failed - failed;
    if (!dev->caps.is_cpu || new_failed == 0 || n_failed_loop_limit - limited < new_failed
        || attempt == 3)
      return;
    printf ("# %s %s: llvmpipe's loop limit ended a waiting workgroup (attempt %u of 3); "
        "running again\n", ar_dtype_name (want), variant, attempt);
    n_passed = passed;
    n_failed = failed;
    n_failed_loop_limit = limited;
  }
}

static void
run_llama (ArDevice *dev, const char *dir, ArDType want)
{
  const char *dn = ar_dtype_name (want);
  double lim = want == AR_F16 ? 5e-3 : 1e-4;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *card = g_build_filename (dir, "tiny-llama.yaml", NULL);
  g_autofree gchar *iop = g_build_filename (dir, "tiny-llama-io.safetensors", NULL);
  g_autoptr (ArSafetensors) st = ar_safetensors_open (iop, &error);
  g_autoptr (ArModel) model = st ? load_model_as (dev, card, want, &error) : NULL;
  g_autoptr (ArPredictor) pred = model ? ar_predictor_new (model, 0, &error) : NULL;
  if (!pred) {
    check (FALSE, "model tiny-llama load %s: %s", dn, error->message);
    return;
  }
  const guint T = ar_predictor_tokens_per_frame (pred), V = ar_predictor_vocab (pred);
  const guint A = ar_predictor_action_size (pred);
  g_autofree guint32 *tokens = io_copy (st, "tokens", AR_ST_U32, 3 * T);
  g_autofree float *actions = io_copy (st, "actions", AR_ST_F32, 3 * A);
  g_autofree float *ref_logits = io_copy (st, "logits", AR_ST_F32, (gsize) 2 * (T + 1) * V);
  g_autofree guint32 *ref_next = io_copy (st, "next_tokens_greedy", AR_ST_U32, T);
  if (!tokens || !actions || !ref_logits || !ref_next)
    return;
  for (guint f = 0; f < 2; f++) {
    ArAction a = { .discrete = FALSE, .dim = A, .values = actions + f * A };
    if (!ar_predictor_commit (pred, tokens + f * T, &a, &error)) {
      check (FALSE, "model tiny-llama commit %s: %s", dn, error->message);
      return;
    }
  }
  g_autofree float *logits = g_new (float, (gsize) 2 * (T + 1) * V);
  if (!ar_predictor_context_logits (pred, logits, &error)) {
    check (FALSE, "model tiny-llama logits %s: %s", dn, error->message);
    return;
  }
  double e = nmse (logits, ref_logits, (gsize) 2 * (T + 1) * V);
  check (e <= lim, "model tiny-llama logits %s nmse=%.3g", dn, e);
  check_next_logits (model, "tiny-llama", dn, tokens, T, NULL, actions, A,
      ref_logits + (gsize) (2 * (T + 1) - 1) * V, V, lim);
  ArSampleParams greedy = { .greedy = TRUE };
  g_autofree guint32 *next = g_new (guint32, T);
  double t0 = now_ms ();
  if (!ar_predictor_generate (pred, &greedy, 1, NULL, next, &error)) {
    check (FALSE, "model tiny-llama generate %s: %s", dn, error->message);
    return;
  }
  double t_gen = now_ms () - t0;
  guint eq = 0;
  for (guint i = 0; i < T; i++)
    eq += next[i] == ref_next[i];
  check (eq == T, "model tiny-llama greedy_next %s equal=%u/%u", dn, eq, T);
  printf ("time tiny-llama %s: generate %.2f ms/frame (cache warm)\n", dn, t_gen);
}

/* A tokenizer-only fixture (tiny-vq-local: no normalisation, no mid attention): encode and
 * decode against the reference. */
static void
run_vq (ArDevice *dev, const char *dir, const char *name, ArDType want)
{
  const char *dn = ar_dtype_name (want);
  double lim = want == AR_F16 ? 5e-3 : 1e-4;
  g_autoptr (GError) error = NULL;
  g_autofree gchar *card_name = g_strconcat (name, ".yaml", NULL);
  g_autofree gchar *io_name = g_strconcat (name, "-io.safetensors", NULL);
  g_autofree gchar *card = g_build_filename (dir, card_name, NULL);
  g_autofree gchar *iop = g_build_filename (dir, io_name, NULL);
  g_autoptr (ArSafetensors) st = ar_safetensors_open (iop, &error);
  g_autoptr (ArModel) model = st ? load_model_as (dev, card, want, &error) : NULL;
  g_autoptr (ArTokenizer) tok = model ? ar_tokenizer_new (model, &error) : NULL;
  if (!tok) {
    check (FALSE, "model %s load %s: %s", name, dn, error->message);
    return;
  }
  const guint N = 3, H = ar_tokenizer_height (tok), W = ar_tokenizer_width (tok), C = 3;
  const guint n = ar_tokenizer_n_tokens (tok), dim = ar_model_card (model)->tokenizer.codebook_dim;
  const guint8 *frames = io (st, "frames", AR_ST_U8, (gsize) N * H * W * C);
  g_autofree float *ref_lat = io_copy (st, "latents", AR_ST_F32, (gsize) N * dim * n);
  g_autofree guint32 *ref_tok = io_copy (st, "tokens", AR_ST_U32, (gsize) N * n);
  g_autofree float *margin = io_copy (st, "token_margin", AR_ST_F32, (gsize) N * n);
  g_autofree float *ref_dec = io_copy (st, "decoded_float", AR_ST_F32, (gsize) N * C * H * W);
  const guint8 *ref_u8 = io (st, "decoded", AR_ST_U8, (gsize) N * H * W * C);
  if (!frames || !ref_lat || !ref_tok || !margin || !ref_dec || !ref_u8)
    return;

  g_autofree guint32 *tokens = g_new (guint32, (gsize) N * n);
  g_autofree float *lat = g_new (float, (gsize) N * dim * n);
  for (guint f = 0; f < N; f++)
    if (!ar_tokenizer_encode (tok, frames + (gsize) f * H * W * C, W * C, AR_PIXEL_RGB,
            tokens + (gsize) f * n, lat + (gsize) f * dim * n, &error)) {
      check (FALSE, "model %s encode %s: %s", name, dn, error->message);
      return;
    }
  guint same = 0, hard_diff = 0;
  for (guint i = 0; i < N * n; i++) {
    same += tokens[i] == ref_tok[i];
    hard_diff += tokens[i] != ref_tok[i] && margin[i] > 1e-3f;
  }
  check (same >= 0.99 * N * n, "model %s tokens %s equal=%u/%u (%u not near a tie)", name, dn, same,
      N * n, hard_diff);
  double e = nmse (lat, ref_lat, (gsize) N * dim * n);
  check (e <= lim, "model %s latents %s nmse=%.3g", name, dn, e);

  g_autofree float *dec = g_new (float, (gsize) N * C * H * W);
  g_autofree guint8 *u8 = g_new (guint8, (gsize) N * H * W * C);
  for (guint f = 0; f < N; f++)
    if (!ar_tokenizer_decode (tok, ref_tok + (gsize) f * n, u8 + (gsize) f * H * W * C, W * C,
            AR_PIXEL_RGB, dec + (gsize) f * C * H * W, &error)) {
      check (FALSE, "model %s decode %s: %s", name, dn, error->message);
      return;
    }
  e = nmse (dec, ref_dec, (gsize) N * C * H * W);
  check (e <= lim, "model %s decoded_float %s nmse=%.3g", name, dn, e);
  double se = 0;
  gsize np = (gsize) N * H * W * C;
  for (gsize i = 0; i < np; i++)
    se += ((double) u8[i] - ref_u8[i]) * ((double) u8[i] - ref_u8[i]);
  double psnr = se > 0 ? 10 * log10 (255.0 * 255.0 / (se / np)) : INFINITY;
  check (psnr >= 40, "model %s decoded_u8 %s psnr=%.1fdB", name, dn, psnr);
}

/* tiny-gpt's model and the reference's frames for the predictor checks below: tokens of 3
 * frames, their actions, and the greedy tokens after the first two. */
typedef struct {
  ArSafetensors *st;
  ArModel *model;
  guint T;
  gint32 *actions;
  guint32 *ref_tok, *ref_next;
} TinyGpt;

static void
tiny_gpt_clear (TinyGpt *g)
{
  g_clear_pointer (&g->model, ar_model_unref);
  g_clear_pointer (&g->st, ar_safetensors_close);
  g_clear_pointer (&g->actions, g_free);
  g_clear_pointer (&g->ref_tok, g_free);
  g_clear_pointer (&g->ref_next, g_free);
}

/* Fails the check named @what and returns FALSE when something is missing. */
static gboolean
tiny_gpt_open (ArDevice *dev, const char *dir, ArDType want, const char *what, TinyGpt *g)
{
  g_autoptr (GError) error = NULL;
  g_autofree gchar *card = g_build_filename (dir, "tiny-gpt.yaml", NULL);
  g_autofree gchar *iop = g_build_filename (dir, "tiny-gpt-io.safetensors", NULL);
  *g = (TinyGpt) { 0 };
  g->st = ar_safetensors_open (iop, &error);
  g->model = g->st ? load_model_as (dev, card, want, &error) : NULL;
  if (!g->model) {
    check (FALSE, "model tiny-gpt %s %s: %s", ar_dtype_name (want), what, error->message);
    tiny_gpt_clear (g);
    return FALSE;
  }
  g->T = ar_model_card (g->model)->predictor.tokens_per_frame;
  g->actions = io_copy (g->st, "actions", AR_ST_I32, 3);
  g->ref_tok = io_copy (g->st, "tokens", AR_ST_U32, (gsize) 3 * g->T);
  g->ref_next = io_copy (g->st, "next_tokens_greedy", AR_ST_U32, g->T);
  if (!g->actions || !g->ref_tok || !g->ref_next) {
    tiny_gpt_clear (g);
    return FALSE;
  }
  return TRUE;
}

/* Commits reference frame f % 3 with its action. */
static gboolean
tiny_gpt_commit (const TinyGpt *g, ArPredictor *pred, guint f, GError **error)
{
  ArAction a = { .discrete = TRUE, .index = (guint) g->actions[f % 3] };
  return ar_predictor_commit (pred, g->ref_tok + (gsize) (f % 3) * g->T, &a, error);
}

/* Up to four predictors of one card's model for the context checks, their shapes, and the
 * made-up frame of context_frame(). */
typedef struct {
  ArPredictor *pr[4];
  guint T, V, C, A;
  gboolean discrete;
  guint32 *tok;   /* [T] */
  float *av;      /* [A] */
} ContextPreds;

static void
context_preds_close (ContextPreds *cp)
{
  for (guint i = 0; i < G_N_ELEMENTS (cp->pr); i++)
    g_clear_pointer (&cp->pr[i], ar_predictor_free);
  g_clear_pointer (&cp->tok, g_free);
  g_clear_pointer (&cp->av, g_free);
}

/* @n predictors of @card's model in @want; FALSE, with the check named @what failed, where
 * one cannot be built. */
static gboolean
context_preds_open (ContextPreds *cp, guint n, ArDevice *dev, const char *card,
    const char *name, ArDType want, const char *what)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (ArModel) model = load_model_as (dev, card, want, &error);
  *cp = (ContextPreds) { { NULL } };
  for (guint i = 0; model && i < n && !error; i++)
    cp->pr[i] = ar_predictor_new (model, 0, &error);
  if (error) {
    check (FALSE, "model %s %s %s: %s", name, ar_dtype_name (want), what, error->message);
    context_preds_close (cp);
    return FALSE;
  }
  cp->T = ar_predictor_tokens_per_frame (cp->pr[0]);
  cp->V = ar_predictor_vocab (cp->pr[0]);
  cp->C = ar_predictor_context_frames (cp->pr[0]);
  cp->A = ar_predictor_action_size (cp->pr[0]);
  cp->discrete = ar_predictor_action_discrete (cp->pr[0]);
  cp->tok = g_new (guint32, cp->T);
  cp->av = g_new (float, MAX (cp->A, 1));
  return TRUE;
}

/* Made-up frame @f of the context checks: its tokens (returned, in cp->tok) and action
 * (@a, its values in cp->av). */
static const guint32 *
context_frame (ContextPreds *cp, guint f, ArAction *a)
{
  for (guint i = 0; i < cp->T; i++)
    cp->tok[i] = (i * 7 + f * 13) % cp->V;
  for (guint i = 0; i < cp->A; i++)
    cp->av[i] = (float) sin (0.7 * f + i);
  *a = (ArAction) { .discrete = cp->discrete, .index = cp->discrete ? f % cp->A : 0,
    .dim = cp->discrete ? 0 : cp->A, .values = cp->av };
  return cp->tok;
}

/* ar_predictor_prefill_ahead() between frames, as the window slides, on @card with made-up
 * tokens and actions: the next frame's generate must prefill only the new frame's positions
 * and give what a predictor without it gives (greedy tokens, also of a 2-frame rollout at the
 * end; the last step's logits up to the order of sums). Then a C-frame rollout, whose last
 * window starts with a predicted frame: prefill ahead after it, and the next frame again
 * prefills its own positions alone, with the same tokens. */
static void
check_prefill_ahead (ArDevice *dev, const char *card, const char *name, ArDType want)
{
  const char *dn = ar_dtype_name (want);
  g_autoptr (GError) error = NULL;
  ContextPreds cp;
  if (!context_preds_open (&cp, 2, dev, card, name, want, "prefill ahead"))
    return;
  ArPredictor *plain = cp.pr[0], *ahead = cp.pr[1];
  const guint T = cp.T, V = cp.V, C = cp.C;
  g_autofree guint32 *ta = g_new (guint32, 2 * T), *tb = g_new (guint32, 2 * T);
  g_autofree float *la = g_new (float, V), *lb = g_new (float, V), *lc = g_new (float, V);
  ArSampleParams greedy = { .greedy = TRUE };
  gboolean ok = TRUE, tokens_equal = TRUE, short_prefills = TRUE, logits_kept = TRUE;
  double worst = 0;
  /* The window fills at frame C - 1 and then slides, five times. */
  for (guint f = 0; ok && f < C + 4; f++) {
    ArAction a;
    const guint32 *tok = context_frame (&cp, f, &a);
    ok = ar_predictor_commit (plain, tok, &a, &error) && ar_predictor_commit (ahead, tok, &a, &error)
        && ar_predictor_generate (plain, &greedy, 1, NULL, ta, &error)
        && ar_predictor_generate (ahead, &greedy, 1, NULL, tb, &error)
        && ar_predictor_last_logits (plain, la, &error)
        && ar_predictor_last_logits (ahead, lb, &error);
    if (!ok)
      break;
    tokens_equal = tokens_equal && memcmp (ta, tb, T * 4) == 0;
    worst = MAX (worst, nmse (lb, la, V));
    /* From the second frame, the frames before the new one are in the cache (while the
     * window grows they stay there; once it is full, they were prefilled ahead: without, the
     * window's first positions differ from the cache's and ~all of it runs again). */
    if (f >= 1)
      short_prefills = short_prefills && ar_predictor_last_prefill (ahead) == T + 1;
    if (f >= C - 1)
      short_prefills = short_prefills && ar_predictor_last_prefill (plain) > (C - 2) * (T + 1);
    ok = ar_predictor_prefill_ahead (ahead, &error)
        && ar_predictor_last_logits (ahead, lc, &error);
    logits_kept = logits_kept && ok && memcmp (lb, lc, V * sizeof (float)) == 0;
  }
  ok = ok && ar_predictor_generate (plain, &greedy, 2, NULL, ta, &error)
      && ar_predictor_generate (ahead, &greedy, 2, NULL, tb, &error);
  tokens_equal = tokens_equal && ok && memcmp (ta, tb, 2 * T * 4) == 0;
  /* After a C-frame rollout, whose last window starts with a predicted frame (its rows at
   * position 0, where the next window's first committed frame goes): prefill ahead runs that
   * window again, and the next frame prefills its own positions alone. */
  g_autofree guint32 *ra = g_new (guint32, C * T), *rb = g_new (guint32, C * T);
  gboolean after_rollout = FALSE;
  if (ok) {
    ArAction a;
    const guint32 *tok = context_frame (&cp, C + 4, &a);
    ok = ar_predictor_generate (plain, &greedy, C, NULL, ra, &error)
        && ar_predictor_generate (ahead, &greedy, C, NULL, rb, &error)
        && ar_predictor_prefill_ahead (ahead, &error)
        && ar_predictor_commit (plain, tok, &a, &error) && ar_predictor_commit (ahead, tok, &a, &error)
        && ar_predictor_generate (plain, &greedy, 1, NULL, ta, &error)
        && ar_predictor_generate (ahead, &greedy, 1, NULL, tb, &error);
    tokens_equal = tokens_equal && ok && memcmp (ra, rb, C * T * 4) == 0
        && memcmp (ta, tb, T * 4) == 0;
    after_rollout = ok && ar_predictor_last_prefill (ahead) == T + 1
        && ar_predictor_last_prefill (plain) > T + 1;
  }
  double lim = want == AR_F16 ? 1e-5 : 1e-10;
  context_preds_close (&cp);
  check (ok && tokens_equal && short_prefills && logits_kept && after_rollout && worst <= lim,
      "model %s %s prefill ahead: greedy tokens %s, new frames prefilled alone %s (after a "
      "rollout %s), last logits kept %s, nmse=%.3g%s%s", name, dn,
      tokens_equal ? "equal" : "differ", short_prefills ? "yes" : "no",
      after_rollout ? "yes" : "no", logits_kept ? "yes" : "no", worst, error ? ": " : "",
      error ? error->message : "");
}

/* The REFRESH context policy (IRIS's cache) over frames that overflow the window twice: each
 * frame must give what a fresh predictor given only the segment's frames gives (greedy tokens;
 * last logits up to the order of sums), prefill only the new frame's positions, and differ
 * from SLIDE once the two windows differ (so the policy took effect). A 2-frame rollout at the
 * end, from a segment of one frame, as the fresh predictor's. */
static void
check_context_refresh (ArDevice *dev, const char *card, const char *name, ArDType want)
{
  const char *dn = ar_dtype_name (want);
  g_autoptr (GError) error = NULL;
  ContextPreds cp;
  if (!context_preds_open (&cp, 3, dev, card, name, want, "context refresh"))
    return;
  ArPredictor *refresh = cp.pr[0], *slide = cp.pr[1], *fresh = cp.pr[2];
  ar_predictor_set_context_policy (refresh, AR_CONTEXT_REFRESH);
  const guint T = cp.T, V = cp.V, C = cp.C;
  g_autofree guint32 *tr = g_new (guint32, 2 * T), *tf = g_new (guint32, 2 * T);
  g_autofree float *lr = g_new (float, V), *lf = g_new (float, V), *ls = g_new (float, V);
  ArSampleParams greedy = { .greedy = TRUE };
  ArAction a;
  gboolean ok = TRUE, tokens_equal = TRUE, short_prefills = TRUE;
  guint seg = 0, restarts = 0, frames = 2 * (C - 1) + 1;
  double worst = 0, least_vs_slide = INFINITY;
  for (guint f = 0; ok && f < frames; f++) {
    const guint32 *tok = context_frame (&cp, f, &a);
    ok = ar_predictor_commit (refresh, tok, &a, &error) && ar_predictor_commit (slide, tok, &a, &error)
        && ar_predictor_generate (refresh, &greedy, 1, NULL, tr, &error)
        && ar_predictor_last_logits (refresh, lr, &error)
        && ar_predictor_generate (slide, &greedy, 1, NULL, tf, &error)
        && ar_predictor_last_logits (slide, ls, &error);
    /* The segment: one more frame, or the newest alone when the window would overflow. */
    if (++seg > C - 1) {
      seg = 1;
      restarts += f > 0;
    }
    ar_predictor_reset (fresh);
    for (guint g = f + 1 - seg; ok && g <= f; g++) {
      ok = ar_predictor_commit (fresh, context_frame (&cp, g, &a), &a, &error);
    }
    ok = ok && ar_predictor_generate (fresh, &greedy, 1, NULL, tf, &error)
        && ar_predictor_last_logits (fresh, lf, &error);
    if (!ok)
      break;
    tokens_equal = tokens_equal && memcmp (tr, tf, T * 4) == 0;
    worst = MAX (worst, nmse (lr, lf, V));
    /* T + 1, or fewer where the frame's first tokens happen to be the cached prediction's. */
    short_prefills = short_prefills && ar_predictor_last_prefill (refresh) >= 1
        && ar_predictor_last_prefill (refresh) <= T + 1;
    if (seg < MIN (f + 1, C - 1))
      least_vs_slide = MIN (least_vs_slide, nmse (lr, ls, V));
  }
  /* Segments of C - 1 frames: the last frame restarted the second, and a rollout's second
   * frame sees it and the first predicted one. */
  gboolean rollout_equal = FALSE;
  if (ok && seg == 1) {
    ok = ar_predictor_generate (refresh, &greedy, 2, NULL, tr, &error)
        && ar_predictor_generate (fresh, &greedy, 2, NULL, tf, &error);
    rollout_equal = ok && memcmp (tr, tf, 2 * T * 4) == 0;
  }
  double lim = want == AR_F16 ? 1e-5 : 1e-10;
  context_preds_close (&cp);
  check (ok && tokens_equal && rollout_equal && short_prefills && restarts >= 2
      && worst <= lim && least_vs_slide > 1e-6, "model %s %s context refresh: greedy tokens %s "
      "(rollout %s), new frames prefilled alone %s, %u restarts, nmse=%.3g, against slide "
      "nmse>=%.3g%s%s", name, dn, tokens_equal ? "equal" : "differ",
      rollout_equal ? "equal" : "differs", short_prefills ? "yes" : "no", restarts, worst,
      least_vs_slide, error ? ": " : "", error ? error->message : "");
}

/* REFRESH with ar_predictor_prefill_ahead() after every frame, as arpredict runs it: the same
 * tokens as without; a C-frame rollout from a one-frame segment restarts the segment at its
 * last frame, overwriting the committed frame's cache rows, and prefill-ahead runs them again
 * before the next frame (which then prefills its own positions alone; without it, more).
 * And a switch from SLIDE to REFRESH after a commit: that frame's window is the sliding one
 * (the same tokens as a SLIDE predictor's), its rows already run ahead. */
static void
check_refresh_ahead (ArDevice *dev, const char *card, const char *name, ArDType want)
{
  const char *dn = ar_dtype_name (want);
  g_autoptr (GError) error = NULL;
  ContextPreds cp;
  if (!context_preds_open (&cp, 4, dev, card, name, want, "refresh with prefill ahead"))
    return;
  ArPredictor **pr = cp.pr;   /* refresh, refresh + ahead, slide, slide -> refresh + ahead */
  ar_predictor_set_context_policy (pr[0], AR_CONTEXT_REFRESH);
  ar_predictor_set_context_policy (pr[1], AR_CONTEXT_REFRESH);
  const guint T = cp.T, C = cp.C;
  g_autofree guint32 *out[4] = { g_new (guint32, C * T), g_new (guint32, C * T),
    g_new (guint32, C * T), g_new (guint32, C * T) };
  ArSampleParams greedy = { .greedy = TRUE };
  ArAction a;
  gboolean ok = TRUE, equal = TRUE, ahead_short = TRUE, rerun = FALSE, switched = FALSE;
  /* The rollout from frame C - 1 (a one-segment frame: the first segment held C - 1), the
   * switch at frame C + 1 (the window full and slid). */
  const guint rollout_at = C - 1, switch_at = C + 1;
  for (guint f = 0; ok && f < C + 2; f++) {
    const guint32 *tok = context_frame (&cp, f, &a);
    /* The rollout's frame k is predicted from the segment's k frames; the C-th overflows. */
    guint h = f == rollout_at ? C : 1;
    for (guint i = 0; ok && i < 4; i++) {
      ok = ar_predictor_commit (pr[i], tok, &a, &error);
      if (ok && i == 3 && f == switch_at)
        ar_predictor_set_context_policy (pr[3], AR_CONTEXT_REFRESH);
      ok = ok && ar_predictor_generate (pr[i], &greedy, i < 2 ? h : 1, NULL, out[i], &error)
          && ((i != 1 && i != 3) || ar_predictor_prefill_ahead (pr[i], &error));
    }
    if (!ok)
      break;
    equal = equal && memcmp (out[0], out[1], h * T * 4) == 0;
    if (h == 1)
      ahead_short = ahead_short && ar_predictor_last_prefill (pr[1]) >= 1
          && ar_predictor_last_prefill (pr[1]) <= T + 1;
    if (f == rollout_at + 1)
      rerun = ar_predictor_last_prefill (pr[0]) > T + 1;
    if (f == switch_at)
      switched = memcmp (out[2], out[3], T * 4) == 0 && ar_predictor_last_prefill (pr[3]) >= 1
          && ar_predictor_last_prefill (pr[3]) <= T + 1;
  }
  context_preds_close (&cp);
  check (ok && equal && ahead_short && rerun && switched, "model %s %s refresh with prefill "
      "ahead: tokens %s, new frames prefilled alone %s, the rollout's overwritten rows run again "
      "without it %s, switch from slide %s%s%s", name, dn, equal ? "equal" : "differ",
      ahead_short ? "yes" : "no", rerun ? "yes" : "no", switched ? "as slide" : "differs",
      error ? ": " : "", error ? error->message : "");
}

/* A frame whose fused steps give up waiting: with AR_PREDICTOR_FUSED_STEP=1 it fails with a
 * message saying so and the next frame is right (nothing of the failed run is kept: no
 * replay, no cache rows); with a step kept by the auto trial, the frame is run again per op
 * and the step stays off. */
static void
check_generate_gives_up (ArDevice *dev, const char *dir, ArDType want, gboolean auto_kept)
{
  const char *dn = ar_dtype_name (want);
  const char *what = auto_kept ? "fused step (auto) gives up" : "fused step gives up";
  g_autoptr (GError) error = NULL;
  TinyGpt g;
  if (!tiny_gpt_open (dev, dir, want, what, &g))
    return;
  g_setenv ("AR_PREDICTOR_FUSED_STEP", auto_kept ? "auto" : "1", TRUE);
  ar_predictor_test_step_trial (AR_STEP_TRIAL_PREFER_FUSED);
  g_autoptr (ArPredictor) pred = ar_predictor_new (g.model, 0, &error);
  ar_predictor_test_step_trial (AR_STEP_TRIAL_TIMED);
  gboolean ok = pred && ar_predictor_fused_step (pred);
  for (guint f = 0; ok && f < 2; f++)
    ok = tiny_gpt_commit (&g, pred, f, &error);
  g_autofree guint32 *next = g_new0 (guint32, g.T);
  ArSampleParams greedy = { .greedy = TRUE };
  ar_predictor_test_break_step_wait (TRUE);
  gboolean first = ok && ar_predictor_generate (pred, &greedy, 1, NULL, next, &error);
  ar_predictor_test_break_step_wait (FALSE);
  gboolean as_expected = auto_kept ? first && !ar_predictor_fused_step (pred)
      : !first && error && strstr (error->message, "gave up waiting") != NULL;
  g_autofree gchar *msg = g_strdup (error ? error->message
      : ok ? "none" : "no fused step");
  g_clear_error (&error);
  guint eq = 0;
  gboolean again = ok && ar_predictor_generate (pred, &greedy, 1, NULL, next, &error);
  for (guint i = 0; again && i < g.T; i++)
    eq += next[i] == g.ref_next[i];
  check (as_expected && again && eq == g.T, "model tiny-gpt %s %s: the frame %s (\"%s\"), "
      "the next one greedy_next equal=%u/%u%s%s", dn, what, first ? "ran per op" : "failed",
      msg, eq, g.T, error ? ": " : "", error ? error->message : "");
  tiny_gpt_clear (&g);
}

/* AR_PREDICTOR_FUSED_STEP=auto (set by the caller): the trial of a fused step that is broken
 * (zeroed weights, or tasks never taken) must leave it off; a timed trial must agree and keep
 * whichever was faster. The predictor must give the reference's greedy tokens either way. */
static void
check_trials (ArDevice *dev, const char *dir, ArDType want)
{
  const struct { ArStepTrialTest mode; const char *name; } trials[] = {
    { AR_STEP_TRIAL_BREAK_WEIGHTS, "weights zeroed" },
    { AR_STEP_TRIAL_BREAK_WAIT, "first tasks never taken" },
    { AR_STEP_TRIAL_TIMED, "timed" },
  };
  const char *dn = ar_dtype_name (want);
  g_autoptr (GError) error = NULL;
  TinyGpt g;
  if (!tiny_gpt_open (dev, dir, want, "fused-step trials", &g))
    return;
  ArModel *model = g.model;
  const guint T = g.T;
  g_autofree guint32 *next = g_new (guint32, T);
  {
    /* Unset: a trial on GPUs, none on CPU devices (there the step is 5-10x slower). */
    g_autofree gchar *was = g_strdup (g_getenv ("AR_PREDICTOR_FUSED_STEP"));
    g_unsetenv ("AR_PREDICTOR_FUSED_STEP");
    g_autoptr (ArPredictor) pred = ar_predictor_new (model, 0, &error);
    ArStepTrial tr = { 0 };
    if (pred)
      ar_predictor_step_trial (pred, &tr);
    gboolean fused = pred && ar_predictor_fused_step (pred);
    check (pred && (dev->caps.is_cpu ? !tr.ran && !fused : tr.ran || !fused),
        "model tiny-gpt %s fused step by default: %s, trial %s%s%s", dn,
        pred && ar_predictor_fused_step (pred) ? "on" : "off", tr.ran ? "ran" : "not run",
        error ? ": " : "", error ? error->message : "");
    g_clear_error (&error);
    if (was)
      g_setenv ("AR_PREDICTOR_FUSED_STEP", was, TRUE);
  }
  for (guint k = 0; k < G_N_ELEMENTS (trials); k++) {
    ar_predictor_test_step_trial (trials[k].mode);
    g_autoptr (ArPredictor) pred = ar_predictor_new (model, 0, &error);
    ArStepTrial tr = { 0 };
    gboolean ok = pred != NULL;
    if (ok)
      ar_predictor_step_trial (pred, &tr);
    for (guint f = 0; ok && f < 2; f++)
      ok = tiny_gpt_commit (&g, pred, f, &error);
    ArSampleParams greedy = { .greedy = TRUE };
    ok = ok && ar_predictor_generate (pred, &greedy, 1, NULL, next, &error);
    guint eq = 0;
    for (guint i = 0; ok && i < T; i++)
      eq += next[i] == g.ref_next[i];
    /* Both kernels are tried where the device has 64-bit atomics (AR_STEP_FOLD unset). */
    const ArStepTrialKernel *kern[2] = { &tr.plain, &tr.folded };
    gboolean as_expected = tr.plain.tried && tr.folded.tried == dev->caps.int64_atomics;
    for (guint i = 0; i < 2; i++) {
      const ArStepTrialKernel *kk = kern[i];
      if (!kk->tried)
        continue;
      if (trials[k].mode == AR_STEP_TRIAL_BREAK_WEIGHTS)
        as_expected = as_expected && kk->status == 0 && kk->nmse > 1e-3;
      else if (trials[k].mode == AR_STEP_TRIAL_BREAK_WAIT)
        as_expected = as_expected && kk->status != 0;
      else
        as_expected = as_expected && kk->status == 0
            && kk->nmse <= (want == AR_F16 ? 1e-5 : 1e-10) && isfinite (kk->us) && kk->us > 0;
    }
    if (trials[k].mode != AR_STEP_TRIAL_TIMED) {
      as_expected = as_expected && !tr.chosen;
    } else {
      /* The trial's rule (ar-predictor.h): near ties go to the fused step, the folded kernel
       * needs a clear win over the plain one. */
      double tie = AR_STEP_TRIAL_FUSED_TIE * tr.per_op_us;
      gboolean plain_ok = tr.plain.tried && tr.plain.us <= tie;
      gboolean folded_ok = tr.folded.tried && tr.folded.us <= tie
          && (!tr.plain.tried || tr.folded.us <= AR_STEP_TRIAL_FOLD_MARGIN * tr.plain.us);
      as_expected = as_expected && tr.per_op_us > 0 && tr.chosen == (plain_ok || folded_ok)
          && tr.folded_chosen == folded_ok;
    }
    check (ok && tr.ran && tr.steps > 0 && as_expected && eq == T
        && ar_predictor_fused_step (pred) == tr.chosen
        && ar_predictor_fused_step_folded (pred) == (tr.chosen && tr.folded_chosen),
        "model tiny-gpt %s fused-step trial, %s: %s (us per step: per op %.0f; plain %.0f, "
        "status %u, last logits nmse %.3g; folded %.0f, status %u, nmse %.3g), greedy_next "
        "equal=%u/%u%s%s", dn, trials[k].name, !tr.chosen ? "per op" : tr.folded_chosen
        ? "folded kept" : "plain kept", tr.per_op_us, tr.plain.us, tr.plain.status,
        tr.plain.nmse, tr.folded.us, tr.folded.status, tr.folded.nmse, eq, T,
        error ? ": " : "", error ? error->message : "");
    g_clear_error (&error);
  }
  /* The timed trial is the model's: a later predictor of it takes it over, untimed. */
  ArStepTrial first = { 0 }, again = { 0 };
  g_autoptr (ArPredictor) a = ar_predictor_new (model, 0, &error);
  g_autoptr (ArPredictor) b = a ? ar_predictor_new (model, 0, &error) : NULL;
  if (b) {
    ar_predictor_step_trial (a, &first);
    ar_predictor_step_trial (b, &again);
  }
  check (b && again.shared && again.chosen == first.chosen
      && again.folded_chosen == first.folded_chosen && again.plain.us == first.plain.us
      && ar_predictor_fused_step (b) == ar_predictor_fused_step (a)
      && ar_predictor_fused_step_folded (b) == ar_predictor_fused_step_folded (a),
      "model tiny-gpt %s fused-step trial shared by the model's predictors: %s%s%s", dn,
      again.shared ? "yes" : "no", error ? ": " : "", error ? error->message : "");
  g_clear_error (&error);
  tiny_gpt_clear (&g);
}

int
main (int argc, char **argv)
{
  if (argc != 2) {
    fprintf (stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
    return 2;
  }
  g_autoptr (GError) error = NULL;
  ArDevice *dev = ar_device_new (&error);
  if (!dev) {
    check (FALSE, "device: %s", error->message);
  } else {
    ArDType dts[2] = { AR_F32, AR_F16 };
    guint ndt = dev->caps.fp16_storage ? 2 : 1;
    /* A CPU device taking the GPU kernel choices (AR_VULKAN_AS_GPU, the golden-gpu-paths
     * test): they run end to end. */
    gboolean as_gpu = dev->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU && !dev->caps.is_cpu;
    if (as_gpu)
      printf ("# AR_VULKAN_AS_GPU: this CPU device takes the GPU kernel choices\n");
    if (!dev->caps.fp16_storage)
      check (FALSE, "device: no fp16 storage, the f16 cases cannot run");
    for (guint d = 0; d < ndt; d++) {
      g_setenv ("AR_PREDICTOR_FUSED_STEP", "0", TRUE);
      run_gpt (dev, argv[1], dts[d], FALSE, NULL);
      {
        const char *cards[][2] = { { "tiny-gpt.yaml", "tiny-gpt" },
          { "tiny-llama.yaml", "tiny-llama" },
          { "../../../models/demo/sim64.yaml", "sim64 (continuous, add_to_frame)" },
          { "../context/tiny-gpt-ctx6.yaml", "tiny-gpt-ctx6 (6 frames, action tokens)" } };
        for (guint c = 0; c < G_N_ELEMENTS (cards); c++) {
          g_autofree gchar *path = g_build_filename (argv[1], cards[c][0], NULL);
          check_prefill_ahead (dev, path, cards[c][1], dts[d]);
          check_context_refresh (dev, path, cards[c][1], dts[d]);
          check_refresh_ahead (dev, path, cards[c][1], dts[d]);
        }
      }
      if (as_gpu) {
        /* A GPU's fused step (hundreds of workgroups polling with loads) would wait on
         * workgroups lavapipe runs after it and run out of llvmpipe's loop budget; the plain
         * golden run covers the fused steps on this device. */
        if (d == 0)
          printf ("# fused one-token steps: not run with AR_VULKAN_AS_GPU (the golden run "
              "without it covers them)\n");
        goto other_models;
      }
      g_setenv ("AR_PREDICTOR_FUSED_STEP", "1", TRUE);
      run_gpt (dev, argv[1], dts[d], TRUE, "fused-step");
      check_generate_gives_up (dev, argv[1], dts[d], FALSE);
      check_generate_gives_up (dev, argv[1], dts[d], TRUE);
      g_setenv ("AR_PREDICTOR_FUSED_STEP", "1", TRUE);
      /* Three rows per subgroup and task: tasks that end past a matrix's last row. */
      g_setenv ("AR_STEP_ROWS", "3", TRUE);
      run_gpt (dev, argv[1], dts[d], TRUE, "fused-step-rows3");
      g_unsetenv ("AR_STEP_ROWS");
      /* Several workgroups on two or more threads: tasks of a phase run side by side and
       * wait on the phase before (on CPU devices one workgroup runs them all in order, which
       * would hide a missing wait). */
      g_setenv ("AR_STEP_GROUPS", "5", TRUE);
      run_gpt_side_by_side (dev, argv[1], dts[d], "fused-step-groups5");
      /* The folded kernel, side by side, MLP tasks of one block: the most fixed-point sums
       * (one workgroup is what the op tests and the trials below run too). */
      g_setenv ("AR_STEP_FOLD", "1", TRUE);
      g_setenv ("AR_STEP_FFN_BLOCKS", "1", TRUE);
      run_gpt_side_by_side (dev, argv[1], dts[d], "fused-step-folded-groups5");
      g_unsetenv ("AR_STEP_GROUPS");
      g_unsetenv ("AR_STEP_FFN_BLOCKS");
      g_unsetenv ("AR_STEP_FOLD");
      /* AR_PREDICTOR_FUSED_STEP=auto: kept when preferred (every check the same), refused
       * when broken. */
      g_setenv ("AR_PREDICTOR_FUSED_STEP", "auto", TRUE);
      ar_predictor_test_step_trial (AR_STEP_TRIAL_PREFER_FUSED);
      run_gpt (dev, argv[1], dts[d], TRUE, "fused-step-auto");
      g_setenv ("AR_PREDICTOR_FUSED_STEP", "auto", TRUE);
      check_trials (dev, argv[1], dts[d]);
      ar_predictor_test_step_trial (AR_STEP_TRIAL_TIMED);
    other_models:
      g_unsetenv ("AR_PREDICTOR_FUSED_STEP");
      run_llama (dev, argv[1], dts[d]);
      run_vq (dev, argv[1], "tiny-vq-local", dts[d]);
    }
    guint msgs = ar_device_validation_messages (dev);
    check (msgs == 0, "vulkan validation messages=%u", msgs);
    ar_device_unref (dev);
  }
  printf ("%u passed, %u failed\n", n_passed, n_failed);
  return n_failed ? 1 : 0;
}
