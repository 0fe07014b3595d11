/* The fused one-token step (ar_op_decode_step) against a plain C forward of the same gpt
 * token over random packed weights and caches: the logits, and every layer's new cache row.
 * Shapes are odd on purpose (head dims of 4, widths that leave partial tasks, positions 0 and
 * the last); each runs with one workgroup and with several (tasks of a phase side by side),
 * with 1 and 3 rows per subgroup, and as two steps in one recording (the second reads the
 * first's cache rows); and the folded kernel (decode_step_fold) the same ways, with MLP tasks
 * of 1, 3 and the default blocks. */
#include "test-ops.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  guint dim, heads, hidden, layers, ctx, vocab, head_hidden;
  gboolean ledby, gelu_tanh;
  guint pos;
} StepCase;

/* The step settings a case sets for itself. The caller's values come back after each case,
 * so that a run such as `AR_STEP_PRELOAD=rows test-ops step` (a GPU triage) checks that
 * setting in every case that does not set its own. */
static const char *const case_env[] = {
  "AR_STEP_GROUPS", "AR_STEP_ROWS", "AR_STEP_PRELOAD", "AR_STEP_FFN_BLOCKS"
};

typedef struct {
  gchar *value[G_N_ELEMENTS (case_env)];
} SavedEnv;

static void
saved_env_take (SavedEnv *saved)
{
  for (guint i = 0; i < G_N_ELEMENTS (case_env); i++)
    saved->value[i] = g_strdup (g_getenv (case_env[i]));
}

static void
saved_env_restore (SavedEnv *saved)
{
  for (guint i = 0; i < G_N_ELEMENTS (case_env); i++) {
    if (saved->value[i])
      g_setenv (case_env[i], saved->value[i], TRUE);
    else
      g_unsetenv (case_env[i]);
    g_clear_pointer (&saved->value[i], g_free);
  }
}

static void
layer_norm_row (const float *x, const float *g, const float *b, float *out, guint n, float eps)
{
  ref_layer_norm (x, g, b, out, 1, n, eps);
}

/* One step of the reference at @pos: reads cache rows < pos of every layer, writes row pos
 * (rounded to the storage type, as the op stores it, and read back so), the logits into
 * @logits (rounded). */
