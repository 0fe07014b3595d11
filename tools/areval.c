/* areval: evaluates a model card on held-out simulator episodes (common/ar-sim), generated in
 * process from seeds the training data does not use.
 *
 *   areval CARD [--episodes N] [--frames T] [--seed-start S] [--distractors K]
 *               [--policy random|scripted] [--rollout-every N] [--json]
 *
 * Episode e is ar_sim seed S + e, rendered at the card's resolution in RGB: frame t, then the
 * policy's action a_t, then a step (a_t produces frame t + 1, the models' convention). Each real
 * frame is encoded once; its tokens serve every use below. C is the card's context_frames; a
 * prediction "from t" is made after the C - 1 real frames t - C + 2 .. t (what
 * ar_predictor_generate looks at), committed with their true actions, a_t last. Greedy sampling.
 *
 * Lines printed (key=value, dB with 2 decimals):
 *   recon_psnr            every frame, encoded and decoded by the tokenizer
 *   pred1_psnr            frame t + 1 predicted from t, for every t with a full context
 *                         (t = C - 2 .. T - 2), against the real frame t + 1
 *   copy_last_psnr        real frame t as the prediction of real frame t + 1, the same pairs
 *   rollout8_true_psnr    8 frames rolled out greedily from t (t = C - 2 .. T - 9, every
 *                         --rollout-every th of them, default 8: windows that do not overlap)
 *                         with the true actions a_t .. a_{t+7} (a_t committed, the others fed
 *                         back), against the real frames t + 1 .. t + 8
 *   rollout8_shuffled_psnr  the same with those 8 actions replaced: a_{t+i} becomes a_{p(t+i)},
 *                         p a permutation of 0 .. T - 1 drawn once per episode from a GRand
 *                         seeded with the episode's seed (so fixed for given arguments). The
 *                         earlier context actions stay true: they produced the real context.
 * A PSNR over a set of frames is 10 log10(255^2 / MSE), MSE the mean squared error over every
 * byte (pixel and channel) of every frame of the set: aggregate MSE, not a mean of per-frame
 * PSNRs (one frame with a tiny error would dominate such a mean). Extras: token accuracy of the
 * 1-step predictions against the real frames' tokens, the rollout PSNR of each step, counts
 * and time.
 * Exit status: 0 ok, 1 model, device or evaluation failure (one-line message), 2 usage. */
#include "ar-predictor.h"
#include "ar-sim.h"
#include "ar-tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define HORIZON 8

/* Squared error and byte count of a set of frames. */
typedef struct {
  double se;
  guint64 n;
} ErrSum;

static void
err_add (ErrSum *s, const guint8 *a, const guint8 *b, gsize n)
{
  guint64 se = 0;   /* exact: 255^2 * n fits easily */
  for (gsize i = 0; i < n; i++) {
    gint d = (gint) a[i] - (gint) b[i];
    se += (guint64) (d * d);
  }
  s->se += (double) se;
  s->n += n;
}

static double
err_psnr (const ErrSum *s)
{
  if (s->n == 0)
    return NAN;
  if (s->se == 0)
    return INFINITY;
  return 10.0 * log10 (255.0 * 255.0 / (s->se / (double) s->n));
}

static int
fail (const char *what, const GError *error)
{
  fprintf (stderr, "areval: %s%s%s\n", what ? what : "", what ? ": " : "", error->message);
  return 1;
}

/* Everything the card must offer for the simulator, checked before any device work. */
static gboolean
check_card (const ArCard *card, GError **error)
{
  const ArTokenizerConfig *tk = &card->tokenizer;
  const ArPredictorConfig *pr = &card->predictor;
  if (tk->kind == AR_TOKENIZER_NONE) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "%s: the card has no tokenizer section "
        "(areval needs a tokenizer and a predictor)", card->path);
    return FALSE;
  }
  if (pr->kind == AR_PREDICTOR_NONE) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "%s: the card has no predictor section "
        "(areval needs a tokenizer and a predictor)", card->path);
    return FALSE;
  }
  if (pr->action_kind != AR_ACTION_CONTINUOUS || pr->action_dim != AR_SIM_ACTION_DIM) {
    g_autofree gchar *got = pr->action_kind == AR_ACTION_CONTINUOUS
        ? g_strdup_printf ("continuous dim %u", pr->action_dim)
        : g_strdup_printf ("discrete, %u actions", pr->action_count);
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "%s: predictor.action is %s; the simulator's "
        "actions are continuous dim %d", card->path, got, AR_SIM_ACTION_DIM);
    return FALSE;
  }
  if (tk->in_channels != 3) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "%s: tokenizer.in_channels is %u; areval "
        "compares RGB frames and needs 3", card->path, tk->in_channels);
    return FALSE;
  }
  return TRUE;
}

