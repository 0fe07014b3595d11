/* arbench: the streaming loop at batch 1, timed per stage, optionally against the PyTorch
 * reference on the same card and weights.
 *
 *   arbench [--frames N] [--warmup W] [--seed S] [--torch] [--torch-device cpu|cuda]
 *           [--rounds R] CARD
 *
 * Per frame: encode a (synthetic, moving) frame; commit its tokens with an action; generate
 * the next frame's tokens with sampling (temperature 1, on the device); decode them. Before
 * timing, the context is filled with context_frames - 1 frames of seeded random tokens, so
 * every timed frame is the steady state users see once the window is full (each generation
 * re-prefills the whole window, as reference.Rollout). When the card's weights file is
 * absent it is written first from a fixed seed (random_init's scheme of
 * models/arvideo/export.py, in C: no torch needed); the PyTorch side loads the same file.
 * With --rounds R both sides run R times, alternating (the warmup only once on our side), and
 * the ratio printed is the median of the rounds' ratios: on a shared, noisy machine one
 * round's ratio moves by ±30%. */
#include "ar-model.h"
#include "ar-predictor.h"
#include "ar-tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef AR_SOURCE_ROOT
#define AR_SOURCE_ROOT "."
#endif

/* ahead: ar_predictor_prefill_ahead() after decode, with --ahead (what the next frame's
 * generate then need not run; the PyTorch side has no such stage). */
enum { ST_ENCODE, ST_COMMIT, ST_GENERATE, ST_DECODE, ST_AHEAD, ST_FRAME, N_STAGES };
static const char *stage_names[N_STAGES] = { "encode", "commit", "generate", "decode", "ahead",
  "frame" };
static gboolean ahead;

static double
gauss (GRand *r)
{
  /* Box-Muller; 1 - u keeps the log finite. */
  double u = 1.0 - g_rand_double (r), v = g_rand_double (r);
  return sqrt (-2.0 * log (u)) * cos (2.0 * G_PI * v);
}

/* As export.random_init: weights (>= 2 dims, not embeddings/codebook) uniform with the
 * variance of torch's default init, 1/fan_in; embeddings, codebook and sep_emb standard
 * normal; norm scales 1 + 0.2 N; biases 0.1 N; the predictor's last head layer x4 (sharper
 * logits). The codebook is not fitted to encoder latents and conv_out is not rescaled
 * (what matters here is the cost, not the pictures). */
static gboolean
write_random_weights (const ArCard *card, guint32 seed, GError **error)
{
  g_autoptr (GArray) specs = ar_card_expected_tensors (card);
  g_autoptr (GArray) tensors = g_array_sized_new (FALSE, TRUE, sizeof (ArStTensor), specs->len);
  g_autoptr (GPtrArray) data = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  const char *last_head = card->predictor.head_hidden > 0 ? "predictor.head.fc2." : "predictor.head.";
  for (guint i = 0; i < specs->len; i++) {
    const ArTensorSpec *s = &g_array_index (specs, ArTensorSpec, i);
    guint64 n = ar_tensor_spec_elements (s);
    float *v = g_try_new (float, MAX (n, 1));
    if (!v) {
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "out of memory for %s", s->name);
      return FALSE;
    }
    gboolean emb = strstr (s->name, "emb") != NULL || strstr (s->name, "codebook") != NULL;
    double scale = g_str_has_prefix (s->name, last_head) ? 4.0 : 1.0;
    if (s->ndim >= 2 && !emb) {
      guint64 fan_in = n / (guint64) s->shape[0];
      double bound = sqrt (3.0 / (double) fan_in);
      for (guint64 e = 0; e < n; e++)
        v[e] = (float) (scale * g_rand_double_range (rand, -bound, bound));
    } else if (s->ndim >= 2 || g_str_has_suffix (s->name, "sep_emb")) {
      for (guint64 e = 0; e < n; e++)
        v[e] = (float) gauss (rand);
    } else if (g_str_has_suffix (s->name, ".weight")) {
      for (guint64 e = 0; e < n; e++)
        v[e] = (float) (1.0 + 0.2 * gauss (rand));
    } else {
      for (guint64 e = 0; e < n; e++)
        v[e] = (float) (scale * 0.1 * gauss (rand));
    }
    g_ptr_array_add (data, v);
    ArStTensor t = { .name = s->name, .dtype = AR_ST_F32, .ndim = s->ndim, .data = v, .nbytes = n * 4 };
    memcpy (t.shape, s->shape, sizeof s->shape);
    g_array_append_val (tensors, t);
  }
  g_autofree gchar *seed_s = g_strdup_printf ("%u", seed);
  const char *meta[] = { "generator", "arbench", "seed", seed_s, NULL };
  return ar_safetensors_write (card->weights, (ArStTensor *) tensors->data, tensors->len, meta,
      error);
}