static void
ref_step (const ArStepShape *s, const ArStepLayout *lay, ArDType dt, const float *w, float *caches,
    const float *table, guint32 id, guint32 led, guint pos, float *logits)
{
  guint d = s->dim, hd = d / s->heads, hid = s->hidden;
  guint n1 = s->head_hidden ? s->head_hidden : s->vocab;
  g_autofree float *x = g_new (float, d), *h = g_new (float, d), *att = g_new (float, d);
  g_autofree float *tmp = g_new (float, MAX (MAX (3 * d, hid), n1));
  g_autofree float *mid = g_new (float, MAX (hid, n1));
  g_autofree double *sc = g_new (double, pos + 1);
  for (guint i = 0; i < d; i++)
    x[i] = table[(gsize) id * d + i] + w[lay->head_off[AR_STEP_POS_EMB] + (gsize) pos * d + i]
        + (s->ledby ? table[(gsize) led * d + i] : 0.0f);
  for (guint l = 0; l < s->layers; l++) {
    const float *L = w + l * lay->layer_size;
    const guint64 *o = lay->layer_off;
    float *cache = caches + (gsize) l * s->cache_stride;
    layer_norm_row (x, L + o[AR_STEP_N1W], L + o[AR_STEP_N1B], h, d, s->eps);
    ref_matmul (h, L + o[AR_STEP_QKVW], L + o[AR_STEP_QKVB], tmp, 1, 3 * d, d, 0, 1.0f, 0);
    art_round (tmp, 3 * d, dt);
    memcpy (cache + (gsize) pos * 3 * d, tmp, 3 * d * sizeof (float));
    for (guint hh = 0; hh < s->heads; hh++) {
      const float *q = cache + (gsize) pos * 3 * d + hh * hd;
      double m = -INFINITY, den = 0;
      for (guint j = 0; j <= pos; j++) {
        const float *k = cache + (gsize) j * 3 * d + d + hh * hd;
        double dot = 0;
        for (guint e = 0; e < hd; e++)
          dot += (double) q[e] * k[e];
        sc[j] = dot / sqrt ((double) hd);
        m = MAX (m, sc[j]);
      }
      for (guint j = 0; j <= pos; j++)
        den += sc[j] = exp (sc[j] - m);
      for (guint e = 0; e < hd; e++) {
        double acc = 0;
        for (guint j = 0; j <= pos; j++)
          acc += sc[j] * cache[(gsize) j * 3 * d + 2 * d + hh * hd + e];
        att[hh * hd + e] = (float) (acc / den);
      }
    }
    ref_matmul (att, L + o[AR_STEP_PROJW], L + o[AR_STEP_PROJB], tmp, 1, d, d, 0, 1.0f, 0);
    for (guint i = 0; i < d; i++)
      x[i] += tmp[i];
    layer_norm_row (x, L + o[AR_STEP_N2W], L + o[AR_STEP_N2B], h, d, s->eps);
    ref_matmul (h, L + o[AR_STEP_FC1W], L + o[AR_STEP_FC1B], mid, 1, hid, d, 0, 1.0f,
        s->gelu_tanh ? AR_ACT_GELU_TANH : AR_ACT_GELU_ERF);
    ref_matmul (mid, L + o[AR_STEP_FC2W], L + o[AR_STEP_FC2B], tmp, 1, d, hid, 0, 1.0f, 0);
    for (guint i = 0; i < d; i++)
      x[i] += tmp[i];
  }
  const guint64 *o = lay->head_off;
  layer_norm_row (x, w + o[AR_STEP_NFW], w + o[AR_STEP_NFB], h, d, s->eps);
  if (s->head_hidden) {
    ref_matmul (h, w + o[AR_STEP_H1W], w + o[AR_STEP_H1B], mid, 1, n1, d, 0, 1.0f, AR_ACT_RELU);
    ref_matmul (mid, w + o[AR_STEP_H2W], w + o[AR_STEP_H2B], logits, 1, s->vocab, n1, 0, 1.0f, 0);
  } else {
    ref_matmul (h, w + o[AR_STEP_H1W], w + o[AR_STEP_H1B], logits, 1, s->vocab, d, 0, 1.0f, 0);
  }
  art_round (logits, s->vocab, dt);
}

/* @steps consecutive steps from c->pos in one recording, with @groups workgroups and @rows
 * rows per subgroup (0: the defaults), weight rows and keys loaded after the wait when
 * @no_preload; the folded kernel when @fold, with @ffn_blocks blocks per MLP task (0: the
 * default). */
