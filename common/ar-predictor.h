/* The predictor graph: a transformer over frame tokens and actions with a KV cache, on the
 * device, for a model's `predictor` section (gpt or llama).
 *
 * The sequence is, per frame, tokens_per_frame frame tokens and then one action token (gpt:
 * an action embedding; llama: a separator whose embedding carries the action). The action
 * stored after frame t is the one taken at t, which produces frame t+1.
 *
 * Real frames are committed; predictions are generated after the committed context and are
 * forgotten at the next commit (the cache positions after the context are simply reused). */
#pragma once
#include "ar-model.h"

G_BEGIN_DECLS

typedef struct {
  gboolean discrete;
  guint index;            /* discrete action */
  guint dim;              /* continuous: number of values */
  const float *values;    /* continuous: dim values */
} ArAction;

typedef struct _ArPredictor ArPredictor;

/* Builds the graph for @model's predictor. @context_frames = 0 takes the card's; otherwise
 * 2 .. the card's (learned positions exist for the card's window only). */
ArPredictor *ar_predictor_new (ArModel *model, guint context_frames, GError **error);
void ar_predictor_free (ArPredictor *pred);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArPredictor, ar_predictor_free)

guint ar_predictor_tokens_per_frame (const ArPredictor *pred);
guint ar_predictor_vocab (const ArPredictor *pred);
guint ar_predictor_context_frames (const ArPredictor *pred);
gboolean ar_predictor_action_discrete (const ArPredictor *pred);
/* Discrete: number of actions; continuous: the action vector's dimension. */
guint ar_predictor_action_size (const ArPredictor *pred);

/* Which committed frames a frame is generated from once more than context_frames - 1 are
 * available (the window never holds more: the generated frame takes the last slot).
 * SLIDE (the default, as models/arvideo/reference.py's Rollout): the last context_frames - 1,
 * re-based at position 0, so every frame re-prefills the window: (context_frames - 1) *
 * (tokens_per_frame + 1) positions. REFRESH (IRIS's WorldModelEnv): the frames since the
 * segment began stay where they are in the cache and each new frame is appended (its
 * tokens_per_frame + 1 positions alone run); when the window would overflow, the segment
 * restarts from the last committed frame at position 0. Faster, with 1 to context_frames - 1
 * frames of context instead of always the most. */
typedef enum {
  AR_CONTEXT_SLIDE,
  AR_CONTEXT_REFRESH,
} ArContextPolicy;
/* Takes effect at the next generate; switching to REFRESH starts the segment with the frames
 * SLIDE would use now (the last context_frames - 1 committed; their cache rows stay valid when
 * SLIDE ran them, e.g. by ar_predictor_prefill_ahead()). */
void ar_predictor_set_context_policy (ArPredictor *pred, ArContextPolicy policy);
ArContextPolicy ar_predictor_get_context_policy (const ArPredictor *pred);

/* Forgets all context. */
void ar_predictor_reset (ArPredictor *pred);
/* Committed frames kept (at most context_frames; the window a frame is generated from holds
 * the last context_frames - 1 of them with SLIDE, the segment's with REFRESH). */
guint ar_predictor_frames_in_context (const ArPredictor *pred);

/* Whether one-token steps run as one dispatch each, on gpt predictors: AR_PREDICTOR_FUSED_STEP
 * =1 asks for it, =auto (the default on GPUs) for it where a trial at ar_predictor_new() finds
 * it correct and faster, =0 (the default on CPU devices) not; it stays off, with a message,
 * where the device cannot run it. */
gboolean ar_predictor_fused_step (const ArPredictor *pred);

/* Which fused kernel runs the one-token steps when they are fused: the folded one
 * (ArStepShape.fold: three phases per layer) or the plain one. AR_STEP_FOLD=1 asks for the
 * folded kernel, =0 for the plain one; unset, the trial of AR_PREDICTOR_FUSED_STEP=auto times
 * both, and AR_PREDICTOR_FUSED_STEP=1 takes the plain one. */
gboolean ar_predictor_fused_step_folded (const ArPredictor *pred);

/* One fused kernel in the trial. */
typedef struct {
  gboolean tried;       /* FALSE: AR_STEP_FOLD ruled it out, or the device cannot run it */
  double us;            /* wall time per step, median of the runs (infinite if it failed) */
  double nmse;          /* its last logits against the per-op steps' */
  guint32 status;       /* its status word (0: no wait gave up) */
} ArStepTrialKernel;

/* What the trial of AR_PREDICTOR_FUSED_STEP=auto measured when the predictor was built. */
typedef struct {
  gboolean ran;         /* FALSE: no trial (AR_PREDICTOR_FUSED_STEP not auto, a device that
                         * cannot run the step, no memory for it, or one token per frame) */
  gboolean shared;      /* the trial of an earlier predictor of the same model and window */
  guint steps, pos;     /* one-token steps per run, at positions pos.. */
  double per_op_us;     /* wall time per step, median of the runs, per-op steps */
  ArStepTrialKernel plain, folded;   /* the fused kernels */
  gboolean chosen;      /* a fused kernel was kept: the fastest of the three that agree */
  gboolean folded_chosen;   /* ... and it is the folded one */
} ArStepTrial;
void ar_predictor_step_trial (const ArPredictor *pred, ArStepTrial *trial);
/* The trial's rule: a fused kernel is kept at up to AR_STEP_TRIAL_FUSED_TIE of the per-op
 * steps' time, the folded one over the plain one only at up to AR_STEP_TRIAL_FOLD_MARGIN of
 * its time (ar-predictor.c says why). */