typedef struct {
  ArTokenizer *tok;
  ArPredictor *pred;
  guint W, H, C, n_tok;
  gsize fbytes;                    /* bytes of one RGB frame */
  gint rollout_every;

  ErrSum recon, pred1, copy_last, roll_true, roll_shuf;
  ErrSum roll_true_step[HORIZON], roll_shuf_step[HORIZON];
  guint64 tok_equal, tok_total;
  guint n_frames, n_pairs, n_rollouts, n_generated;
  gint64 gen_us;                   /* time in ar_predictor_generate */
} Eval;

/* Commits the context for a prediction from frame @t: real frames t - C + 2 .. t with actions
 * @acts (the true ones but the last, which is @last). */
static gboolean
commit_context (Eval *ev, const guint32 *tokens, const float *acts, guint t, const float *last,
    GError **error)
{
  ar_predictor_reset (ev->pred);
  for (guint f = t + 2 - ev->C; f <= t; f++) {
    ArAction a = { .discrete = FALSE, .dim = AR_SIM_ACTION_DIM,
                   .values = f == t ? last : acts + (gsize) f * AR_SIM_ACTION_DIM };
    if (!ar_predictor_commit (ev->pred, tokens + (gsize) f * ev->n_tok, &a, error))
      return FALSE;
  }
  return TRUE;
}

/* Rolls out @horizon frames after the committed context with @acts[0 .. horizon-2] fed back,
 * decodes them into @out. */
static gboolean
rollout (Eval *ev, guint horizon, const float *const *acts, guint32 *gen, guint8 *out,
    GError **error)
{
  static const ArSampleParams greedy = { .greedy = TRUE };
  ArAction fed[HORIZON];
  for (guint k = 0; k + 1 < horizon; k++)
    fed[k] = (ArAction) { .discrete = FALSE, .dim = AR_SIM_ACTION_DIM, .values = acts[k] };
  gint64 t0 = g_get_monotonic_time ();
  if (!ar_predictor_generate (ev->pred, &greedy, horizon, horizon > 1 ? fed : NULL, gen, error))
    return FALSE;
  ev->gen_us += g_get_monotonic_time () - t0;
  ev->n_generated += horizon;
  for (guint k = 0; k < horizon; k++)
    if (!ar_tokenizer_decode (ev->tok, gen + (gsize) k * ev->n_tok, out + k * ev->fbytes,
            (gsize) ev->W * 3, AR_PIXEL_RGB, NULL, error))
      return FALSE;
  return TRUE;
}