static void
check_step (ArTest *t, ArDType dt, const StepCase *c, guint steps, guint groups, guint rows,
    gboolean no_preload, gboolean fold, guint ffn_blocks)
{
  ArStepShape s = {
    .dim = c->dim, .hidden = c->hidden, .heads = c->heads, .layers = c->layers, .ctx = c->ctx,
    .vocab = c->vocab, .head_hidden = c->head_hidden, .gelu_tanh = c->gelu_tanh,
    .ledby = c->ledby, .eps = 1e-5f, .fold = fold,
  };
  /* Layers' caches 8 elements further apart than their size: the stride is honoured. */
  s.cache_stride = c->ctx * 3 * c->dim + 8;
  s.table_rows = c->vocab + 7;
  ArStepLayout lay;
  ar_step_layout (&s, &lay);
  g_autofree float *w = art_random (t, lay.total, -0.25f, 0.25f, dt);
  for (guint l = 0; l < s.layers; l++) {   /* norm gains near 1 */
    float *L = w + l * lay.layer_size;
    for (guint i = 0; i < s.dim; i++) {
      L[lay.layer_off[AR_STEP_N1W] + i] += 1.0f;
      L[lay.layer_off[AR_STEP_N2W] + i] += 1.0f;
    }
  }
  for (guint i = 0; i < s.dim; i++)
    w[lay.head_off[AR_STEP_NFW] + i] += 1.0f;
  art_round (w, lay.total, dt);
  g_autofree float *table = art_random (t, (gsize) s.table_rows * s.dim, -1, 1, dt);
  gsize cache_n = (gsize) (s.layers - 1) * s.cache_stride + (gsize) s.ctx * 3 * s.dim;
  g_autofree float *caches = art_random (t, cache_n, -1, 1, dt);
  for (guint l = 0; l < s.layers; l++)   /* rows the steps write: unread before that */
    for (gsize i = (gsize) c->pos * 3 * s.dim; i < (gsize) s.ctx * 3 * s.dim; i++)
      caches[(gsize) l * s.cache_stride + i] = NAN;
  g_autofree guint32 *ids = g_new0 (guint32, s.ctx), *ledby = g_new0 (guint32, s.ctx);
  for (guint p = 0; p < s.ctx; p++) {
    ids[p] = art_rand_u32 (t) % s.table_rows;
    ledby[p] = art_rand_u32 (t) % s.table_rows;
  }
  g_autoptr (ArBuffer) bw = art_upload (t, dt, w, lay.total);
  g_autoptr (ArBuffer) bc = art_upload (t, dt, caches, cache_n);
  g_autoptr (ArBuffer) bt = art_upload (t, dt, table, (gsize) s.table_rows * s.dim);
  g_autoptr (ArBuffer) bi = art_upload_u32 (t, ids, s.ctx);
  g_autoptr (ArBuffer) bl = art_upload_u32 (t, ledby, s.ctx);
  gsize scratch_bytes = ar_step_scratch_size (&s, steps);
  g_autoptr (ArBuffer) scratch = art_alloc (t, AR_F32, scratch_bytes / 4);
  g_autoptr (ArBuffer) blog = art_alloc (t, dt, (gsize) steps * s.vocab);

  g_autofree gchar *groups_s = g_strdup_printf ("%u", groups);
  g_autofree gchar *rows_s = g_strdup_printf ("%u", rows);
  g_autofree gchar *blocks_s = g_strdup_printf ("%u", ffn_blocks);
  SavedEnv saved;
  saved_env_take (&saved);
  if (ffn_blocks)
    g_setenv ("AR_STEP_FFN_BLOCKS", blocks_s, TRUE);
  if (groups)
    g_setenv ("AR_STEP_GROUPS", groups_s, TRUE);
  if (rows)
    g_setenv ("AR_STEP_ROWS", rows_s, TRUE);
  if (no_preload)
    g_setenv ("AR_STEP_PRELOAD", "0", TRUE);
  art_begin (t);
  ar_cmd_zero (t->cmd, scratch);
  for (guint k = 0; k < steps; k++) {
    ar_op_decode_step (t->cmd, dt, &s, bw, bc, bt, bi, bl, scratch, blog, c->pos + k, k);
    /* Each step's logits kept: the next step overwrites the op's output. */
    if (k + 1 < steps)
      ar_cmd_copy (t->cmd, blog, 0, blog, (gsize) (k + 1) * s.vocab * ar_dtype_size (dt),
          s.vocab * ar_dtype_size (dt));
  }
  gboolean ran = art_run (t);
  /* Several workgroups on a CPU device: a wait spends llvmpipe's loop budget, so a workgroup
   * kept waiting long (a loaded machine: tests run side by side) can run out of it, and the
   * step then says so (AR_STEP_STATUS_LOOP_LIMIT) instead of finishing. That is the device's
   * limit, not the kernel's result: run the same recording again, at most twice. */
  for (guint retry = 0; ran && t->dev->caps.is_cpu && groups > 1 && retry < 2; retry++) {
    gsize st = ar_step_status_offset (&s) / 4;
    g_autofree guint32 *status = art_download_u32 (t, scratch, st + 1);
    if (status[st] != AR_STEP_STATUS_LOOP_LIMIT)
      break;
    printf ("# decode_step: llvmpipe's loop limit ended a waiting workgroup; running again\n");
    ran = art_run (t);
  }
  saved_env_restore (&saved);
  if (!ran)
    return;

  g_autofree float *ref_logits = g_new (float, (gsize) steps * s.vocab);
  for (guint k = 0; k < steps; k++)
    ref_step (&s, &lay, dt, w, caches, table, ids[c->pos + k], ledby[c->pos + k], c->pos + k,
        ref_logits + (gsize) (k + 1 == steps ? 0 : k + 1) * s.vocab);
  g_autofree float *got_logits = art_download (t, dt, blog, (gsize) steps * s.vocab);
  g_autofree float *got_caches = art_download (t, dt, bc, cache_n);
  g_autofree guint32 *status = art_download_u32 (t, scratch,
      ar_step_status_offset (&s) / 4 + 1);
  /* The rows the steps wrote, and that no other row changed (NaN rows stay NaN). */
  gsize rows_n = (gsize) s.layers * steps * 3 * s.dim, other_changed = 0, k_out = 0;
  g_autofree float *got_rows = g_new (float, rows_n), *ref_rows = g_new (float, rows_n);
  for (guint l = 0; l < s.layers; l++)
    for (gsize i = 0; i < (gsize) s.ctx * 3 * s.dim; i++) {
      gsize at = (gsize) l * s.cache_stride + i, p = i / (3 * s.dim);
      if (p >= c->pos && p < c->pos + steps) {
        got_rows[k_out] = got_caches[at];
        ref_rows[k_out++] = caches[at];
      } else {
        other_changed += isnan (caches[at]) ? !isnan (got_caches[at])
            : got_caches[at] != caches[at];
      }
    }
  g_autofree gchar *shape = g_strdup_printf ("[dim=%u H=%u hidden=%u L=%u ctx=%u vocab=%u "
      "head_hidden=%u%s%s pos=%u steps=%u groups=%s rows=%s%s%s%s%s]", c->dim, c->heads,
      c->hidden, c->layers, c->ctx, c->vocab, c->head_hidden, c->ledby ? " ledby" : "",
      c->gelu_tanh ? " tanh" : "", c->pos, steps, groups ? groups_s : "default",
      rows ? rows_s : "1", no_preload ? " no-preload" : "", fold ? " fold" : "",
      ffn_blocks ? " ffn-blocks=" : "", ffn_blocks ? blocks_s : "");
  /* fp32: only the order of sums differs; fp16: the same roundings as the reference's, but
   * a rounding boundary crossed in a cache row moves the later layers a little. */
  double lim = dt == AR_F32 ? 1e-9 : 1e-5;
  art_report (t, "decode_step logits", shape, dt,
      art_nmse (got_logits, ref_logits, (gsize) steps * s.vocab), lim);
  art_report (t, "decode_step cache rows", shape, dt, art_nmse (got_rows, ref_rows, rows_n), lim);
  art_report_cond (t, "decode_step untouched", shape, dt, other_changed == 0 && status[
      ar_step_status_offset (&s) / 4] == 0, "other cache elements changed=%" G_GSIZE_FORMAT
      " status=%u", other_changed, status[ar_step_status_offset (&s) / 4]);
}

