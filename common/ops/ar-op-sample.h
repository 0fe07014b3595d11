/* Token sampling on the GPU, so that a generation loop needs no CPU round trip.
 *
 * Semantics, per row r of logits [rows, vocab] (rows are independent; the C reference
 * ref_sample() in tests/ref/ref-sample.c implements exactly the same, bit for bit):
 *  - Ordering: logits are compared as floats, after flushing denormals and -0 to +0.
 *    NaN logits give an unspecified token (still < vocab).
 *  - Greedy (greedy flag, top_k == 1 or temperature == 0): the argmax of the raw logits, ties
 *    to the lower index. Its probability is reported as 1.
 *  - Otherwise s_i = logit_i * inv_t with inv_t = 1.0f / temperature (fp32, host), denormal
 *    results flushed to +0; m = max s_i.
 *  - top_k (0 or >= vocab = off): keep the tokens whose logit is >= the k-th largest logit,
 *    so ties at the threshold are all kept (more than k tokens may survive).
 *  - Weights: q_i = exp(s_i - m) in 0.32 fixed point (truncated; exp(0) saturates to
 *    2^32 - 1; q_i = 0 when s_i - m < -23, i.e. below 2^-32 of the top token). exp is an
 *    explicit fp32 sequence of correctly rounded ops, identical on every device. If m is
 *    +-inf, the tokens with s_i == m get weight 2^32 - 1 and the rest 0.
 *  - top_p (>= 1 = off): p32 = (guint32) (p * 2^32) (p <= 0 counts as 0). Over the top-k
 *    survivors with total weight Q, need = max (1, floor (p32 * Q / 2^32)); keep the tokens
 *    with q_i >= t for the largest t with sum(q_j >= t) >= need: the smallest set of
 *    highest-probability tokens reaching p, all tokens tied at the threshold kept.
 *  - Draw: u = word 0 of Philox4x32-10 with key (seed lo, seed hi) and counter
 *    (c lo, c hi, 0, 0) where c = counter + r (mod 2^64). Over the kept tokens in index order
 *    with total T = sum q_i, target = floor (u * T / 2^32); the token is the first i with
 *    q_0 + ... + q_i > target (kept tokens only). Tokens with q_i = 0 are never drawn.
 *    Its probability is q_i / T (fp32, not bit-exact).
 * Everything that decides the token is integer arithmetic apart from the scaling and exp
 * above, so results do not depend on the device, local size or subgroup size.
 *
 * Output: tokens[out_offset + r] (guint32), so the next step's embedding lookup can read it
 * from there; optionally probs[prob_offset + r] (fp32). Other elements are left untouched. */
#pragma once

G_BEGIN_DECLS

typedef struct {
  float temperature;   /* > 0; 0 means greedy */
  guint top_k;         /* 0 = off; 1 = greedy */
  float top_p;         /* >= 1 = off */
  gboolean greedy;
  guint64 seed;
  guint64 counter;     /* row r uses counter + r: advance it by rows per generated token */
} ArSampleParams;

/* Samples one token per row of @logits [rows, vocab] (storage @dt) into
 * @tokens[out_offset + r], a buffer of guint32. */
void ar_op_sample (ArCmd *cmd, ArDType dt, const ArBuffer *logits, guint rows, guint vocab,
    const ArSampleParams *p, ArBuffer *tokens, guint out_offset);

/* The same, also writing the probability of each drawn token (after top-k/top-p and
 * renormalisation) into @probs[prob_offset + r] as fp32. @probs may be NULL. */
void ar_op_sample_prob (ArCmd *cmd, ArDType dt, const ArBuffer *logits, guint rows, guint vocab,
    const ArSampleParams *p, ArBuffer *tokens, guint out_offset, ArBuffer *probs,
    guint prob_offset);

/* The same, with the counter offset by a 64-bit value read from @counter_base (guint32
 * [2]: lo, hi) when the dispatch runs, if not NULL: a recording can then be replayed with new
 * draws by rewriting that buffer. */
void ar_op_sample_ex (ArCmd *cmd, ArDType dt, const ArBuffer *logits, guint rows, guint vocab,
    const ArSampleParams *p, ArBuffer *tokens, guint out_offset, ArBuffer *probs,
    guint prob_offset, const ArBuffer *counter_base);

/* Philox4x32-10 alone (the generator ar_op_sample draws from): for i < n, the four words of
 * counter src[6i..6i+3] and key src[6i+4..6i+5] go to dst[4i..4i+3]. Both are guint32 buffers. */
void ar_op_philox (ArCmd *cmd, const ArBuffer *src, ArBuffer *dst, guint n);

/* Top-p in the 0.32 fixed point the kernel uses; FALSE when top-p is off (p >= 1 or NaN). */
static inline gboolean
ar_sample_top_p_fixed (float p, guint32 *p32)
{
  if (!(p < 1.0f))
    return FALSE;
  *p32 = p > 0.0f ? (guint32) ((double) p * 4294967296.0) : 0;
  return TRUE;
}

G_END_DECLS