#define AR_STEP_TRIAL_FUSED_TIE 1.05
#define AR_STEP_TRIAL_FOLD_MARGIN 0.8

/* Tests: how the trials of predictors built next decide. Not thread-safe. */
typedef enum {
  AR_STEP_TRIAL_TIMED = 0,      /* keep the faster (the default) */
  AR_STEP_TRIAL_PREFER_FUSED,   /* keep the fused step whenever it agrees */
  AR_STEP_TRIAL_BREAK_WEIGHTS,  /* prefer it, but zero its packed weights first */
  AR_STEP_TRIAL_BREAK_WAIT,     /* prefer it, but never take the first step's first tasks */
} ArStepTrialTest;
void ar_predictor_test_step_trial (ArStepTrialTest mode);
/* Tests: generate's fused steps (recorded from now on) with the first step's first tasks
 * never taken, so that its waits give up. Not thread-safe. */
void ar_predictor_test_break_step_wait (gboolean on);

/* generate's command buffers since the predictor was built: frames recorded anew (their
 * host time spent recording, in total) and frames that replayed a kept recording (the same
 * start and length of the run, the same sampling parameters). */
typedef struct {
  guint recorded, replayed;
  double record_us;
} ArPredictorRecordStats;
void ar_predictor_record_stats (const ArPredictor *pred, ArPredictorRecordStats *stats);

/* The logits [vocab] that the last ar_predictor_generate() drew its last token from (for
 * tests comparing one-token step implementations). */
gboolean ar_predictor_last_logits (ArPredictor *pred, float *logits, GError **error);

/* Commits a real frame (tokens_per_frame tokens) followed by the action taken at it. The
 * history keeps context_frames frames; when it is full the oldest frame slides out. Nothing
 * runs on the device here: the next generate or context_logits call runs what the KV cache
 * lacks (the cache is reused for the longest prefix of positions whose ids are unchanged). Fails on an action of the wrong kind or size,
 * naming the size expected and given. */
gboolean ar_predictor_commit (ArPredictor *pred, const guint32 *tokens, const ArAction *action,
    GError **error);

/* Generates the next frame's tokens after the committed context, sampling on the device with
 * @params (ops/ar-op-sample.h). With @horizon > 1 it rolls out: each predicted frame is fed back
 * with actions[k] (actions has horizon - 1 entries; NULL repeats the last committed action).
 * @tokens receives horizon * tokens_per_frame tokens. The committed context is unchanged.
 * Window: as the context policy says (SLIDE, the default, as models/arvideo/reference.py's
 * Rollout: the last context_frames - 1 frames at positions from 0, re-based and re-prefilled
 * each frame once more are available; REFRESH: appended until full, then restarted). The
 * predicted frames of a rollout count as frames of the window, as committed ones do.
 * One command buffer per generated frame; token i of frame k is drawn with counter
 * params->counter + k * tokens_per_frame + i (advance it by horizon * tokens_per_frame). */
gboolean ar_predictor_generate (ArPredictor *pred, const ArSampleParams *params, guint horizon,
    const ArAction *actions, guint32 *tokens, GError **error);

/* Runs ahead what the next ar_predictor_generate() after the next commit would run first: the
 * KV cache of the committed frames its window keeps (SLIDE: the last context_frames - 2; REFRESH:
 * those of the segment, already cached unless a rollout overwrote them), at the positions
 * they will have then. Call it while waiting for the next frame (after a prediction
 * was read): that generate then prefills only the new frame's positions. Exact: the cache
 * rows are the ones generate would compute (positions before the new frame do not see it).
 * A no-op when the cache already holds them. Leaves ar_predictor_last_logits() as it was.
 * Before a rollout it saves its first frame's prefill only: under SLIDE the later frames'
 * windows start at 0 anyway. */
gboolean ar_predictor_prefill_ahead (ArPredictor *pred, GError **error);
/* Positions the last generated frame (the last of a rollout) ran through the model before
 * its one-token steps: its window's, or what the cache lacked of them. */
guint ar_predictor_last_prefill (const ArPredictor *pred);

/* Teacher-forced logits for tests: runs the committed context through the model and copies
 * the logits of every position of the window [n_positions, vocab] into @logits (n_positions
 * = frames_in_context * (tokens_per_frame + 1)). */
gboolean ar_predictor_context_logits (ArPredictor *pred, float *logits, GError **error);

/* The logits [vocab] of the next frame's first token after the committed frames (the window
 * generate uses, as the context policy says: with REFRESH it may restart the segment as
 * generate would), by the prefill generate runs (reusing the KV cache's valid prefix; its last
 * layer for the last position only). */
gboolean ar_predictor_next_logits (ArPredictor *pred, float *logits, GError **error);

G_END_DECLS