static gboolean
eval_episode (Eval *ev, guint64 seed, guint n_dis, ArSimPolicy policy, guint T, GError **error)
{
  const gsize fb = ev->fbytes;
  const guint C = ev->C, n = ev->n_tok;
  g_autofree guint8 *frames = g_malloc ((gsize) T * fb);
  g_autofree guint8 *dec = g_malloc (HORIZON * fb);
  g_autofree float *acts = g_new (float, (gsize) T * AR_SIM_ACTION_DIM);
  g_autofree float *shuf = g_new (float, (gsize) T * AR_SIM_ACTION_DIM);
  g_autofree guint32 *tokens = g_new (guint32, (gsize) T * n);
  g_autofree guint32 *gen = g_new (guint32, (gsize) HORIZON * n);

  g_autoptr (ArSim) sim = ar_sim_new (seed, n_dis);
  for (guint t = 0; t < T; t++) {
    ar_sim_render (sim, frames + t * fb, ev->W, ev->H, (gsize) ev->W * 3, 3, FALSE);
    ar_sim_policy_action (sim, policy, acts + (gsize) t * AR_SIM_ACTION_DIM);
    ar_sim_step (sim, acts + (gsize) t * AR_SIM_ACTION_DIM);
  }
  /* The shuffled actions: a Fisher-Yates permutation seeded by the episode. */
  g_autofree guint *perm = g_new (guint, T);
  g_autoptr (GRand) rand = g_rand_new_with_seed ((guint32) (seed ^ (seed >> 32)));
  for (guint i = 0; i < T; i++)
    perm[i] = i;
  for (guint i = T - 1; i > 0; i--) {
    guint j = (guint) g_rand_int_range (rand, 0, (gint32) i + 1), tmp = perm[i];
    perm[i] = perm[j];
    perm[j] = tmp;
  }
  for (guint i = 0; i < T; i++)
    memcpy (shuf + (gsize) i * AR_SIM_ACTION_DIM, acts + (gsize) perm[i] * AR_SIM_ACTION_DIM,
        AR_SIM_ACTION_DIM * sizeof (float));

  /* One encode per real frame; reconstruction. */
  for (guint t = 0; t < T; t++) {
    if (!ar_tokenizer_encode (ev->tok, frames + t * fb, (gsize) ev->W * 3, AR_PIXEL_RGB,
            tokens + (gsize) t * n, NULL, error)
        || !ar_tokenizer_decode (ev->tok, tokens + (gsize) t * n, dec, (gsize) ev->W * 3,
            AR_PIXEL_RGB, NULL, error))
      return FALSE;
    err_add (&ev->recon, dec, frames + t * fb, fb);
  }
  ev->n_frames += T;

  for (guint t = C - 2; t + 1 < T; t++) {
    /* The 1-step prediction is the first frame of the true rollout where one starts here
     * (greedy: the same tokens), so it costs nothing extra. */
    gboolean roll = t + HORIZON < T && (t - (C - 2)) % (guint) ev->rollout_every == 0;
    guint h = roll ? HORIZON : 1;
    const float *fed[HORIZON];
    for (guint k = 0; k + 1 < h; k++)
      fed[k] = acts + (gsize) (t + 1 + k) * AR_SIM_ACTION_DIM;
    if (!commit_context (ev, tokens, acts, t, acts + (gsize) t * AR_SIM_ACTION_DIM, error)
        || !rollout (ev, h, fed, gen, dec, error))
      return FALSE;
    err_add (&ev->pred1, dec, frames + (t + 1) * fb, fb);
    err_add (&ev->copy_last, frames + t * fb, frames + (t + 1) * fb, fb);
    for (guint i = 0; i < n; i++)
      ev->tok_equal += gen[i] == tokens[(gsize) (t + 1) * n + i];
    ev->tok_total += n;
    ev->n_pairs++;
    if (!roll)
      continue;
    for (guint k = 0; k < HORIZON; k++) {
      err_add (&ev->roll_true, dec + k * fb, frames + (t + 1 + k) * fb, fb);
      err_add (&ev->roll_true_step[k], dec + k * fb, frames + (t + 1 + k) * fb, fb);
    }
    for (guint k = 0; k + 1 < HORIZON; k++)
      fed[k] = shuf + (gsize) (t + 1 + k) * AR_SIM_ACTION_DIM;
    if (!commit_context (ev, tokens, acts, t, shuf + (gsize) t * AR_SIM_ACTION_DIM, error)
        || !rollout (ev, HORIZON, fed, gen, dec, error))
      return FALSE;
    for (guint k = 0; k < HORIZON; k++) {
      err_add (&ev->roll_shuf, dec + k * fb, frames + (t + 1 + k) * fb, fb);
      err_add (&ev->roll_shuf_step[k], dec + k * fb, frames + (t + 1 + k) * fb, fb);
    }
    ev->n_rollouts++;
  }
  return TRUE;
}

/* "inf" (a perfect set) and "nan" (an empty one) are valid output; JSON has neither: null. */
static gchar *
fmt_db (double v, gboolean json)
{
  if (!isfinite (v))
    return g_strdup (json ? "null" : isnan (v) ? "nan" : "inf");
  return g_strdup_printf ("%.2f", v);
}