/* A step whose first two tasks are never taken (its ticket counter starts at 2): the later
 * tasks' waits cannot end, so they must give up and set the status word, and the dispatch
 * must finish (no hang, no lost device). */
static void
check_give_up (ArTest *t, ArDType dt)
{
  ArStepShape s = {
    .dim = 20, .hidden = 36, .heads = 5, .layers = 2, .ctx = 8, .vocab = 37, .eps = 1e-5f,
    .cache_stride = 8 * 3 * 20, .table_rows = 37,
  };
  ArtStep b;
  art_step_init (t, dt, &s, 0.25f, &b);
  guint32 two = 2;
  g_autoptr (ArBuffer) btwo = art_upload_u32 (t, &two, 1);
  art_begin (t);
  ar_cmd_zero (t->cmd, b.scratch);
  ar_cmd_copy (t->cmd, btwo, 0, b.scratch, ar_step_ticket_offset (&s, 0), 4);
  ar_op_decode_step (t->cmd, dt, &s, b.weights, b.caches, b.table, b.ids, b.ids, b.scratch,
      b.logits, 5, 0);
  gint64 t0 = g_get_monotonic_time ();
  if (art_run (t)) {
    double secs = (g_get_monotonic_time () - t0) / 1e6;
    gsize st = ar_step_status_offset (&s) / 4;
    g_autofree guint32 *status = art_download_u32 (t, b.scratch, st + 1);
    art_report_cond (t, "decode_step gives up", "[tasks 0 and 1 never taken]", dt,
        status[st] != 0, "status=%u after %.2f s", status[st], secs);
  }
  art_step_clear (&b);
}

