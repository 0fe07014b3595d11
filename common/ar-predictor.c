/* The predictor graph (gpt and llama, as models/arvideo/reference.py).
 *
 * Embeddings come from one combined table [vocab + action rows, dim]: frame tokens are ids
 * < vocab, an action is id vocab + a (discrete) or vocab + frame slot (continuous: the slot
 * row is act_proj(a) (+ sep_emb), computed on the device at the start of each run). So a
 * whole sequence is one embedding lookup, reading ids from a device buffer that the sampler
 * also writes: generating a frame is one command buffer with no host round trip.
 *
 * The KV cache is reused by longest common prefix: the host keeps the ids (and continuous
 * action values) whose keys/values the cache holds; with absolute positions from 0 and causal
 * attention, equal ids at equal positions give equal keys/values, so only the positions after
 * the common prefix are recomputed. Window (as reference.Rollout): a frame is generated after
 * at most context_frames - 1 frames; when more are available the oldest are dropped and the
 * kept frames are re-based at position 0, which re-prefills them all (every generated frame
 * costs a prefill of (context_frames - 1) * (tokens_per_frame + 1) positions once the window
 * is full, instead of tokens_per_frame + 1). */
#include "ar-predictor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ar-half.h"

typedef struct {
  const ArBuffer *n1w, *n1b, *qkvw, *qkvb, *projw, *projb, *n2w, *n2b;
  const ArBuffer *fc1w, *fc1b, *fc2w, *fc2b;   /* llama: gate, (none), down, (none) */
  const ArBuffer *upw;                           /* llama */
  /* [L, 3 dim]: the layer's q|k|v rows at every position, which are also its KV cache: the
   * qkv projection writes position p's row p and attention reads K and V there (no append
   * pass). */
  ArBuffer *qkvc;
} Layer;

/* AR_PREDICTOR_FUSED_STEP (gpt predictors): "1" runs the fused one-token step wherever the
 * device can; "auto" tries it against the per-op steps when the predictor is built and keeps
 * it only if its logits agree and it is faster (step_trial()); "0" the per-op steps. Unset:
 * auto on GPUs, where the trial guards against a device that runs it wrongly or slowly
 * (H200: faster on both bench cards, 2 workgroups per SM); off on CPU devices,
 * where it is 5-10x slower than the per-op steps and the trial would only cost start-up. */
typedef enum { FUSED_OFF, FUSED_ON, FUSED_AUTO } FusedMode;

/* A frame's generation recorded in its own command buffer: from @start over @len positions
 * with these sampling parameters (the counter is read from a buffer). Replayed as is when a
 * frame has the same, like a CUDA graph: under the sliding window every frame does, and under
 * refresh the start moves through the segment's context_frames places, one recording each
 * (with only the last one kept, every refresh frame of sim64 spent ~14 ms recording on
 * lavapipe). */
typedef struct {
  ArCmd *cmd;
  gboolean valid;
  guint start, len;
  ArSampleParams params;
  guint64 last_used;
} GenRecording;
#define GEN_RECORDINGS_MAX 24

/* AR_STEP_FOLD: "1" the folded fused kernel, "0" the plain one; unset: the trial times both,
 * and AR_PREDICTOR_FUSED_STEP=1 takes the plain one (the one timed on GPUs before the folded
 * kernel existed). */
typedef enum { FOLD_NO, FOLD_YES, FOLD_TRIAL } FoldMode;

struct _ArPredictor {
  ArModel *model;
  ArDevice *dev;
  const ArPredictorConfig *cfg;
  gboolean llama;
  ArDType dt;
  guint C, T, L, dim, H, hd, hidden, vocab, act_size, n_act_rows, zero_row;
  float eps;
  Layer *layers;
  const ArBuffer *pos_emb, *nfw, *nfb, *headw, *headb, *head2w, *head2b, *act_w;
  const ArBuffer *act_b; /* continuous: act_proj.bias (gpt) or act_bias (llama) */
  ArBuffer *act_bias;   /* llama continuous: act_proj.bias + sep_emb */
  ArBuffer *table;      /* [vocab + n_act_rows (+ the zero row with add_to_frame), dim] */
  ArBuffer *posids;     /* guint32 0..L-1 */
  ArBuffer *ids;        /* guint32 [L + 1]: the sequence, sampled tokens included; then the
                         * fused steps' status word, copied there to be read with the tokens */
  ArBuffer *ledby;      /* add_to_frame: guint32 [L], the table row added at each position:
                         * the action that led to its frame, or the zero row */
  ArBuffer *actvals;    /* continuous: [C, act_size] */
  ArBuffer *one;        /* 1.0: weight of strided copies done as products */
  ArBuffer *x, *h, *qk, *att, *mlp, *mlp2, *logits;
  ArBuffer *att_scratch; /* split-K partial states of one-token attention */
  ArBuffer *prefill_scratch; /* of the prefill's attention on GPUs (key splits), or NULL */
  ArBuffer *sample_ctr;  /* guint32 [2]: the frame's sampling counter, read by the sample op */
  /* The fused one-token step (ar_op_decode_step), when on: the weights packed as it reads
   * them, every layer's cache in one buffer (the layers' qkvc are views of it), its scratch. */
  gboolean fused_step;
  FusedMode fused_mode;
  FoldMode fold_mode;
  gboolean fold_ok;     /* the device runs the folded kernel for this model */
  ArStepTrial trial;    /* what AR_PREDICTOR_FUSED_STEP=auto measured */
  ArStepShape step;
  ArBuffer *step_w, *caches, *step_scratch;
  /* generate's recordings, each replayed as is when a frame has the same (see GenRecording). */
  GenRecording gen[GEN_RECORDINGS_MAX];
  guint n_gen;            /* recordings kept at most: context_frames + 1, <= the max */
  guint64 gen_clock;      /* for last_used */
  gboolean no_replay;
  ArPredictorRecordStats rec_stats;
  guint last_start, last_len;   /* the last generated frame's run */
  ArCmd *cmd;           /* everything but generate's runs, which have their own (gen) */
  /* committed frames: tokens [C][T], actions [C] or [C][act_size] */
  guint n_hist;
  ArContextPolicy policy;
  /* REFRESH: how many of the last committed frames the segment holds (at most C: beyond
   * C - 1 the next generate restarts it) */
  guint seg_len;
  guint32 *hist_tok;
  guint *hist_act;
  float *hist_actv;
  /* what the KV cache holds: ids of positions < cache_len, continuous action values per slot */
  guint cache_len;
  guint32 *cache_ids;
  float *cache_actv;
  /* scratch for one run */
  guint32 *seq_ids;
  guint32 *seq_ledby;
  float *seq_actv;
  guint16 *half;
};

static const ArBuffer *
tensor (ArPredictor *p, GError **error, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static const ArBuffer *
tensor (ArPredictor *p, GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree gchar *name = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  const ArModelTensor *t = ar_model_lookup (p->model, name);
  if (!t && error && !*error)
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "predictor: missing tensor '%s'", name);
  return t ? t->buf : NULL;
}

static ArBuffer *
alloc (ArPredictor *p, guint64 n, gsize es, GError **error)
{
  if (error && *error)
    return NULL;
  return ar_buffer_new (p->dev, MAX (n, 1) * es, AR_MEM_DEVICE, error);
}

/* Host floats -> storage type (rounded to fp16 where the model stores fp16). */
static gboolean
write_floats (ArPredictor *p, ArBuffer *dst, gsize off_elems, const float *src, gsize n,
    GError **error)
{
  if (p->dt == AR_F32)
    return ar_buffer_write (dst, off_elems * 4, src, n * 4, error);
  g_autofree guint16 *h = g_new (guint16, MAX (n, 1));
  for (gsize i = 0; i < n; i++)
    h[i] = ar_float_to_half (src[i]);
  return ar_buffer_write (dst, off_elems * 2, h, n * 2, error);
}

static gboolean
read_floats (ArPredictor *p, ArBuffer *src, gsize off_elems, float *dst, gsize n, GError **error)
{
  if (p->dt == AR_F32)
    return ar_buffer_read (src, off_elems * 4, dst, n * 4, error);
  g_autofree guint16 *h = g_new (guint16, MAX (n, 1));
  if (!ar_buffer_read (src, off_elems * 2, h, n * 2, error))
    return FALSE;
  for (gsize i = 0; i < n; i++)
    dst[i] = ar_half_to_float (h[i]);
  return TRUE;
}

/* The combined embedding table, built once. Llama's discrete action rows are
 * act_emb[a] + sep_emb, added on the host (count x dim, once). */