/* A smooth frame that moves with @t (RGB, w * h * 3). */
static void
synth_frame (guint8 *px, guint w, guint h, guint t)
{
  for (guint y = 0; y < h; y++)
    for (guint x = 0; x < w; x++)
      for (guint c = 0; c < 3; c++) {
        double v = sin (2 * G_PI * ((x + 2.0 * t) / w * (1 + c) + 0.1 * c))
            * cos (2 * G_PI * ((y + 1.0 * t) / h * (2 - 0.5 * c)));
        px[((gsize) y * w + x) * 3 + c] = (guint8) floor ((v + 1) * 127.5 + 0.5);
      }
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of @n sorted values. */
static double
percentile (const double *sorted, guint n, double p)
{
  guint k = (guint) ceil (p * n);
  return sorted[MIN (MAX (k, 1), n) - 1];
}

typedef struct {
  double median[N_STAGES], p90[N_STAGES];
  double fps;
  gboolean ok;
} Result;

static void
summarize (double *times[N_STAGES], guint n, Result *r)
{
  for (int s = 0; s < N_STAGES; s++) {
    qsort (times[s], n, sizeof (double), cmp_double);
    r->median[s] = percentile (times[s], n, 0.5);
    r->p90[s] = percentile (times[s], n, 0.9);
  }
  r->fps = 1000.0 / r->median[ST_FRAME];
  r->ok = TRUE;
}

static void
print_table (const char *prefix, const Result *r)
{
  printf ("%-10s %12s %12s\n", "stage", "median ms", "p90 ms");
  for (int s = 0; s < N_STAGES; s++)
    if (s != ST_AHEAD || (ahead && !g_str_has_prefix (prefix, "torch")))
      printf ("%s%-10s %12.2f %12.2f\n", prefix, stage_names[s], r->median[s], r->p90[s]);
}

static double
now_ms (void)
{
  return g_get_monotonic_time () / 1000.0;
}

/* Runs the PyTorch side and reads its "torch_stage NAME MEDIAN P90" and "torch_fps=" lines. */
static gboolean
run_torch (const char *card, guint frames, guint warmup, guint32 seed, const char *device,
    const char *context, Result *r, GError **error)
{
  const char *python = g_getenv ("AR_PYTHON");
  g_autofree gchar *script = g_build_filename (AR_SOURCE_ROOT, "models", "bench_torch.py", NULL);
  g_autofree gchar *fr = g_strdup_printf ("%u", frames);
  g_autofree gchar *wu = g_strdup_printf ("%u", warmup);
  g_autofree gchar *sd = g_strdup_printf ("%u", seed);
  const char *argv[] = { python ? python : "/usr/bin/python3", script, "--frames", fr, "--warmup",
    wu, "--seed", sd, "--device", device, "--context", context, card, NULL };
  g_autofree gchar *out = NULL, *err = NULL;
  gint status = 0;
  fflush (stdout);
  if (!g_spawn_sync (NULL, (gchar **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
          &status, error))
    return FALSE;
  if (!g_spawn_check_wait_status (status, error)) {
    g_prefix_error (error, "%s: %s", script, err ? err : "");
    return FALSE;
  }
  memset (r, 0, sizeof *r);
  guint found = 0;
  g_auto (GStrv) lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    char name[32];
    double med, p90;
    if (sscanf (lines[i], "torch_stage %31s %lf %lf", name, &med, &p90) == 3) {
      for (int s = 0; s < N_STAGES; s++)
        if (strcmp (name, stage_names[s]) == 0) {
          r->median[s] = med;
          r->p90[s] = p90;
          found |= 1u << s;
        }
    } else if (sscanf (lines[i], "torch_fps=%lf", &med) == 1) {
      r->fps = med;
    } else if (g_str_has_prefix (lines[i], "torch_info ")) {
      printf ("torch: %s\n", lines[i] + 11);
    }
  }
  if ((found | 1u << ST_AHEAD) != (1u << N_STAGES) - 1 || r->fps <= 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "%s printed no timings:\n%s%s", script, out,
        err ? err : "");
    return FALSE;
  }
  r->ok = TRUE;
  return TRUE;
}