/* The traced step (ar_op_decode_step_traced) on 4 workgroups: one record per task in ticket
 * order, phases and tasks in the order tickets give them out, each record's stamps in order,
 * and no task begun (its wait ended) before every task of the phase before it was done: the
 * phase waits, seen from the device's clock. Its logits equal the untraced step's. Without a
 * device clock: refused with an error. */
static void
check_trace (ArTest *t, ArDType dt, gboolean fold)
{
  ArStepShape s = {
    .dim = 20, .hidden = 36, .heads = 5, .layers = 2, .ctx = 23, .vocab = 37, .eps = 1e-5f,
    .cache_stride = 23 * 3 * 20, .table_rows = 37, .head_hidden = 12, .fold = fold,
  };
  const char *shape = fold ? "[dim=20 L=2 pos=21 groups=4 fold]" : "[dim=20 L=2 pos=21 groups=4]";
  guint pos = 21, n = ar_step_tasks (t->dev, &s, pos);
  SavedEnv saved;
  saved_env_take (&saved);
  g_setenv ("AR_STEP_GROUPS", "4", TRUE);
  ArtStep b;
  art_step_init (t, dt, &s, 0.25f, &b);
  g_autoptr (ArBuffer) trace = art_alloc (t, AR_F32, (gsize) n * AR_STEP_TRACE_WORDS);
  g_autoptr (ArBuffer) plain_logits = art_alloc (t, dt, s.vocab);
  art_begin (t);
  art_step_record (t, dt, &s, &b, pos);
  ar_cmd_copy (t->cmd, b.logits, 0, plain_logits, 0, s.vocab * ar_dtype_size (dt));
  art_step_record_traced (t, dt, &s, &b, pos, trace);
  if (!t->dev->caps.device_clock) {
    GError *err = NULL;
    gboolean ran = ar_cmd_run (t->cmd, &err);
    art_report_cond (t, "decode_step trace refused", shape, dt,
        !ran && err && strstr (err->message, "clock"), "%s", err ? err->message : "ran");
    g_clear_error (&err);
  } else if (art_run (t)) {
    g_autofree guint32 *rec = art_download_u32 (t, trace, (gsize) n * AR_STEP_TRACE_WORDS);
    g_autofree float *got = art_download (t, dt, b.logits, s.vocab);
    g_autofree float *want = art_download (t, dt, plain_logits, s.vocab);
    guint32 phases = ar_step_phases (&s), g = 0, task = 0, bad_order = 0, bad_stamps = 0;
    guint32 early = 0;
    g_autofree guint64 *phase_done = g_new0 (guint64, phases);
    for (guint i = 0; i < n; i++) {
      const guint32 *r = rec + (gsize) i * AR_STEP_TRACE_WORDS;
      /* Ticket order: the same phase and the next task, or the next phase from task 0. */
      if (i > 0 && !(r[0] == g && r[1] == task + 1) && !(r[0] == g + 1 && r[1] == 0))
        bad_order++;
      g = r[0];
      task = r[1];
      guint64 c[4];
      for (guint k = 0; k < 4; k++)
        c[k] = art_step_trace_stamp (r, k);
      bad_stamps += !(c[0] <= c[1] && c[1] <= c[2] && c[2] <= c[3]) || r[2] >= 4 || g >= phases;
      if (g < phases)
        phase_done[g] = MAX (phase_done[g], c[3]);
    }
    for (guint i = 0; i < n; i++) {
      const guint32 *r = rec + (gsize) i * AR_STEP_TRACE_WORDS;
      guint64 run = art_step_trace_stamp (r, 2);
      early += r[0] > 0 && r[0] < phases && run < phase_done[r[0] - 1];
    }
    art_report_cond (t, "decode_step trace", shape, dt, bad_order == 0 && bad_stamps == 0
        && early == 0 && g == phases - 1 && memcmp (got, want, s.vocab * sizeof (float)) == 0,
        "%u tasks, %u phases (last %u), out of order %u, bad stamps %u, begun early %u, "
        "logits %s", n, phases, g, bad_order, bad_stamps, early,
        memcmp (got, want, s.vocab * sizeof (float)) == 0 ? "equal" : "differ");
  }
  saved_env_restore (&saved);
  art_step_clear (&b);
}