static gboolean
build_table (ArPredictor *p, GError **error)
{
  gsize es = ar_dtype_size (p->dt);
  const ArBuffer *tok = tensor (p, error, "predictor.tok_emb.weight");
  if (!tok)
    return FALSE;
  g_autoptr (ArCmd) cmd = ar_cmd_new (p->dev, error);
  if (!cmd)
    return FALSE;
  ar_cmd_begin (cmd);
  ar_cmd_copy (cmd, tok, 0, p->table, 0, (gsize) p->vocab * p->dim * es);
  if (p->cfg->action_kind == AR_ACTION_DISCRETE) {
    const ArBuffer *ae = tensor (p, error, "predictor.act_emb.weight");
    if (!ae)
      return FALSE;
    ar_cmd_copy (cmd, ae, 0, p->table, (gsize) p->vocab * p->dim * es,
        (gsize) p->n_act_rows * p->dim * es);
  }
  if (!ar_cmd_run (cmd, error))
    return FALSE;
  if (p->llama && p->cfg->action_kind == AR_ACTION_DISCRETE) {
    const ArBuffer *sep = tensor (p, error, "predictor.sep_emb");
    if (!sep)
      return FALSE;
    gsize n = (gsize) p->n_act_rows * p->dim;
    g_autofree float *rows = g_new (float, n);
    g_autofree float *s = g_new (float, p->dim);
    if (!read_floats (p, p->table, (gsize) p->vocab * p->dim, rows, n, error)
        || !read_floats (p, (ArBuffer *) sep, 0, s, p->dim, error))
      return FALSE;
    for (gsize i = 0; i < n; i++)
      rows[i] += s[i % p->dim];
    if (!write_floats (p, p->table, (gsize) p->vocab * p->dim, rows, n, error))
      return FALSE;
  }
  if (p->cfg->action_kind == AR_ACTION_CONTINUOUS) {
    const ArBuffer *b = tensor (p, error, "predictor.act_proj.bias");
    if (!b)
      return FALSE;
    p->act_b = b;
    if (!p->llama)
      return TRUE;
    /* llama: the separator embedding folds into the projection's bias. */
    const ArBuffer *sep = tensor (p, error, "predictor.sep_emb");
    if (!sep || !(p->act_bias = alloc (p, p->dim, es, error)))
      return FALSE;
    p->act_b = p->act_bias;
    ar_cmd_begin (cmd);
    ar_op_add (cmd, p->dt, b, sep, p->act_bias, p->dim);
    return ar_cmd_run (cmd, error);
  }
  return TRUE;
}

static FusedMode
fused_mode (ArPredictor *p)
{
  const char *v = g_getenv ("AR_PREDICTOR_FUSED_STEP");
  if (p->llama)
    return FUSED_OFF;
  if (!v)
    return p->dev->caps.is_cpu ? FUSED_OFF : FUSED_AUTO;
  return strcmp (v, "1") == 0 ? FUSED_ON : strcmp (v, "auto") == 0 ? FUSED_AUTO : FUSED_OFF;
}

static FoldMode
fold_mode (void)
{
  const char *v = g_getenv ("AR_STEP_FOLD");
  return !v ? FOLD_TRIAL : strcmp (v, "1") == 0 ? FOLD_YES : FOLD_NO;
}

/* The fused step's cache layout, where the device runs the step for this predictor: one
 * buffer for all layers (each layer's qkvc a view of it), which the per-op steps use as well.
 * Leaves p->caches NULL, with a message, otherwise. The step's weights come last
 * (setup_fused_step()). */
static void
setup_step_caches (ArPredictor *p)
{
  const ArPredictorConfig *cfg = p->cfg;
  gsize es = ar_dtype_size (p->dt);
  /* Layers' caches 256-byte aligned: views need minStorageBufferOffsetAlignment. */
  guint64 stride = ((guint64) p->L * 3 * p->dim * es + 255) / 256 * 256 / es;
  p->step = (ArStepShape) {
    .dim = p->dim, .hidden = p->hidden, .heads = p->H, .layers = cfg->layers, .ctx = p->L,
    .cache_stride = (guint32) MIN (stride, G_MAXUINT32), .vocab = p->vocab,
    .head_hidden = cfg->head_hidden,
    .table_rows = p->zero_row + (cfg->action_add_to_frame ? 1 : 0),
    .gelu_tanh = cfg->gelu == AR_GELU_TANH, .ledby = cfg->action_add_to_frame, .eps = p->eps,
  };
  GError *err = NULL;
  ArStepShape folded = p->step;
  folded.fold = TRUE;
  p->fold_mode = fold_mode ();
  p->fold_ok = ar_step_supported (p->dev, p->dt, &folded, &err);
  if (!p->fold_ok && p->fold_mode == FOLD_YES)
    g_message ("predictor: the plain fused kernel instead of the folded one: %s", err->message);
  g_clear_error (&err);
  p->step.fold = p->fold_mode == FOLD_YES && p->fold_ok;
  if (ar_step_supported (p->dev, p->dt, &p->step, &err)
      && (p->caches = alloc (p, stride * cfg->layers, es, &err))) {
    for (guint i = 0; i < cfg->layers && !err; i++)
      p->layers[i].qkvc = ar_buffer_view_new (p->caches, i * stride * es,
          (gsize) p->L * 3 * p->dim * es, &err);
  }
  if (err) {
    g_message ("predictor: the fused one-token step is off: %s", err->message);
    g_clear_error (&err);
    for (guint i = 0; i < cfg->layers; i++)
      g_clear_pointer (&p->layers[i].qkvc, ar_buffer_free);
    g_clear_pointer (&p->caches, ar_buffer_free);
  }
}

/* Copies the predictor's tensors into step_w, in ar_step_layout()'s order. */
static gboolean
pack_step_weights (ArPredictor *p, GError **error)
{
  gsize es = ar_dtype_size (p->dt);
  ArStepLayout lay;
  ar_step_layout (&p->step, &lay);
  ar_cmd_begin (p->cmd);
  ar_cmd_zero (p->cmd, p->step_w);
  for (guint i = 0; i < p->cfg->layers; i++) {
    const Layer *l = &p->layers[i];
    const ArBuffer *src[AR_STEP_LAYER_TENSORS] = {
      [AR_STEP_N1W] = l->n1w, [AR_STEP_N1B] = l->n1b, [AR_STEP_QKVW] = l->qkvw,
      [AR_STEP_QKVB] = l->qkvb, [AR_STEP_PROJW] = l->projw, [AR_STEP_PROJB] = l->projb,
      [AR_STEP_N2W] = l->n2w, [AR_STEP_N2B] = l->n2b, [AR_STEP_FC1W] = l->fc1w,
      [AR_STEP_FC1B] = l->fc1b, [AR_STEP_FC2W] = l->fc2w, [AR_STEP_FC2B] = l->fc2b,
    };
    for (int t = 0; t < AR_STEP_LAYER_TENSORS; t++)
      ar_cmd_copy (p->cmd, src[t], 0, p->step_w, (i * lay.layer_size + lay.layer_off[t]) * es,
          lay.layer_n[t] * es);
  }
  const ArBuffer *hsrc[AR_STEP_HEAD_TENSORS] = {
    [AR_STEP_POS_EMB] = p->pos_emb, [AR_STEP_NFW] = p->nfw, [AR_STEP_NFB] = p->nfb,
    [AR_STEP_H1W] = p->headw, [AR_STEP_H1B] = p->headb, [AR_STEP_H2W] = p->head2w,
    [AR_STEP_H2B] = p->head2b,
  };
  for (int t = 0; t < AR_STEP_HEAD_TENSORS; t++)
    if (lay.head_n[t] > 0)
      ar_cmd_copy (p->cmd, hsrc[t], 0, p->step_w, lay.head_off[t] * es, lay.head_n[t] * es);
  return ar_cmd_run (p->cmd, error);
}

gboolean
ar_predictor_fused_step (const ArPredictor *p)
{
  return p->fused_step;
}

gboolean
ar_predictor_fused_step_folded (const ArPredictor *p)
{
  return p->fused_step && p->step.fold;
}

void
ar_predictor_step_trial (const ArPredictor *p, ArStepTrial *trial)
{
  *trial = p->trial;
}

static ArStepTrialTest trial_test = AR_STEP_TRIAL_TIMED;
static gboolean break_generate_wait;

void
ar_predictor_test_break_step_wait (gboolean on)
{
  break_generate_wait = on;
}

void
ar_predictor_test_step_trial (ArStepTrialTest mode)
{
  trial_test = mode;
}

static guint build_seq (ArPredictor *p, const guint32 *tokens, const guint *act,
    const float *actv, guint n);
static gboolean prepare_run (ArPredictor *p, guint from, guint P, gboolean record,
    GError **error);
/* What a forward pass must produce besides the KV cache rows of its positions. */
typedef enum {
  FWD_LAST_LOGITS,   /* the logits of its last position (generate's prefill and steps) */
  FWD_ALL_LOGITS,    /* the logits of every position */
  FWD_CACHE_ONLY,    /* nothing: it stops after the last layer's q|k|v */
} ForwardOut;
static void record_forward (ArPredictor *p, guint start, guint n, ForwardOut out);

