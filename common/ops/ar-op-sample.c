#include "ar-ops.h"

#include <math.h>

/* Fixed, so that the kernel behaves the same everywhere (its result would not change with
 * another local size, but its speed profile would). */
#define SAMPLE_LOCAL 64

enum {
  SAMPLE_GREEDY = 1,
  SAMPLE_TOP_P = 2,
  SAMPLE_PROB = 4,
  SAMPLE_COUNTER_BUF = 8,
};

/* Mirrors the push constants of shaders/sample.comp. */
typedef struct {
  guint32 rows, vocab, top_k, top_p32;
  guint32 out_offset, prob_offset, flags;
  float inv_temp;
  guint32 seed_lo, seed_hi, counter_lo, counter_hi;
} SamplePush;
G_STATIC_ASSERT (sizeof (SamplePush) == 48);

void
ar_op_sample_ex (ArCmd *cmd, ArDType dt, const ArBuffer *logits, guint rows, guint vocab,
    const ArSampleParams *p, ArBuffer *tokens, guint out_offset, ArBuffer *probs,
    guint prob_offset, const ArBuffer *counter_base)
{
  if (!ar_op_check_dtype (cmd, "sample", dt))
    return;
  if (!p || vocab == 0) {
    ar_cmd_fail_invalid (cmd, "sample: %s", !p ? "no parameters" : "vocab is 0");
    return;
  }
  gboolean greedy = p->greedy || p->top_k == 1 || p->temperature == 0.0f;
  if (!greedy && !(p->temperature > 0.0f && isfinite (p->temperature))) {
    ar_cmd_fail_invalid (cmd, "sample: temperature %g is not > 0", p->temperature);
    return;
  }
  if (isnan (p->top_p)) {
    ar_cmd_fail_invalid (cmd, "sample: top_p is NaN");
    return;
  }
  if (rows == 0)
    return;
  if ((guint64) rows * vocab > G_MAXUINT32) {
    ar_cmd_fail_invalid (cmd, "sample: %u x %u logits exceed 32-bit indexing", rows, vocab);
    return;
  }
  if (!ar_op_check_size (cmd, "sample", "logits", logits, (guint64) rows * vocab, ar_dtype_size (dt))
      || !ar_op_check_size (cmd, "sample", "tokens", tokens, (guint64) out_offset + rows, 4)
      || (probs && !ar_op_check_size (cmd, "sample", "probs", probs, (guint64) prob_offset + rows, 4))
      || (counter_base && !ar_op_check_size (cmd, "sample", "counter_base", counter_base, 2, 4)))
    return;

  SamplePush pc = {
    .rows = rows, .vocab = vocab,
    .top_k = p->top_k < vocab ? p->top_k : 0,
    .out_offset = out_offset, .prob_offset = prob_offset,
    .inv_temp = greedy ? 1.0f : 1.0f / p->temperature,
    .seed_lo = (guint32) p->seed, .seed_hi = (guint32) (p->seed >> 32),
    .counter_lo = (guint32) p->counter, .counter_hi = (guint32) (p->counter >> 32),
  };
  if (greedy)
    pc.flags |= SAMPLE_GREEDY;
  if (ar_sample_top_p_fixed (p->top_p, &pc.top_p32))
    pc.flags |= SAMPLE_TOP_P;
  if (probs)
    pc.flags |= SAMPLE_PROB;
  if (counter_base)
    pc.flags |= SAMPLE_COUNTER_BUF;

  guint32 spec[] = { SAMPLE_LOCAL }, gx, gy;
  ar_cmd_groups_1d (cmd, rows, &gx, &gy);
  ArBinding bind[] = { AR_READ (logits), AR_WRITE (tokens), AR_WRITE (probs),
    AR_READ (counter_base) };
  ar_cmd_dispatch (cmd, AR_SHADER (sample, dt), spec, 1, bind, 4, &pc, sizeof pc, gx, gy, 1);
}

void
ar_op_sample_prob (ArCmd *cmd, ArDType dt, const ArBuffer *logits, guint rows, guint vocab,
    const ArSampleParams *p, ArBuffer *tokens, guint out_offset, ArBuffer *probs,
    guint prob_offset)
{
  ar_op_sample_ex (cmd, dt, logits, rows, vocab, p, tokens, out_offset, probs, prob_offset, NULL);
}

void
ar_op_sample (ArCmd *cmd, ArDType dt, const ArBuffer *logits, guint rows, guint vocab,
    const ArSampleParams *p, ArBuffer *tokens, guint out_offset)
{
  ar_op_sample_prob (cmd, dt, logits, rows, vocab, p, tokens, out_offset, NULL, 0);
}

/* Mirrors the push constants of the PHILOX_ONLY build of shaders/sample.comp. */
typedef struct {
  guint32 n;
} PhiloxPush;
G_STATIC_ASSERT (sizeof (PhiloxPush) == 4);

void
ar_op_philox (ArCmd *cmd, const ArBuffer *src, ArBuffer *dst, guint n)
{
  if (!ar_op_check_size (cmd, "philox", "src", src, (guint64) n * 6, 4)
      || !ar_op_check_size (cmd, "philox", "dst", dst, (guint64) n * 4, 4))
    return;
  PhiloxPush pc = { n };
  guint32 spec[] = { SAMPLE_LOCAL }, gx, gy;
  ar_cmd_groups_1d (cmd, ar_div_up (n, SAMPLE_LOCAL), &gx, &gy);
  ArBinding bind[] = { AR_READ (src), AR_WRITE (dst) };
  ar_cmd_dispatch (cmd, &ar_shader_philox, spec, 1, bind, 2, &pc, sizeof pc, gx, gy, 1);
}