/* Past llvmpipe's loop limit with the budget check off: a CPU device's step must say so in its
 * status word; a GPU runs it, status clear. */
static void
check_loop_limit (ArTest *t, ArDType dt)
{
  ArStepShape s = {
    .dim = 256, .hidden = 1024, .heads = 4, .layers = 12, .ctx = 64, .vocab = 512,
    .eps = 1e-5f, .cache_stride = 64 * 3 * 256, .table_rows = 512,
  };
  GError *err = NULL;
  gboolean refused = !ar_step_supported (t->dev, dt, &s, &err);
  g_clear_error (&err);
  ArtStep b;
  art_step_init (t, dt, &s, 0.1f, &b);
  ar_step_check_loop_budget (FALSE);
  art_begin (t);
  art_step_record (t, dt, &s, &b, s.ctx - 1);
  gboolean ran = art_run (t);
  ar_step_check_loop_budget (TRUE);
  if (ran) {
    gsize st = ar_step_status_offset (&s) / 4;
    g_autofree guint32 *status = art_download_u32 (t, b.scratch, st + 1);
    gboolean cpu = t->dev->caps.is_cpu;
    art_report_cond (t, "decode_step loop limit", "[dim=256 hidden=1024 L=12 ctx=64]", dt,
        cpu ? refused && (status[st] & AR_STEP_STATUS_LOOP_LIMIT) : !refused && status[st] == 0,
        "%s device, refused with the check on=%d, status=%u", cpu ? "cpu" : "gpu", refused,
        status[st]);
  }
  art_step_clear (&b);
}

void
test_step (ArTest *t)
{
  ArDType dts[2];
  guint ndt = art_dtypes (t, dts);
  const StepCase cases[] = {
    /* Head dims of 4, widths not multiples of a task's rows, the first position. */
    { 20, 5, 36, 2, 23, 37, 0, TRUE, FALSE, 0 },
    /* The last position: every key, several splits per head. */
    { 20, 5, 36, 2, 23, 37, 0, TRUE, FALSE, 21 },
    /* IRIS's two-layer head, tanh GELU, no action rows; 32 head dims. */
    { 64, 2, 72, 3, 70, 50, 12, FALSE, TRUE, 45 },
    /* Long context: many key splits per head. */
    { 128, 4, 256, 1, 300, 130, 0, TRUE, FALSE, 297 },
    /* Inputs wider than a workgroup's invocations (each stages several vec4s; on CPU devices
     * 64 invocations), 44 head dims. */
    { 264, 6, 292, 1, 40, 33, 20, FALSE, FALSE, 38 },
  };
  for (guint d = 0; d < ndt; d++) {
    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
      for (int fold = 0; fold < 2; fold++) {
        if (fold && !t->dev->caps.int64_atomics) {
          art_report_cond (t, "decode_step_fold", "[device]", dts[d], FALSE,
              "the device has no 64-bit integer atomics");
          break;
        }
        check_step (t, dts[d], &cases[i], 1, 0, 0, FALSE, fold, 0);
        /* Folded: MLP tasks of one block, the most fixed-point sums. */
        check_step (t, dts[d], &cases[i], 2, 4, 0, FALSE, fold, fold ? 1 : 0);
        check_step (t, dts[d], &cases[i], 1, 3, 3, FALSE, fold, fold ? 3 : 0);
        /* The other path: weight rows and keys loaded after the wait (on GPUs every case
         * above preloads; the folded MLP tasks' later blocks take it too). Each pipeline
         * costs seconds to build on lavapipe, so not again folded. */
        if (!fold)
          check_step (t, dts[d], &cases[i], 1, 0, 0, TRUE, fold, 0);
      }
    }
    check_give_up (t, dts[d]);
    check_loop_limit (t, dts[d]);
    check_trace (t, dts[d], FALSE);
    if (t->dev->caps.int64_atomics)
      check_trace (t, dts[d], TRUE);
  }
}