/* Tests: records, after the scratch was zeroed, the first fused step's ticket counter
 * starting at 2 (from ids[L]), so that its first two tasks are never taken and its waits give
 * up. */
static gboolean
record_stalled_first_step (ArPredictor *p, GError **error)
{
  guint32 two = 2;
  if (!ar_buffer_write (p->ids, (gsize) p->L * 4, &two, 4, error))
    return FALSE;
  ar_cmd_copy (p->cmd, p->ids, (gsize) p->L * 4, p->step_scratch,
      ar_step_ticket_offset (&p->step, 0), 4);
  return TRUE;
}

/* The ways the trial runs one-token steps. */
typedef enum { TRY_PER_OP, TRY_PLAIN, TRY_FOLDED, N_TRY } TrialWay;

/* Records and runs @n one-token steps at positions @P.. (their tokens already in ids), per op
 * or with a fused kernel (which stays p->step's), and returns the wall time per step in @us;
 * @break_wait (tests) stalls the first fused step (record_stalled_first_step()). */
static gboolean
trial_run (ArPredictor *p, TrialWay way, guint P, guint n, gboolean break_wait, double *us,
    GError **error)
{
  ar_cmd_begin (p->cmd);
  if (way != TRY_PER_OP) {
    p->step.fold = way == TRY_FOLDED;
    ar_cmd_zero (p->cmd, p->step_scratch);
    if (break_wait && !record_stalled_first_step (p, error))
      return FALSE;
    for (guint k = 0; k < n; k++)
      ar_op_decode_step (p->cmd, p->dt, &p->step, p->step_w, p->caches, p->table, p->ids,
          p->ledby, p->step_scratch, p->logits, P + k, k);
    ar_cmd_copy (p->cmd, p->step_scratch, ar_step_status_offset (&p->step), p->ids,
        (gsize) p->L * 4, 4);
  } else {
    for (guint k = 0; k < n; k++)
      record_forward (p, P + k, 1, FWD_LAST_LOGITS);
  }
  gint64 t0 = g_get_monotonic_time ();
  gboolean ok = ar_cmd_run (p->cmd, error);
  *us = (double) (g_get_monotonic_time () - t0) / n;
  return ok;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* Back to the per-op steps (the layers' caches stay views of one buffer). */
static void forget_recordings (ArPredictor *p);

static void
drop_fused_step (ArPredictor *p)
{
  forget_recordings (p);
  p->fused_step = FALSE;
  g_clear_pointer (&p->step_w, ar_buffer_free);
  g_clear_pointer (&p->step_scratch, ar_buffer_free);
}

#define TRIAL_STEPS 16
#define TRIAL_RUNS 3
/* AR_STEP_TRIAL_FOLD_MARGIN: in frames on H200s the folded kernel was always the slower
 * (large's `generate` 145.5 against 133.7 ms, iris-small's step 373 against 212 us), but
 * trials with the GPU at low clocks (~3-4x the in-frame times) timed it at 0.83 and 0.94 of
 * the plain kernel, kept it and cost 11-12 ms a frame. AR_STEP_TRIAL_FUSED_TIE: the trial
 * understates the fused gain (H200, `large`: 0.90-0.98 of the per-op time in trials, 0.72 in
 * frames; at low clocks the plain kernel timed 1.01).
 * Per-op warm-up runs before the timed ones, until one is no faster than 0.97 of the one
 * before: at most TRIAL_WARM_MAX runs, or TRIAL_WARM_MS of them. */
#define TRIAL_WARM_MAX 12
#define TRIAL_WARM_MS 250

/* AR_PREDICTOR_FUSED_STEP=auto: runs TRIAL_STEPS one-token steps after a made-up window of
 * context_frames - 1 frames, per op and fused, TRIAL_RUNS times each, alternating; keeps the
 * fused step if its status word is clean, its last logits agree with the per-op steps' (a
 * guard against a device that runs it wrongly: the limit is far above rounding, far below a
 * broken step) and its median time per step is about as low or lower (AR_STEP_TRIAL_FUSED_TIE,
 * AR_STEP_TRIAL_FOLD_MARGIN). Otherwise frees what it uses. Leaves
 * the cache empty. Fails only where the per-op steps fail. */
static gboolean
step_trial (ArPredictor *p, GError **error)
{
  ArStepTrial *tr = &p->trial;
  gboolean prefer_fused = trial_test != AR_STEP_TRIAL_TIMED;
  guint nf = p->C - 1, n = MIN (p->T - 1, TRIAL_STEPS);
  if (n == 0) {   /* one token per frame: no one-token steps to fuse */
    drop_fused_step (p);
    return TRUE;
  }
  g_autofree guint32 *tok = g_new (guint32, (gsize) nf * p->T + n + 1);
  g_autofree guint *act = g_new0 (guint, nf);
  g_autofree float *actv = g_new0 (float, (gsize) nf * p->act_size + 1);
  for (gsize i = 0; i < (gsize) nf * p->T + n + 1; i++)
    tok[i] = (guint32) ((i * 7 + 3) % p->vocab);
  guint P = build_seq (p, tok, act, actv, nf);
  if (!prepare_run (p, 0, P, TRUE, error))
    return FALSE;
  record_forward (p, 0, P, FWD_CACHE_ONLY);
  if (!ar_cmd_run (p->cmd, error)
      || !ar_buffer_write (p->ids, (gsize) P * 4, tok + (gsize) nf * p->T, (gsize) n * 4, error))
    return FALSE;
  if (trial_test == AR_STEP_TRIAL_BREAK_WEIGHTS) {
    ar_cmd_begin (p->cmd);
    ar_cmd_zero (p->cmd, p->step_w);
    if (!ar_cmd_run (p->cmd, error))
      return FALSE;
  }

  *tr = (ArStepTrial) { .ran = TRUE, .steps = n, .pos = P };
  ArStepTrialKernel *kern[N_TRY] = { NULL, &tr->plain, &tr->folded };
  tr->plain.tried = p->fold_mode != FOLD_YES || !p->fold_ok;
  tr->folded.tried = p->fold_ok && p->fold_mode != FOLD_NO;
  double t[N_TRY][TRIAL_RUNS];
  gboolean ok[N_TRY] = { TRUE, tr->plain.tried, tr->folded.tried };
  GError *errs[N_TRY] = { NULL };
  g_autofree float *l_op = g_new (float, p->vocab), *l_fz = g_new (float, p->vocab);
  guint runs = trial_test == AR_STEP_TRIAL_BREAK_WAIT ? 1 : TRIAL_RUNS;
  /* Untimed runs first: a GPU that was idle runs the first at low clocks (H200: 1.7-2.0 ms
   * per step of `large` against ~0.5-0.7 in a frame; in one process's trial every run, one
   * of each way, after one untimed round). Per op until they stop getting faster, then one of
   * each way. Not in the tests' stalled run, which must be the first. */
  guint warm = trial_test == AR_STEP_TRIAL_TIMED ? 1 : 0;
  gint64 warm_end = g_get_monotonic_time () + TRIAL_WARM_MS * 1000;
  double before = 0;
  for (guint i = 0; warm && i < TRIAL_WARM_MAX; i++) {
    double us;
    if (!trial_run (p, TRY_PER_OP, P, n, FALSE, &us, error))
      return FALSE;
    if ((i > 0 && us >= 0.97 * before) || g_get_monotonic_time () > warm_end)
      break;
    before = us;
  }
  /* Alternating; every run must agree: the worst logits and every status bit count. */
  for (guint run = 0; run < warm + runs; run++) {
    guint r = run < warm ? 0 : run - warm;
    if (!trial_run (p, TRY_PER_OP, P, n, FALSE, &t[TRY_PER_OP][r], error)
        || !read_floats (p, p->logits, 0, l_op, p->vocab, error))
      return FALSE;
    /* The fused kernels in turns first: a GPU whose clocks rise during a round favours the
     * later run (session 21: the folded kernel, always second, timed 0.83 of the plain one,
     * 1.10 in frames). */
    for (guint turn = 0; turn < N_TRY - TRY_PLAIN; turn++) {
      TrialWay w = TRY_PLAIN + (turn + run) % (N_TRY - TRY_PLAIN);
      ArStepTrialKernel *k = kern[w];
      guint32 status = 0;
      ok[w] = ok[w]
          && trial_run (p, w, P, n, trial_test == AR_STEP_TRIAL_BREAK_WAIT, &t[w][r], &errs[w])
          && read_floats (p, p->logits, 0, l_fz, p->vocab, &errs[w])
          && ar_buffer_read (p->ids, (gsize) p->L * 4, &status, 4, &errs[w]);
      if (!ok[w])
        continue;
      k->status |= status;
      double num = 0, den = 0;
      for (guint i = 0; i < p->vocab; i++) {
        num += ((double) l_fz[i] - l_op[i]) * ((double) l_fz[i] - l_op[i]);
        den += (double) l_op[i] * l_op[i];
      }
      k->nmse = MAX (k->nmse, num / MAX (den, 1e-30));
    }
  }
  qsort (t[TRY_PER_OP], runs, sizeof (double), cmp_double);
  tr->per_op_us = t[TRY_PER_OP][runs / 2];
  double lim = p->dt == AR_F16 ? 1e-3 : 1e-6;
  /* The per-op steps unless a fused kernel agrees and takes at most AR_STEP_TRIAL_FUSED_TIE
   * of their time; the folded kernel over an agreeing plain one only at
   * AR_STEP_TRIAL_FOLD_MARGIN of its time. */
  TrialWay best = TRY_PER_OP;
  gboolean plain_agrees = FALSE;
  for (TrialWay w = TRY_PLAIN; w < N_TRY; w++) {
    ArStepTrialKernel *k = kern[w];
    const char *name = w == TRY_FOLDED ? "folded" : "plain";
    if (!k->tried) {
      k->us = k->nmse = INFINITY;
      continue;
    }
    qsort (t[w], runs, sizeof (double), cmp_double);
    k->us = ok[w] ? t[w][runs / 2] : INFINITY;
    if (!ok[w])
      k->nmse = INFINITY;
    gboolean agrees = ok[w] && k->status == 0 && k->nmse <= lim;
    if (errs[w])
      g_message ("predictor: the fused one-token step (%s kernel) failed on trial: %s", name,
          errs[w]->message);
    else if (k->status != 0)
      g_message ("predictor: the fused one-token step (%s kernel) on trial: a workgroup gave "
          "up waiting for another's results (status %u)", name, k->status);
    else if (!agrees)
      g_message ("predictor: the fused one-token step (%s kernel) on trial: its logits differ "
          "from the per-op steps' (nmse %.3g, limit %.3g)", name, k->nmse, lim);
    g_clear_error (&errs[w]);
    if (w == TRY_PLAIN)
      plain_agrees = agrees;
    gboolean beats_per_op = k->us <= AR_STEP_TRIAL_FUSED_TIE * tr->per_op_us;
    gboolean beats_plain = w == TRY_PLAIN || !plain_agrees
        || k->us <= AR_STEP_TRIAL_FOLD_MARGIN * tr->plain.us;
    if (agrees && beats_plain && (beats_per_op || prefer_fused))
      best = w;
  }
  tr->chosen = best != TRY_PER_OP;
  tr->folded_chosen = best == TRY_FOLDED;
  g_info ("predictor: one-token steps %s: per op %.1f us, fused plain %.1f, folded %.1f",
      best == TRY_PER_OP ? "per op" : best == TRY_PLAIN ? "fused (plain)" : "fused (folded)",
      tr->per_op_us, tr->plain.us, tr->folded.us);
  if (tr->chosen)
    p->step.fold = tr->folded_chosen;
  else
    drop_fused_step (p);
  forget_recordings (p);
  p->cache_len = 0;
  return TRUE;
}

/* Adds the fused step's packed weights and scratch, after everything else the predictor
 * needs: where memory is short the predictor still builds, per op. FALSE only where packing
 * fails. */
static gboolean
add_step_weights (ArPredictor *p, GError **error)
{
  GError *err = NULL;
  ArStepLayout lay;
  ar_step_layout (&p->step, &lay);
  /* Room for either kernel's scratch: the trial runs both. */
  ArStepShape plain = p->step, folded = p->step;
  plain.fold = FALSE;
  folded.fold = TRUE;
  gsize scratch = MAX (ar_step_scratch_size (&plain, p->T),
      p->fold_ok ? ar_step_scratch_size (&folded, p->T) : 0);
  if (!(p->step_w = alloc (p, lay.total, ar_dtype_size (p->dt), &err))
      || !(p->step_scratch = alloc (p, scratch, 1, &err))) {
    g_message ("predictor: the fused one-token step is off: %s", err->message);
    g_clear_error (&err);
    drop_fused_step (p);
    return TRUE;
  }
  p->fused_step = TRUE;
  return pack_step_weights (p, error);
}

/* The model's memo of the trial, per window length. */
static gchar *
trial_key (ArPredictor *p)
{
  return g_strdup_printf ("fused-step-trial/%u", p->C);
}

/* The fused step as AR_PREDICTOR_FUSED_STEP asks: on (=1), or (auto) as the trial decides.
 * One trial per model and window (ar_model_memo_*): every predictor of the model then runs
 * the same kind of step, and only the first pays for the trial; tests' trials run anew. */
static gboolean
setup_fused_step (ArPredictor *p, GError **error)
{
  gboolean share = p->fused_mode == FUSED_AUTO && trial_test == AR_STEP_TRIAL_TIMED;
  g_autofree gchar *key = trial_key (p);
  const ArStepTrial *known = NULL;
  gboolean ok = TRUE;
  if (share) {
    ar_model_memo_lock (p->model);
    known = ar_model_memo_get (p->model, key);
  }
  if (known) {
    p->trial = *known;
    p->trial.shared = TRUE;
    p->step.fold = known->folded_chosen;
    if (known->chosen)
      ok = add_step_weights (p, error);
  } else {
    ok = add_step_weights (p, error);
    if (ok && p->fused_step && p->fused_mode == FUSED_AUTO)
      ok = step_trial (p, error);
    if (ok && share && p->trial.ran)
      ar_model_memo_set (p->model, key, g_memdup2 (&p->trial, sizeof p->trial));
  }
  if (share)
    ar_model_memo_unlock (p->model);
  return ok;
}

/* A fused step kept by the trial gave up waiting at run time: per-op steps from now on, for
 * this predictor and, through the memo, for the model's next ones. */
static void
forget_fused_step (ArPredictor *p, guint32 status)
{
  g_message ("predictor: the fused one-token step gave up waiting (status %u): one-token steps "
      "run per op from now on", status);
  drop_fused_step (p);
  g_autofree gchar *key = trial_key (p);
  ar_model_memo_lock (p->model);
  const ArStepTrial *known = ar_model_memo_get (p->model, key);
  if (known) {
    ArStepTrial *t = g_memdup2 (known, sizeof *known);
    t->chosen = FALSE;
    (p->step.fold ? &t->folded : &t->plain)->status |= status;
    ar_model_memo_set (p->model, key, t);
  }
  ar_model_memo_unlock (p->model);
}

void
ar_predictor_record_stats (const ArPredictor *p, ArPredictorRecordStats *stats)
{
  *stats = p->rec_stats;
}

gboolean
ar_predictor_last_logits (ArPredictor *p, float *logits, GError **error)
{
  return read_floats (p, p->logits, 0, logits, p->vocab, error);
}

ArPredictor *
ar_predictor_new (ArModel *model, guint context_frames, GError **error)
{
  g_return_val_if_fail (model != NULL, NULL);
  const ArCard *card = ar_model_card (model);
  const ArPredictorConfig *cfg = &card->predictor;
  if (cfg->kind == AR_PREDICTOR_NONE) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL, "%s: the model has no predictor section",
        card->path);
    return NULL;
  }
  if (context_frames > cfg->context_frames || context_frames == 1
      || (context_frames == 0 && cfg->context_frames < 2)) {
    /* gpt positions are learned for the card's window only; one frame leaves no room. */
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "predictor: context of %u frames: must be 2..%u (the card's context_frames)",
        context_frames ? context_frames : cfg->context_frames, cfg->context_frames);
    return NULL;
  }
  g_autoptr (ArPredictor) p = g_new0 (ArPredictor, 1);
  p->model = ar_model_ref (model);
  p->dev = ar_model_device (model);
  p->cfg = cfg;
  p->llama = cfg->kind == AR_PREDICTOR_LLAMA;
  p->dt = ar_model_dtype (model);
  p->C = context_frames ? context_frames : cfg->context_frames;
  p->T = cfg->tokens_per_frame;
  p->L = p->C * (p->T + 1);
  p->dim = cfg->dim;
  p->H = cfg->heads;
  p->hd = cfg->dim / cfg->heads;
  p->hidden = cfg->mlp_hidden;
  p->vocab = cfg->vocab;
  p->eps = (float) cfg->norm_eps;
  gboolean discrete = cfg->action_kind == AR_ACTION_DISCRETE;
  p->act_size = discrete ? cfg->action_count : cfg->action_dim;
  p->n_act_rows = discrete ? cfg->action_count : p->C;

  GError *err = NULL;
  p->layers = g_new0 (Layer, cfg->layers);
  for (guint i = 0; i < cfg->layers; i++) {
    Layer *l = &p->layers[i];
    const char *b = "predictor.blocks";
    if (p->llama) {
      l->n1w = tensor (p, &err, "%s.%u.norm1.weight", b, i);
      l->n2w = tensor (p, &err, "%s.%u.norm2.weight", b, i);
      l->qkvw = tensor (p, &err, "%s.%u.attn.qkv.weight", b, i);
      l->projw = tensor (p, &err, "%s.%u.attn.proj.weight", b, i);
      l->fc1w = tensor (p, &err, "%s.%u.mlp.gate.weight", b, i);
      l->upw = tensor (p, &err, "%s.%u.mlp.up.weight", b, i);
      l->fc2w = tensor (p, &err, "%s.%u.mlp.down.weight", b, i);
    } else {
      l->n1w = tensor (p, &err, "%s.%u.ln1.weight", b, i);
      l->n1b = tensor (p, &err, "%s.%u.ln1.bias", b, i);
      l->n2w = tensor (p, &err, "%s.%u.ln2.weight", b, i);
      l->n2b = tensor (p, &err, "%s.%u.ln2.bias", b, i);
      l->qkvw = tensor (p, &err, "%s.%u.attn.qkv.weight", b, i);
      l->qkvb = tensor (p, &err, "%s.%u.attn.qkv.bias", b, i);
      l->projw = tensor (p, &err, "%s.%u.attn.proj.weight", b, i);
      l->projb = tensor (p, &err, "%s.%u.attn.proj.bias", b, i);
      l->fc1w = tensor (p, &err, "%s.%u.mlp.fc1.weight", b, i);
      l->fc1b = tensor (p, &err, "%s.%u.mlp.fc1.bias", b, i);
      l->fc2w = tensor (p, &err, "%s.%u.mlp.fc2.weight", b, i);
      l->fc2b = tensor (p, &err, "%s.%u.mlp.fc2.bias", b, i);
    }
  }
  if (p->llama) {
    p->nfw = tensor (p, &err, "predictor.norm_f.weight");
    p->headw = tensor (p, &err, "predictor.head.weight");
  } else {
    p->pos_emb = tensor (p, &err, "predictor.pos_emb.weight");
    p->nfw = tensor (p, &err, "predictor.ln_f.weight");
    p->nfb = tensor (p, &err, "predictor.ln_f.bias");
    if (cfg->head_hidden > 0) {
      p->headw = tensor (p, &err, "predictor.head.fc1.weight");
      p->headb = tensor (p, &err, "predictor.head.fc1.bias");
      p->head2w = tensor (p, &err, "predictor.head.fc2.weight");
      p->head2b = tensor (p, &err, "predictor.head.fc2.bias");
    } else {
      p->headw = tensor (p, &err, "predictor.head.weight");
      p->headb = tensor (p, &err, "predictor.head.bias");
    }
  }
  if (!discrete)
    p->act_w = tensor (p, &err, "predictor.act_proj.weight");

  gsize es = ar_dtype_size (p->dt);
  guint64 L = p->L, dim = p->dim;
  guint64 wide = MAX (p->hidden, cfg->head_hidden);
  p->zero_row = p->vocab + p->n_act_rows;
  p->fused_mode = fused_mode (p);
  if (!err && p->fused_mode != FUSED_OFF)
    setup_step_caches (p);
  for (guint i = 0; i < cfg->layers && !err && !p->caches; i++)
    p->layers[i].qkvc = alloc (p, L * 3 * dim, es, &err);
  p->table = alloc (p, (guint64) (p->zero_row + (cfg->action_add_to_frame ? 1 : 0)) * dim, es, &err);
  p->ledby = cfg->action_add_to_frame ? alloc (p, L, 4, &err) : NULL;
  p->posids = alloc (p, L, 4, &err);
  p->ids = alloc (p, L + 1, 4, &err);
  p->actvals = alloc (p, (guint64) p->C * p->act_size, es, &err);
  p->one = alloc (p, 1, es, &err);
  p->x = alloc (p, L * dim, es, &err);
  p->h = alloc (p, L * dim, es, &err);
  p->qk = p->llama ? alloc (p, L * 2 * dim, es, &err) : NULL;
  p->att = alloc (p, L * dim, es, &err);
  p->mlp = alloc (p, L * wide, es, &err);
  p->mlp2 = p->llama ? alloc (p, L * wide, es, &err) : NULL;
  p->logits = alloc (p, L * p->vocab, es, &err);
  p->sample_ctr = alloc (p, 2, 4, &err);
  /* The profiler sizes its timestamp pool when recording: profile fresh recordings. */
  p->no_replay = g_strcmp0 (g_getenv ("AR_PREDICTOR_NO_REPLAY"), "1") == 0 || p->dev->profile;
  p->n_gen = MIN (p->C + 1, GEN_RECORDINGS_MAX);
  {
    /* One-token steps split the keys over workgroups (flash decoding): with one workgroup
     * per head, a GPU runs a handful of workgroups over the whole cache (NVIDIA H200: 1.9 ms
     * per layer and step on `large`). */
    ArAttnLayout lay = ar_attn_layout_fused (p->H, p->H, p->hd, L);
    p->att_scratch = alloc (p, ar_op_attention_scratch_size (&lay), 1, &err);
    /* A prefill's small grids also split their keys on GPUs (ar_op_attention_prefill). */
    gsize part = ar_op_attention_prefill_scratch_size (&lay, L);
    if (!err && !p->dev->caps.is_cpu && part > 0)
      p->prefill_scratch = alloc (p, part, 1, &err);
  }
  if (err) {
    g_propagate_error (error, err);
    return NULL;
  }
  if (!build_table (p, error))
    return NULL;
  g_autofree float *zeros = p->ledby ? g_new0 (float, dim) : NULL;
  if (zeros && !write_floats (p, p->table, (gsize) p->zero_row * dim, zeros, dim, error))
    return NULL;
  g_autofree guint32 *pos = g_new (guint32, L);
  for (guint i = 0; i < L; i++)
    pos[i] = i;
  float one = 1.0f;
  if (!ar_buffer_write (p->posids, 0, pos, L * 4, error) || !write_floats (p, p->one, 0, &one, 1, error))
    return NULL;
  if (!(p->cmd = ar_cmd_new (p->dev, error)))
    return NULL;
  p->hist_tok = g_new0 (guint32, (gsize) p->C * p->T);
  p->hist_act = g_new0 (guint, p->C);
  p->hist_actv = g_new0 (float, (gsize) p->C * p->act_size);
  p->cache_ids = g_new0 (guint32, L);
  p->cache_actv = g_new0 (float, (gsize) p->C * p->act_size);
  p->seq_ids = g_new0 (guint32, L);
  p->seq_ledby = g_new0 (guint32, L);
  p->seq_actv = g_new0 (float, (gsize) p->C * p->act_size);
  if (p->caches && !setup_fused_step (p, error))
    return NULL;
  return g_steal_pointer (&p);
}