int
main (int argc, char **argv)
{
  /* Rollouts every 8 positions: their windows do not overlap, and they are 16 of the 17
   * generated frames per position. */
  gint episodes = 4, frames = 32, distractors = 0, rollout_every = 8;
  gint64 seed_start = 1000000;
  gboolean json = FALSE;
  g_autofree gchar *policy_name = NULL;
  GOptionEntry entries[] = {
    { "episodes", 'n', 0, G_OPTION_ARG_INT, &episodes, "Held-out episodes (4)", "N" },
    { "frames", 't', 0, G_OPTION_ARG_INT, &frames, "Frames per episode (32)", "T" },
    { "seed-start", 's', 0, G_OPTION_ARG_INT64, &seed_start,
      "Seed of the first episode (1000000; training uses lower seeds)", "S" },
    { "distractors", 0, 0, G_OPTION_ARG_INT, &distractors, "Distractor discs (0)", "K" },
    { "policy", 'p', 0, G_OPTION_ARG_STRING, &policy_name, "random | scripted (random)", "NAME" },
    { "rollout-every", 0, 0, G_OPTION_ARG_INT, &rollout_every,
      "Start rollouts at every Nth prediction position (8; 1: all)", "N" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print one JSON object instead of key=value lines",
      NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("CARD - evaluate a model on held-out "
      "simulator episodes");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_description (ctx,
      "Episode e is simulator seed S + e at the card's resolution (RGB); a_t is the action taken\n"
      "at frame t. Predictions from t follow the real frames t-C+2..t (C = context_frames)\n"
      "committed with their actions, greedy sampling.\n"
      "  recon_psnr              every frame encoded and decoded\n"
      "  pred1_psnr              frame t+1 predicted from t, every t with a full context\n"
      "  copy_last_psnr          real frame t for real frame t+1, the same pairs\n"
      "  rollout8_true_psnr      frames t+1..t+8 rolled out with the true a_t..a_{t+7}\n"
      "  rollout8_shuffled_psnr  the same with a_{t+i} replaced by a_{p(t+i)}, p a permutation of\n"
      "                          the episode's frames seeded by its seed (earlier actions true)\n"
      "PSNR of a set = 10 log10(255^2 / MSE), MSE over every byte of every frame of the set\n"
      "(aggregate, not a mean of per-frame PSNRs).");
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    fprintf (stderr, "areval: %s\n", error->message);
    return 2;
  }
  ArSimPolicy policy = AR_SIM_POLICY_RANDOM;
  if (policy_name && !ar_sim_policy_from_name (policy_name, &policy)) {
    fprintf (stderr, "areval: unknown policy \"%s\" (random or scripted)\n", policy_name);
    return 2;
  }
  if (argc != 2 || episodes < 1 || frames < 1 || rollout_every < 1 || seed_start < 0
      || distractors < 0 || distractors > AR_SIM_MAX_DISTRACTORS) {
    fprintf (stderr, "usage: areval CARD [--episodes N] [--frames T] [--seed-start S] "
        "[--distractors 0..%d] [--policy random|scripted] [--rollout-every N] [--json]\n",
        AR_SIM_MAX_DISTRACTORS);
    return 2;
  }
  const char *card_path = argv[1];

  g_autoptr (ArCard) card = ar_card_load (card_path, &error);
  if (!card)
    return fail (NULL, error);
  if (!check_card (card, &error))
    return fail (NULL, error);
  /* C - 1 context frames, then HORIZON frames to compare with. */
  guint C = card->predictor.context_frames;
  if ((guint) frames < C - 1 + HORIZON) {
    fprintf (stderr, "areval: --frames must be at least %u for this card (context_frames - 1 "
        "context frames, then %d frames of rollout)\n", C - 1 + HORIZON, HORIZON);
    return 2;
  }

  gint64 t0 = g_get_monotonic_time ();
  g_autoptr (ArDevice) dev = ar_device_new (&error);
  if (!dev)
    return fail ("device", error);
  g_autoptr (ArModel) model = ar_model_load (dev, card_path, &error);
  if (!model)
    return fail (NULL, error);
  Eval ev = { .rollout_every = rollout_every };
  ev.tok = ar_tokenizer_new (model, &error);
  ev.pred = ev.tok ? ar_predictor_new (model, 0, &error) : NULL;
  if (!ev.pred) {
    ar_tokenizer_free (ev.tok);
    return fail (NULL, error);
  }
  ev.W = ar_tokenizer_width (ev.tok);
  ev.H = ar_tokenizer_height (ev.tok);
  ev.C = ar_predictor_context_frames (ev.pred);
  ev.n_tok = ar_tokenizer_n_tokens (ev.tok);
  ev.fbytes = (gsize) ev.W * ev.H * 3;
  int rc = 0;
  if (ar_predictor_tokens_per_frame (ev.pred) != ev.n_tok) {
    fprintf (stderr, "areval: %s: the predictor takes %u tokens per frame, the tokenizer gives "
        "%u\n", card_path, ar_predictor_tokens_per_frame (ev.pred), ev.n_tok);
    rc = 1;
  }
  gint64 t1 = g_get_monotonic_time ();
  for (gint e = 0; rc == 0 && e < episodes; e++)
    if (!eval_episode (&ev, (guint64) seed_start + e, distractors, policy, frames, &error))
      rc = fail ("evaluation", error);
  gint64 t2 = g_get_monotonic_time ();
  ar_predictor_free (ev.pred);
  ar_tokenizer_free (ev.tok);
  if (rc)
    return rc;
  guint msgs = ar_device_validation_messages (dev);
  if (msgs) {
    fprintf (stderr, "areval: %u Vulkan validation messages\n", msgs);
    return 1;
  }

  struct { const char *key; double v; } db[] = {
    { "recon_psnr", err_psnr (&ev.recon) },
    { "pred1_psnr", err_psnr (&ev.pred1) },
    { "copy_last_psnr", err_psnr (&ev.copy_last) },
    { "rollout8_true_psnr", err_psnr (&ev.roll_true) },
    { "rollout8_shuffled_psnr", err_psnr (&ev.roll_shuf) },
  };
  g_autoptr (GString) steps_true = g_string_new (NULL), steps_shuf = g_string_new (NULL);
  for (guint k = 0; k < HORIZON; k++) {
    g_autofree gchar *a = fmt_db (err_psnr (&ev.roll_true_step[k]), json);
    g_autofree gchar *b = fmt_db (err_psnr (&ev.roll_shuf_step[k]), json);
    g_string_append_printf (steps_true, "%s%s", k ? "," : "", a);
    g_string_append_printf (steps_shuf, "%s%s", k ? "," : "", b);
  }
  double acc = ev.tok_total ? (double) ev.tok_equal / ev.tok_total : 0;
  double load_s = (t1 - t0) / 1e6, eval_s = (t2 - t1) / 1e6, gen_s = ev.gen_us / 1e6;
  if (json) {
    printf ("{\"card\": \"%s\", \"episodes\": %d, \"frames\": %d, \"seed_start\": %" G_GINT64_FORMAT
        ", \"distractors\": %d, \"policy\": \"%s\"", card->name, episodes, frames, seed_start,
        distractors, ar_sim_policy_name (policy));
    for (guint i = 0; i < G_N_ELEMENTS (db); i++) {
      g_autofree gchar *s = fmt_db (db[i].v, TRUE);
      printf (", \"%s\": %s", db[i].key, s);
    }
    printf (", \"pred1_token_acc\": %.4f, \"rollout8_true_psnr_steps\": [%s], "
        "\"rollout8_shuffled_psnr_steps\": [%s], \"recon_frames\": %u, \"pred1_pairs\": %u, "
        "\"rollouts\": %u, \"generated_frames\": %u, \"load_s\": %.2f, \"eval_s\": %.2f, "
        "\"generate_s\": %.2f}\n", acc, steps_true->str, steps_shuf->str, ev.n_frames, ev.n_pairs,
        ev.n_rollouts, ev.n_generated, load_s, eval_s, gen_s);
    return 0;
  }
  printf ("card=%s episodes=%d frames=%d seed_start=%" G_GINT64_FORMAT " distractors=%d "
      "policy=%s device=\"%s\"\n", card->name, episodes, frames, seed_start, distractors,
      ar_sim_policy_name (policy), dev->props.deviceName);
  for (guint i = 0; i < G_N_ELEMENTS (db); i++) {
    g_autofree gchar *s = fmt_db (db[i].v, FALSE);
    printf ("%s=%s\n", db[i].key, s);
  }
  printf ("pred1_token_acc=%.4f\n", acc);
  printf ("rollout8_true_psnr_steps=%s\n", steps_true->str);
  printf ("rollout8_shuffled_psnr_steps=%s\n", steps_shuf->str);
  printf ("recon_frames=%u pred1_pairs=%u rollouts=%u generated_frames=%u\n", ev.n_frames,
      ev.n_pairs, ev.n_rollouts, ev.n_generated);
  printf ("load_s=%.2f eval_s=%.2f generate_s=%.2f\n", load_s, eval_s, gen_s);
  return 0;
}