static int
fail (GError *error)
{
  fprintf (stderr, "arbench: %s\n", error->message);
  g_error_free (error);
  return 1;
}

int
main (int argc, char **argv)
{
  setvbuf (stdout, NULL, _IOLBF, 0);   /* progress shows when piped to a file */
  gint frames = 10, warmup = 2, seed = 1, rounds = 1;
  gboolean torch = FALSE;
  gchar *torch_device = NULL, *context = NULL;
  GOptionEntry entries[] = {
    { "frames", 'n', 0, G_OPTION_ARG_INT, &frames, "timed frames (default 10)", "N" },
    { "warmup", 'w', 0, G_OPTION_ARG_INT, &warmup, "untimed frames first (default 2)", "W" },
    { "seed", 's', 0, G_OPTION_ARG_INT, &seed, "sampling seed (default 1)", "S" },
    { "torch", 't', 0, G_OPTION_ARG_NONE, &torch, "also run the PyTorch reference", NULL },
    { "torch-device", 0, 0, G_OPTION_ARG_STRING, &torch_device,
      "cpu (2 threads, default) or cuda (fp16, CUDA graphs)", "DEV" },
    { "rounds", 'r', 0, G_OPTION_ARG_INT, &rounds,
      "rounds of both sides, alternating; the ratio is their median (default 1)", "R" },
    { "ahead", 'a', 0, G_OPTION_ARG_NONE, &ahead, "prefill the next window's committed frames "
      "after each decode (ar_predictor_prefill_ahead: generate then runs the new frame only)",
      NULL },
    { "context", 'c', 0, G_OPTION_ARG_STRING, &context, "slide (default: the window of the "
      "last context_frames - 1 frames, re-prefilled each frame) or refresh (IRIS: new frames "
      "appended to the cache, restarted from the last frame when full), both sides",
      "POLICY" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("CARD");
  g_option_context_set_summary (ctx, "Times the streaming loop (encode, commit, generate, decode) "
      "at batch 1.\nWrites the card's weights from a fixed seed when the file is absent.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  GError *error = NULL;
  gboolean parsed = g_option_context_parse (ctx, &argc, &argv, &error);
  const char *policy = context ? context : "slide";
  gboolean policy_ok = strcmp (policy, "slide") == 0 || strcmp (policy, "refresh") == 0;
  if (!parsed || argc != 2 || frames < 1 || warmup < 0 || rounds < 1 || !policy_ok) {
    fprintf (stderr, "arbench: %s\n", error ? error->message : !policy_ok
        ? "--context: slide or refresh" : "usage: arbench [OPTIONS] CARD");
    return 2;
  }
  const char *card_path = argv[1];

  g_autoptr (ArCard) card = ar_card_load (card_path, &error);
  if (!card)
    return fail (error);
  if (card->tokenizer.kind != AR_TOKENIZER_VQ || card->predictor.kind == AR_PREDICTOR_NONE) {
    fprintf (stderr, "arbench: %s: needs a vq tokenizer and a predictor\n", card_path);
    return 1;
  }
  if (!g_file_test (card->weights, G_FILE_TEST_EXISTS)) {
    printf ("writing random weights to %s (seed 1)\n", card->weights);
    fflush (stdout);
    if (!write_random_weights (card, 1, &error))
      return fail (error);
  }

  g_autoptr (ArDevice) dev = ar_device_new (&error);
  if (!dev)
    return fail (error);
  g_autoptr (ArModel) model = ar_model_load (dev, card_path, &error);
  if (!model)
    return fail (error);
  g_autoptr (ArTokenizer) tok = ar_tokenizer_new (model, &error);
  if (!tok)
    return fail (error);
  g_autoptr (ArPredictor) pred = ar_predictor_new (model, 0, &error);
  if (!pred)
    return fail (error);
  ar_predictor_set_context_policy (pred, strcmp (policy, "refresh") == 0 ? AR_CONTEXT_REFRESH
      : AR_CONTEXT_SLIDE);

  guint w = ar_tokenizer_width (tok), h = ar_tokenizer_height (tok);
  guint T = ar_predictor_tokens_per_frame (pred), C = ar_predictor_context_frames (pred);
  guint n_act = ar_predictor_action_discrete (pred) ? ar_predictor_action_size (pred) : 0;
  guint act_dim = n_act ? 0 : ar_predictor_action_size (pred);
  g_autofree guint8 *px = g_new (guint8, (gsize) w * h * 3);
  g_autofree guint8 *out_px = g_new (guint8, (gsize) w * h * 3);
  g_autofree guint32 *tokens = g_new (guint32, T);
  g_autofree guint32 *next = g_new (guint32, T);
  g_autofree float *actv = g_new0 (float, MAX (act_dim, 1));
  g_autofree gchar *desc = ar_device_describe (dev);
  printf ("arbench: %s, %s, %s weights\n", card->name, desc, ar_dtype_name (ar_model_dtype (model)));
  printf ("loop: %u frames timed after %u warmup, context %u frames x %u tokens (+1 action), %s\n",
      frames, warmup, C, T, strcmp (policy, "refresh") == 0 ? "refresh (new frames appended, "
      "restarted from the last one when full)" : "slide (window kept full, re-prefilled)");
  ArStepTrial trial;
  ar_predictor_step_trial (pred, &trial);
  printf ("one-token steps: %s", !ar_predictor_fused_step (pred) ? "per op"
      : ar_predictor_fused_step_folded (pred) ? "fused (folded)" : "fused (plain)");
  if (ar_predictor_fused_step (pred) || trial.ran)
    printf (" [fused: %u workgroups]", ar_step_groups (dev));
  if (trial.ran) {
    printf (" (AR_PREDICTOR_FUSED_STEP=auto trial, %u steps from position %u, us per step: per "
        "op %.1f", trial.steps, trial.pos, trial.per_op_us);
    const ArStepTrialKernel *k[2] = { &trial.plain, &trial.folded };
    for (int i = 0; i < 2; i++)
      if (k[i]->tried)
        printf (", %s %.1f (last logits nmse %.3g, status %u)", i ? "folded" : "plain",
            k[i]->us, k[i]->nmse, k[i]->status);
    printf (")");
  }
  printf ("\n");

  /* Fill the window with seeded random tokens: no device work until the first generate. */
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  for (guint f = 0; f + 1 < C; f++) {
    for (guint i = 0; i < T; i++)
      tokens[i] = g_rand_int_range (rand, 0, ar_predictor_vocab (pred));
    ArAction a = { .discrete = n_act > 0, .index = n_act ? f % n_act : 0, .dim = act_dim,
      .values = actv };
    if (!ar_predictor_commit (pred, tokens, &a, &error))
      return fail (error);
  }

  double *times[N_STAGES];
  for (int s = 0; s < N_STAGES; s++)
    times[s] = g_new0 (double, frames);
  g_autofree double *ratios = g_new0 (double, rounds);
  ArSampleParams sp = { .temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = (guint64) seed };
  gint f0 = 0;   /* frames so far: later rounds go on with the stream, without warmup */
  for (gint round = 0; round < rounds; round++) {
    if (rounds > 1)
      printf ("round %d of %d\n", round + 1, rounds);
    gint first = round == 0 ? 0 : f0, timed_from = round == 0 ? warmup : f0;
    ArPredictorRecordStats rec0 = { 0 }, rec1;
    for (gint f = first; f < timed_from + frames; f++) {
      if (f == timed_from)
        ar_predictor_record_stats (pred, &rec0);
      synth_frame (px, w, h, (guint) f);
      double t0 = now_ms ();
      if (!ar_tokenizer_encode (tok, px, (gsize) w * 3, AR_PIXEL_RGB, tokens, NULL, &error))
        return fail (error);
      double t1 = now_ms ();
      for (guint i = 0; i < act_dim; i++)
        actv[i] = (float) sin (0.3 * f + i);
      ArAction a = { .discrete = n_act > 0, .index = n_act ? (guint) f % n_act : 0, .dim = act_dim,
        .values = actv };
      if (!ar_predictor_commit (pred, tokens, &a, &error))
        return fail (error);
      double t2 = now_ms ();
      if (!ar_predictor_generate (pred, &sp, 1, NULL, next, &error))
        return fail (error);
      sp.counter += T;
      double t3 = now_ms ();
      if (!ar_tokenizer_decode (tok, next, out_px, (gsize) w * 3, AR_PIXEL_RGB, NULL, &error))
        return fail (error);
      double t4 = now_ms ();
      if (ahead && !ar_predictor_prefill_ahead (pred, &error))
        return fail (error);
      double t5 = now_ms ();
      if (f >= timed_from) {
        guint k = (guint) (f - timed_from);
        times[ST_ENCODE][k] = t1 - t0;
        times[ST_COMMIT][k] = t2 - t1;
        times[ST_GENERATE][k] = t3 - t2;
        times[ST_DECODE][k] = t4 - t3;
        times[ST_AHEAD][k] = t5 - t4;
        times[ST_FRAME][k] = t5 - t0;
      }
    }
    f0 = timed_from + frames;
    Result ours;
    summarize (times, (guint) frames, &ours);
    print_table ("", &ours);
    /* Host time in generate that replaying saves (the window kept full replays one recording;
     * under refresh each place in the segment is recorded once, then replayed). */
    ar_predictor_record_stats (pred, &rec1);
    guint recorded = rec1.recorded - rec0.recorded;
    printf ("generate recordings: %u of %d timed frames recorded anew (%.3f ms host time each), "
        "%u replayed\n", recorded, frames,
        recorded ? (rec1.record_us - rec0.record_us) / recorded / 1000.0 : 0.0,
        rec1.replayed - rec0.replayed);
    guint64 peak_bufs = 0, peak_blocks = 0;
    ar_device_memory_buffers (dev, NULL, &peak_bufs);
    ar_device_memory_usage (dev, NULL, &peak_blocks);
    printf ("fps=%.3f\n", ours.fps);
    printf ("peak_device_memory=%.1f MiB (buffers; %.0f MiB in allocated blocks, staging included)\n",
        peak_bufs / (double) (1 << 20), peak_blocks / (double) (1 << 20));
    if (ar_device_validation_messages (dev)) {
      fprintf (stderr, "arbench: %u Vulkan validation messages\n", ar_device_validation_messages (dev));
      return 1;
    }

    if (torch) {
      Result ref;
      if (!run_torch (card_path, (guint) frames, (guint) warmup, (guint32) seed,
              torch_device ? torch_device : "cpu", policy, &ref, &error))
        return fail (error);
      printf ("torch:\n");
      print_table ("torch_", &ref);
      printf ("torch_fps=%.3f\n", ref.fps);
      ratios[round] = ours.fps / ref.fps;
      printf (rounds > 1 ? "round_ratio=%.2f\n" : "ratio=%.2f\n", ratios[round]);
    }
  }
  for (int s = 0; s < N_STAGES; s++)
    g_free (times[s]);
  if (torch && rounds > 1) {
    g_autofree double *sorted = g_memdup2 (ratios, sizeof (double) * rounds);
    qsort (sorted, rounds, sizeof (double), cmp_double);
    printf ("round ratios:");
    for (gint r = 0; r < rounds; r++)
      printf (" %.2f", ratios[r]);
    printf ("\nratio=%.2f (median of %d rounds, min %.2f, max %.2f)\n",
        rounds % 2 ? sorted[rounds / 2] : 0.5 * (sorted[rounds / 2 - 1] + sorted[rounds / 2]),
        rounds, sorted[0], sorted[rounds - 1]);
  }
  g_free (torch_device);
  g_free (context);
  return 0;
}