void
ar_predictor_free (ArPredictor *p)
{
  if (!p)
    return;
  g_clear_pointer (&p->cmd, ar_cmd_free);
  for (guint i = 0; i < GEN_RECORDINGS_MAX; i++)
    g_clear_pointer (&p->gen[i].cmd, ar_cmd_free);
  if (p->layers) {
    for (guint i = 0; i < p->cfg->layers; i++)
      g_clear_pointer (&p->layers[i].qkvc, ar_buffer_free);
    g_free (p->layers);
  }
  ArBuffer **bufs[] = { &p->act_bias, &p->table, &p->posids, &p->ids, &p->ledby, &p->actvals, &p->one, &p->x,
    &p->h, &p->qk, &p->att, &p->att_scratch, &p->prefill_scratch, &p->sample_ctr, &p->mlp, &p->mlp2, &p->logits,
    &p->caches, &p->step_w, &p->step_scratch };   /* caches after the layers' views of it */
  for (guint i = 0; i < G_N_ELEMENTS (bufs); i++)
    g_clear_pointer (bufs[i], ar_buffer_free);
  g_free (p->hist_tok);
  g_free (p->hist_act);
  g_free (p->hist_actv);
  g_free (p->cache_ids);
  g_free (p->cache_actv);
  g_free (p->seq_ids);
  g_free (p->seq_ledby);
  g_free (p->seq_actv);
  if (p->model)
    ar_model_unref (p->model);
  g_free (p);
}

guint ar_predictor_tokens_per_frame (const ArPredictor *p) { return p->T; }
guint ar_predictor_vocab (const ArPredictor *p) { return p->vocab; }
guint ar_predictor_context_frames (const ArPredictor *p) { return p->C; }
gboolean ar_predictor_action_discrete (const ArPredictor *p)
{
  return p->cfg->action_kind == AR_ACTION_DISCRETE;
}
guint ar_predictor_action_size (const ArPredictor *p) { return p->act_size; }
guint ar_predictor_frames_in_context (const ArPredictor *p) { return p->n_hist; }

void
ar_predictor_reset (ArPredictor *p)
{
  p->n_hist = 0;
  p->seg_len = 0;
}

void
ar_predictor_set_context_policy (ArPredictor *p, ArContextPolicy policy)
{
  if (policy == AR_CONTEXT_REFRESH && p->policy != AR_CONTEXT_REFRESH)
    p->seg_len = MIN (p->n_hist, p->C - 1);
  p->policy = policy;
}

ArContextPolicy
ar_predictor_get_context_policy (const ArPredictor *p)
{
  return p->policy;
}

/* Frames the window of a frame generated after @n frames holds: SLIDE the last C - 1; REFRESH
 * the segment's @seg, restarted from the last frame (*@seg = 1) when it would overflow. */
static guint
window_frames (ArPredictor *p, guint n, guint *seg)
{
  if (p->policy == AR_CONTEXT_SLIDE)
    return MIN (n, p->C - 1);
  if (*seg > p->C - 1 || *seg == 0)
    *seg = 1;
  return MIN (*seg, n);
}

static gboolean
check_action (ArPredictor *p, const ArAction *a, GError **error)
{
  gboolean discrete = ar_predictor_action_discrete (p);
  if (!a || a->discrete != discrete) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "predictor: expected a %s action, got %s",
        discrete ? "discrete" : "continuous", !a ? "none" : a->discrete ? "a discrete one"
        : "a continuous one");
    return FALSE;
  }
  if (discrete && a->index >= p->act_size) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "predictor: action %u out of range: expected < %u", a->index, p->act_size);
    return FALSE;
  }
  if (!discrete && (a->dim != p->act_size || !a->values)) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "predictor: continuous action of size %u, expected %u", a->dim, p->act_size);
    return FALSE;
  }
  return TRUE;
}

/* Frame slot @i of a host sequence. */
static void
set_action (ArPredictor *p, guint *act, float *actv, guint i, const ArAction *a)
{
  if (a->discrete)
    act[i] = a->index;
  else
    memcpy (actv + (gsize) i * p->act_size, a->values, p->act_size * sizeof (float));
}

gboolean
ar_predictor_commit (ArPredictor *p, const guint32 *tokens, const ArAction *action, GError **error)
{
  if (!check_action (p, action, error))
    return FALSE;
  for (guint t = 0; t < p->T; t++)
    if (tokens[t] >= p->vocab) {
      g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "predictor: token %u at %u: expected < %u",
          tokens[t], t, p->vocab);
      return FALSE;
    }
  if (p->n_hist == p->C) {   /* slide the window */
    memmove (p->hist_tok, p->hist_tok + p->T, (gsize) (p->C - 1) * p->T * 4);
    memmove (p->hist_act, p->hist_act + 1, (p->C - 1) * sizeof (guint));
    memmove (p->hist_actv, p->hist_actv + p->act_size, (gsize) (p->C - 1) * p->act_size * 4);
    p->n_hist--;
  }
  memcpy (p->hist_tok + (gsize) p->n_hist * p->T, tokens, p->T * 4);
  set_action (p, p->hist_act, p->hist_actv, p->n_hist, action);
  p->n_hist++;
  p->seg_len = MIN (p->seg_len + 1, p->C);
  return TRUE;
}

/* norm(p->x) @ W^T + b into @out. For one token the norm is fused into the matrix-vector
 * kernel; otherwise the @first product of a group sharing the same norm writes it to p->h
 * and the others read it there. */
static void
normed_matmul (ArPredictor *p, const ArRowNorm *norm, gboolean first, const ArBuffer *w,
    const ArBuffer *b, ArBuffer *out, const ArMatmulParams *mp)
{
  if (mp->M == 1 || first)
    ar_op_norm_matmul_ex (p->cmd, p->dt, norm, p->x, p->h, w, b, out, mp);
  else
    ar_op_matmul_ex (p->cmd, p->dt, p->h, w, b, out, mp);
}

/* Records the model over positions start..start+n-1 (ids already in p->ids): their cache
 * rows, and as @out asks, the logits of all n rows into p->logits, or of the last into row 0,
 * or none. */
static void
record_forward (ArPredictor *p, guint start, guint n, ForwardOut out)
{
  gboolean all_logits = out == FWD_ALL_LOGITS;
  ArCmd *cmd = p->cmd;
  ArDType dt = p->dt;
  guint dim = p->dim, vocab_rows = p->vocab + p->n_act_rows;
  ar_op_embed (cmd, dt, p->table, p->ids, start, p->x, n, vocab_rows, dim);
  if (p->ledby)
    ar_op_embed_add (cmd, dt, p->table, p->ledby, start, p->x, n, vocab_rows + 1, dim);
  if (!p->llama)
    ar_op_embed_add (cmd, dt, p->pos_emb, p->posids, start, p->x, n, p->L, dim);
  /* Q, K and V of positions start.. go to rows start.. of the layer's qkvc. */
  ArAttnLayout lay = ar_attn_layout_in_place (p->H, p->H, p->hd, p->L, start);
  guint row0 = start * 3 * dim;
  /* Rows of x the layers carry: all n, until the last layer of a prefill whose only logits
   * are the last position's. Once that layer's q|k|v rows are cached, nothing reads the other
   * positions' outputs, so the rest of it runs for the last position alone, as a one-token
   * step on row 0 (iris-small: 3/4 of a layer's products of 10 skipped per frame). */
  guint xrows = n;
  for (guint i = 0; i < p->cfg->layers; i++) {
    Layer *l = &p->layers[i];
    ArMatmulParams mp;
    if (p->llama) {
      const ArRowNorm n1 = { AR_ROW_NORM_RMS, l->n1w, NULL, p->eps };
      /* q|k densely for the rotary op, then copied into the fused rows next to v (strided
       * copy as a product by 1, exact). */
      ar_matmul_params_init (&mp, n, 2 * dim, dim);
      normed_matmul (p, &n1, TRUE, l->qkvw, NULL, p->qk, &mp);
      ar_op_rope (cmd, dt, p->qk, p->qk, n, 2 * p->H, p->hd, start, (float) p->cfg->rope_theta);
      ArMatmulParams c;
      ar_matmul_params_init (&c, 2 * dim, 1, 1);
      c.batch = n;
      c.a_ld = 1;
      c.a_bs = 2 * dim;
      c.w_bs = 0;
      c.o_ld = 1;
      c.o_bs = 3 * dim;
      c.o_off = row0;
      ar_op_matmul_ex (cmd, dt, p->qk, p->one, NULL, l->qkvc, &c);
      ArMatmulParams v;
      ar_matmul_params_init (&v, n, dim, dim);
      v.w_off = 2 * dim * dim;
      v.o_off = row0 + 2 * dim;
      v.o_ld = 3 * dim;
      normed_matmul (p, &n1, FALSE, l->qkvw, NULL, l->qkvc, &v);
    } else {
      const ArRowNorm n1 = { AR_ROW_NORM_LAYER, l->n1w, l->n1b, p->eps };
      ar_matmul_params_init (&mp, n, 3 * dim, dim);
      mp.o_off = row0;
      normed_matmul (p, &n1, TRUE, l->qkvw, l->qkvb, l->qkvc, &mp);
    }
    if (out == FWD_CACHE_ONLY && i + 1 == p->cfg->layers)
      return;
    guint qpos = start;
    if (!all_logits && n > 1 && i + 1 == p->cfg->layers) {
      gsize row_bytes = (gsize) dim * ar_dtype_size (dt);
      ar_cmd_copy (cmd, p->x, (n - 1) * row_bytes, p->x, 0, row_bytes);
      xrows = 1;
      qpos = start + n - 1;
      lay = ar_attn_layout_in_place (p->H, p->H, p->hd, p->L, qpos);
    }
    if (xrows == 1)
      ar_op_attention_decode (cmd, dt, l->qkvc, &lay, l->qkvc, l->qkvc, p->att, qpos, 0,
          p->att_scratch);
    else
      ar_op_attention_prefill (cmd, dt, l->qkvc, &lay, l->qkvc, l->qkvc, p->att, start, n, 0,
          p->prefill_scratch);
    ar_op_matmul_accumulate (cmd, dt, p->att, l->projw, l->projb, p->x, xrows, dim, dim);
    guint64 nh = (guint64) xrows * p->hidden;
    ar_matmul_params_init (&mp, xrows, p->hidden, dim);
    if (p->llama) {
      const ArRowNorm n2 = { AR_ROW_NORM_RMS, l->n2w, NULL, p->eps };
      mp.act = AR_ACT_SILU;
      normed_matmul (p, &n2, TRUE, l->fc1w, NULL, p->mlp, &mp);
      mp.act = AR_ACT_NONE;
      normed_matmul (p, &n2, FALSE, l->upw, NULL, p->mlp2, &mp);
      ar_op_mul (cmd, dt, p->mlp, p->mlp2, p->mlp, nh);
    } else {
      const ArRowNorm n2 = { AR_ROW_NORM_LAYER, l->n2w, l->n2b, p->eps };
      mp.act = p->cfg->gelu == AR_GELU_TANH ? AR_ACT_GELU_TANH : AR_ACT_GELU_ERF;
      normed_matmul (p, &n2, TRUE, l->fc1w, l->fc1b, p->mlp, &mp);
    }
    ar_op_matmul_accumulate (cmd, dt, p->mlp, l->fc2w, l->fc2b, p->x, xrows, dim, p->hidden);
  }
  const ArRowNorm nf = p->llama ? (ArRowNorm) { AR_ROW_NORM_RMS, p->nfw, NULL, p->eps }
      : (ArRowNorm) { AR_ROW_NORM_LAYER, p->nfw, p->nfb, p->eps };
  /* The head reads the rows x still carries: every row (all_logits), or the last one. */
  ArMatmulParams hp;
  gboolean iris_head = p->head2w != NULL;   /* Linear -> ReLU -> Linear */
  ar_matmul_params_init (&hp, xrows, iris_head ? p->cfg->head_hidden : p->vocab, dim);
  hp.act = iris_head ? AR_ACT_RELU : AR_ACT_NONE;
  ArBuffer *head_out = iris_head ? p->mlp : p->logits;
  normed_matmul (p, &nf, TRUE, p->headw, p->headb, head_out, &hp);
  if (iris_head)
    ar_op_matmul (cmd, dt, p->mlp, p->head2w, p->head2b, p->logits, xrows, p->vocab,
        p->cfg->head_hidden, AR_ACT_NONE);
}

/* Host sequence of @n frames (tokens [n][T], actions): ids into seq_ids, continuous action
 * values into seq_actv, and with add_to_frame the rows added at each position into seq_ledby,
 * including the T positions of the frame generated next (led by the last action). Returns
 * the number of positions, n * (T + 1). */
static guint
build_seq (ArPredictor *p, const guint32 *tokens, const guint *act, const float *actv, guint n)
{
  gboolean discrete = ar_predictor_action_discrete (p);
  guint k = 0;
  for (guint f = 0; f < n; f++) {
    memcpy (p->seq_ids + k, tokens + (gsize) f * p->T, p->T * 4);
    if (p->ledby) {
      guint led = f == 0 ? p->zero_row : p->vocab + (discrete ? act[f - 1] : f - 1);
      for (guint i = 0; i < p->T; i++)
        p->seq_ledby[k + i] = led;
      p->seq_ledby[k + p->T] = p->zero_row;   /* the action token */
    }
    k += p->T;
    p->seq_ids[k++] = p->vocab + (discrete ? act[f] : f);
  }
  for (guint i = 0; p->ledby && i < p->T && k + i < p->L; i++)
    p->seq_ledby[k + i] = p->vocab + (discrete ? act[n - 1] : n - 1);
  if (!discrete)
    memcpy (p->seq_actv, actv, (gsize) n * p->act_size * 4);
  return k;
}

/* Length of the cache prefix still valid for the sequence in seq_ids (P positions). */
static guint
common_prefix (ArPredictor *p, guint P)
{
  gboolean discrete = ar_predictor_action_discrete (p);
  guint k = 0, lim = MIN (P, p->cache_len);
  for (; k < lim; k++) {
    if (p->seq_ids[k] != p->cache_ids[k])
      break;
    if (!discrete && p->seq_ids[k] >= p->vocab) {
      gsize s = (gsize) (p->seq_ids[k] - p->vocab) * p->act_size;
      if (memcmp (p->seq_actv + s, p->cache_actv + s, p->act_size * 4) != 0)
        break;
    }
  }
  return k;
}

/* Uploads ids of positions from..P-1 and, for continuous actions, the action values of the
 * sequence's frames; with @record, starts a recording with their projection into the table's
 * slot rows. */
static gboolean
prepare_run (ArPredictor *p, guint from, guint P, gboolean record, GError **error)
{
  /* The run rewrites the cache from @from on: until it succeeds, only the prefix is known. */
  p->cache_len = MIN (p->cache_len, from);
  if (P > from && !ar_buffer_write (p->ids, (gsize) from * 4, p->seq_ids + from, (gsize) (P - from) * 4, error))
    return FALSE;
  guint gen_end = MIN (P + p->T, p->L);
  if (p->ledby && !ar_buffer_write (p->ledby, (gsize) from * 4, p->seq_ledby + from,
          (gsize) (gen_end - from) * 4, error))
    return FALSE;
  if (record) {
    ar_cmd_begin (p->cmd);
    /* The fused split combine's counters start at zero (each call leaves them so). */
    ar_cmd_zero (p->cmd, p->att_scratch);
    if (p->step_scratch)   /* the fused step's counters, likewise */
      ar_cmd_zero (p->cmd, p->step_scratch);
  }
  if (!ar_predictor_action_discrete (p)) {
    guint frames = P / (p->T + 1);
    if (!write_floats (p, p->actvals, 0, p->seq_actv, (gsize) frames * p->act_size, error))
      return FALSE;
    if (!record)
      return TRUE;
    ArMatmulParams m;
    ar_matmul_params_init (&m, frames, p->dim, p->act_size);
    m.o_off = p->vocab * p->dim;
    ar_op_matmul_ex (p->cmd, p->dt, p->actvals, p->act_w, p->act_b, p->table, &m);
  }
  return TRUE;
}

/* The sequence of the last @use of @n frames (tokens, actions incl. the one taken at the
 * last; window_frames() says how many a generated frame sees), into seq_*. Returns its
 * positions, and in @start where a run over them begins: after the cache's valid prefix, and
 * at the latest @min_run positions before the end (1: the last position's logits). */
static guint
window_seq (ArPredictor *p, const guint32 *tok, const guint *act, const float *actv, guint n,
    guint use, guint min_run, guint *start)
{
  guint first = n - use;
  guint P = build_seq (p, tok + (gsize) first * p->T, act + first,
      actv + (gsize) first * p->act_size, use);
  *start = MIN (common_prefix (p, P), P - min_run);
  return P;
}

static void
remember_cache (ArPredictor *p, guint len)
{
  memcpy (p->cache_ids, p->seq_ids, (gsize) len * 4);
  memcpy (p->cache_actv, p->seq_actv, (gsize) p->C * p->act_size * 4);
  p->cache_len = len;
}

gboolean
ar_predictor_context_logits (ArPredictor *p, float *logits, GError **error)
{
  if (p->n_hist == 0)
    return TRUE;
  guint P = build_seq (p, p->hist_tok, p->hist_act, p->hist_actv, p->n_hist);
  /* Every row is wanted, so no reuse: run from 0. */
  if (!prepare_run (p, 0, P, TRUE, error))
    return FALSE;
  record_forward (p, 0, P, FWD_ALL_LOGITS);
  if (!ar_cmd_run (p->cmd, error))
    return FALSE;
  remember_cache (p, P);
  return read_floats (p, p->logits, 0, logits, (gsize) P * p->vocab, error);
}

gboolean
ar_predictor_next_logits (ArPredictor *p, float *logits, GError **error)
{
  if (p->n_hist == 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "predictor: no committed frame to predict from");
    return FALSE;
  }
  guint use = window_frames (p, p->n_hist, &p->seg_len);
  guint start, P = window_seq (p, p->hist_tok, p->hist_act, p->hist_actv, p->n_hist, use, 1,
      &start);
  if (!prepare_run (p, start, P, TRUE, error))
    return FALSE;
  record_forward (p, start, P - start, FWD_LAST_LOGITS);
  if (!ar_cmd_run (p->cmd, error))
    return FALSE;
  remember_cache (p, P);
  return read_floats (p, p->logits, 0, logits, p->vocab, error);
}

guint
ar_predictor_last_prefill (const ArPredictor *p)
{
  /* The last generated frame's run: last_start.. of its last_len positions (replayed or not). */
  return p->last_len - p->last_start;
}

gboolean
ar_predictor_prefill_ahead (ArPredictor *p, GError **error)
{
  /* The committed frames the window after one more commit keeps besides the new one (SLIDE:
   * the last context_frames - 2; REFRESH: the segment's, none when it restarts), at the
   * positions they have now in the cache or will have then. */
  guint seg = MIN (p->seg_len + 1, p->C);
  guint keep = window_frames (p, p->n_hist + 1, &seg) - 1;
  if (keep == 0)
    return TRUE;
  guint start, P = window_seq (p, p->hist_tok, p->hist_act, p->hist_actv, p->n_hist, keep, 0,
      &start);
  if (start == P)
    return TRUE;
  /* In p->cmd: generate's recordings, to be replayed, have command buffers of their own. */
  gboolean ok = prepare_run (p, start, P, TRUE, error);
  if (ok) {
    record_forward (p, start, P - start, FWD_CACHE_ONLY);
    ok = ar_cmd_run (p->cmd, error);
  }
  if (ok)
    remember_cache (p, P);
  return ok;
}

static gboolean
same_sampling (const ArSampleParams *a, const ArSampleParams *b)
{
  return a->temperature == b->temperature && a->top_k == b->top_k && a->top_p == b->top_p
      && a->greedy == b->greedy && a->seed == b->seed;
}

/* The recording of a run from @start over @P positions with @params: a valid one to replay
 * (none with AR_PREDICTOR_NO_REPLAY), else the least recently used slot, emptied. */
static gboolean
find_recording (ArPredictor *p, guint start, guint P, const ArSampleParams *params,
    GenRecording **out, GError **error)
{
  GenRecording *lru = &p->gen[0];
  for (guint i = 0; i < p->n_gen; i++) {
    GenRecording *r = &p->gen[i];
    if (!p->no_replay && r->valid && r->start == start && r->len == P
        && same_sampling (&r->params, params)) {
      *out = r;
      return TRUE;
    }
    if (r->last_used < lru->last_used)
      lru = r;
  }
  if (!lru->cmd && !(lru->cmd = ar_cmd_new (p->dev, error)))
    return FALSE;
  lru->valid = FALSE;
  *out = lru;
  return TRUE;
}

/* Every recording is void (they may hold buffers about to be freed: the fused step's). */
static void
forget_recordings (ArPredictor *p)
{
  for (guint i = 0; i < p->n_gen; i++)
    p->gen[i].valid = FALSE;
}

/* Records (unless @replay) and runs a frame's generation in p->cmd: the prefill of what the
 * cache lacks, then T samplings with a one-token step between each two. */
static gboolean
record_generation (ArPredictor *p, guint start, guint P, const ArSampleParams *params,
    guint64 counter, gboolean replay, GError **error)
{
  guint32 ctr[2] = { (guint32) counter, (guint32) (counter >> 32) };
  if (!prepare_run (p, start, P, !replay, error)
      || !ar_buffer_write (p->sample_ctr, 0, ctr, sizeof ctr, error))
    return FALSE;
  gint64 rec_t0 = g_get_monotonic_time ();
  if (!replay) {
    ArSampleParams sp = *params;
    record_forward (p, start, P - start, FWD_LAST_LOGITS);
    if (p->fused_step && break_generate_wait && !record_stalled_first_step (p, error))
      return FALSE;
    for (guint k = 0; k < p->T; k++) {
      sp.counter = k;
      ar_op_sample_ex (p->cmd, p->dt, p->logits, 1, p->vocab, &sp, p->ids, P + k, NULL, 0,
          p->sample_ctr);
      if (k + 1 < p->T && p->fused_step)
        ar_op_decode_step (p->cmd, p->dt, &p->step, p->step_w, p->caches, p->table, p->ids,
            p->ledby, p->step_scratch, p->logits, P + k, k);
      else if (k + 1 < p->T)
        record_forward (p, P + k, 1, FWD_LAST_LOGITS);
    }
    if (p->fused_step)
      ar_cmd_copy (p->cmd, p->step_scratch, ar_step_status_offset (&p->step), p->ids,
          (gsize) p->L * 4, 4);
    p->rec_stats.recorded++;
    p->rec_stats.record_us += (double) (g_get_monotonic_time () - rec_t0);
  } else {
    p->rec_stats.replayed++;
  }
  return ar_cmd_run (p->cmd, error);
}

/* Generates one frame after @n frames (tokens, actions incl. the one taken at the last
 * frame; the window_seq() of them): one command buffer holding the prefill of what the cache
 * lacks and T sampling steps. Leaves the cache holding the sequence and the generated tokens
 * but the last. */
static gboolean
generate_one (ArPredictor *p, const ArSampleParams *params, guint64 counter, const guint32 *tokens,
    const guint *act, const float *actv, guint n, guint use, guint32 *out, GError **error)
{
  guint start, P = window_seq (p, tokens, act, actv, n, use, 1, &start);
  GenRecording *rec = NULL;
  if (!find_recording (p, start, P, params, &rec, error))
    return FALSE;
  /* Recorded into (or replayed from) the recording's own command buffer. */
  ArCmd *shared_cmd = p->cmd;
  p->cmd = rec->cmd;
  gboolean ok = record_generation (p, start, P, params, counter, rec->valid, error);
  p->cmd = shared_cmd;
  rec->valid = ok;
  rec->start = start;
  rec->len = P;
  rec->params = *params;
  rec->last_used = ++p->gen_clock;
  p->last_start = start;
  p->last_len = P;
  /* The frame's tokens, and with the fused step its status word after them: one read. */
  guint n_read = p->fused_step ? p->L + 1 - P : p->T;
  g_autofree guint32 *got = g_new (guint32, n_read);
  if (!ok || !ar_buffer_read (p->ids, (gsize) P * 4, got, (gsize) n_read * 4, error))
    return FALSE;
  guint32 status = p->fused_step ? got[n_read - 1] : 0;
  if (status != 0) {
    rec->valid = FALSE;
    /* Kept by a trial: the frame again, per op (the cache holds nothing of the failed run). */
    if (p->fused_mode == FUSED_AUTO) {
      forget_fused_step (p, status);
      return generate_one (p, params, counter, tokens, act, actv, n, use, out, error);
    }
    if (status == AR_STEP_STATUS_LOOP_LIMIT)
      g_set_error (error, AR_ERROR, AR_ERROR_VULKAN, "predictor: the fused one-token step was "
          "cut short by llvmpipe's loop limit (65535 iterations per invocation): this model is "
          "too large for it on a CPU device%s (set AR_PREDICTOR_FUSED_STEP=0)",
          /* Waits spend the same budget, for as long as the other thread is kept waiting. */
          g_getenv ("AR_STEP_GROUPS") ? ", or its workgroups (AR_STEP_GROUPS) waited on each "
          "other too long" : "");
    else
      g_set_error (error, AR_ERROR, AR_ERROR_VULKAN, "predictor: the fused one-token step failed: "
          "a workgroup gave up waiting for another's results (the device did not run them side "
          "by side%s; AR_STEP_GROUPS=%s; AR_PREDICTOR_FUSED_STEP=0 turns the fused step off)",
          /* A wait that gives up spends llvmpipe's loop budget too: either can be the cause. */
          status & AR_STEP_STATUS_LOOP_LIMIT ? ", or llvmpipe's loop limit cut a task short" : "",
          g_getenv ("AR_STEP_GROUPS") ? g_getenv ("AR_STEP_GROUPS") : "default");
    return FALSE;
  }
  memcpy (out, got, (gsize) p->T * 4);
  memcpy (p->seq_ids + P, out, (gsize) (p->T - 1) * 4);
  remember_cache (p, P + p->T - 1);
  return TRUE;
}

gboolean
ar_predictor_generate (ArPredictor *p, const ArSampleParams *params, guint horizon,
    const ArAction *actions, guint32 *tokens, GError **error)
{
  if (p->n_hist == 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID, "predictor: no committed frame to predict from");
    return FALSE;
  }
  for (guint k = 0; actions && k + 1 < horizon; k++)
    if (!check_action (p, &actions[k], error))
      return FALSE;
  /* A working copy of the window: predicted frames are appended to it, never to the
   * committed history. */
  guint n = p->n_hist, cap = p->C + horizon;
  g_autofree guint32 *tok = g_new (guint32, (gsize) cap * p->T);
  g_autofree guint *act = g_new (guint, cap);
  g_autofree float *actv = g_new0 (float, (gsize) cap * p->act_size + 1);
  memcpy (tok, p->hist_tok, (gsize) n * p->T * 4);
  memcpy (act, p->hist_act, n * sizeof (guint));
  memcpy (actv, p->hist_actv, (gsize) n * p->act_size * 4);
  /* A rollout's predicted frames extend the segment (REFRESH) only for the rollout. */
  guint seg = p->seg_len;
  for (guint k = 0; k < horizon; k++) {
    guint32 *dst = tokens + (gsize) k * p->T;
    guint use = window_frames (p, n, &seg);
    if (k == 0)
      p->seg_len = seg;
    if (!generate_one (p, params, params->counter + (guint64) k * p->T, tok, act, actv, n, use,
            dst, error))
      return FALSE;
    seg++;
    memcpy (tok + (gsize) n * p->T, dst, p->T * 4);
    if (actions && k + 1 < horizon)
      set_action (p, act, actv, n, &actions[k]);
    else {   /* repeat the last action */
      act[n] = act[n - 1];
      memcpy (actv + (gsize) n * p->act_size, actv + (gsize) (n - 1) * p->act_size, p->act_size * 4);
    }
    n++;
  }
  return TRUE;
}
