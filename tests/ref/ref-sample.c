/* Reference for ar_op_sample. It reaches the same integers as the shader by other means
 * (sorting instead of radix selection, sequential sums instead of shared atomics); the fp32
 * steps (scaling, exp) are the same sequence of correctly rounded operations, one per
 * statement so that no compiler can fuse them. */
#include "ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void
ref_philox4x32_10 (const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; round++) {
    if (round > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    uint64_t p0 = (uint64_t) 0xD2511F53u * c0;
    uint64_t p1 = (uint64_t) 0xCD9E8D57u * c2;
    uint32_t n0 = (uint32_t) (p1 >> 32) ^ c1 ^ k0;
    uint32_t n1 = (uint32_t) p1;
    uint32_t n2 = (uint32_t) (p0 >> 32) ^ c3 ^ k1;
    uint32_t n3 = (uint32_t) p0;
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

static float
f_of_bits (uint32_t b)
{
  float f;
  memcpy (&f, &b, 4);
  return f;
}

static uint32_t
bits_of_f (float f)
{
  uint32_t b;
  memcpy (&b, &f, 4);
  return b;
}

static uint32_t
canon_bits (uint32_t b)
{
  return (b & 0x7f800000u) == 0 ? 0 : b;
}

static uint32_t
key_of_bits (uint32_t b)
{
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

static float
scaled (uint32_t b, float inv_temp)
{
  float s = f_of_bits (b) * inv_temp;
  return f_of_bits (canon_bits (bits_of_f (s)));
}

uint32_t
ref_sample_weight (float s, float m)
{
  float d = s == m ? 0.0f : s - m;
  if (!(d >= -23.0f))
    return 0;
  float t = d * f_of_bits (0x3fb8aa3bu);
  t = t + 0.5f;
  float n = floorf (t);
  float a = n * f_of_bits (0x3f318000u);
  float r = d - a;
  a = n * f_of_bits (0xb95e8083u);
  r = r - a;
  static const uint32_t coef[] = { 0x3ab60b61u, 0x3c088889u, 0x3d2aaaabu, 0x3e2aaaabu,
    0x3f000000u, 0x3f800000u };
  float p = r * f_of_bits (0x39500d01u);
  for (int i = 0; i < 6; i++) {
    p = p + f_of_bits (coef[i]);
    p = p * r;
  }
  p = p + 1.0f;
  float w = p * f_of_bits ((uint32_t) ((int) n + 127) << 23);
  float f = w * 4294967296.0f;
  return f >= 4294967296.0f ? 0xffffffffu : (uint32_t) f;
}

static uint64_t
mulshr32 (uint32_t a, uint64_t q)
{
  uint64_t lo = (uint64_t) a * (uint32_t) q;
  uint64_t hi = (uint64_t) a * (q >> 32);
  return hi + (lo >> 32);
}

static int
cmp_u32_desc (const void *a, const void *b)
{
  uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* The kept set of one row as weights (0 = not kept or no mass); returns the total. For
 * greedy rows returns 0 and sets *greedy_token. */
static uint64_t
row_weights (const float *x, size_t vocab, const RefSampleParams *p, uint32_t *q,
    uint32_t *greedy_token)
{
  uint32_t *keys = malloc (vocab * sizeof *keys);
  size_t arg = 0;
  for (size_t i = 0; i < vocab; i++) {
    keys[i] = key_of_bits (canon_bits (bits_of_f (x[i])));
    if (keys[i] > keys[arg])
      arg = i;
  }
  int greedy = p->greedy || p->top_k == 1 || p->temperature == 0.0f;
  if (greedy) {
    *greedy_token = (uint32_t) arg;
    free (keys);
    return 0;
  }
  float inv_temp = 1.0f / p->temperature;
  float m = scaled (canon_bits (bits_of_f (x[arg])), inv_temp);

  uint32_t thr_k = 0;
  if (p->top_k != 0 && p->top_k < vocab) {
    uint32_t *sorted = malloc (vocab * sizeof *sorted);
    memcpy (sorted, keys, vocab * sizeof *sorted);
    qsort (sorted, vocab, sizeof *sorted, cmp_u32_desc);
    thr_k = sorted[p->top_k - 1];
    free (sorted);
  }
  for (size_t i = 0; i < vocab; i++)
    q[i] = keys[i] >= thr_k ? ref_sample_weight (scaled (canon_bits (bits_of_f (x[i])), inv_temp), m) : 0;

  if (p->top_p < 1.0f) {
    uint32_t p32 = p->top_p > 0.0f ? (uint32_t) ((double) p->top_p * 4294967296.0) : 0;
    uint32_t *sorted = malloc (vocab * sizeof *sorted);
    memcpy (sorted, q, vocab * sizeof *sorted);
    qsort (sorted, vocab, sizeof *sorted, cmp_u32_desc);
    uint64_t total = 0;
    for (size_t i = 0; i < vocab; i++)
      total += sorted[i];
    uint64_t need = mulshr32 (p32, total), cum = 0;
    if (need == 0)
      need = 1;
    uint32_t thr_p = 0;
    for (size_t i = 0; i < vocab && cum < need; i++) {
      cum += sorted[i];
      thr_p = sorted[i];
    }
    for (size_t i = 0; i < vocab; i++)
      if (q[i] < thr_p)
        q[i] = 0;
    free (sorted);
  }
  free (keys);
  uint64_t total = 0;
  for (size_t i = 0; i < vocab; i++)
    total += q[i];
  return total;
}

void
ref_sample (const float *logits, size_t rows, size_t vocab, const RefSampleParams *p,
    uint32_t *tokens, float *probs)
{
  uint32_t *q = malloc (vocab * sizeof *q);
  for (size_t r = 0; r < rows; r++) {
    uint32_t token = 0;
    uint64_t total = row_weights (logits + r * vocab, vocab, p, q, &token);
    double prob = 1.0;
    int greedy = p->greedy || p->top_k == 1 || p->temperature == 0.0f;
    if (!greedy) {
      uint64_t c = p->counter + r;
      uint32_t ctr[4] = { (uint32_t) c, (uint32_t) (c >> 32), 0, 0 };
      uint32_t key[2] = { (uint32_t) p->seed, (uint32_t) (p->seed >> 32) }, out[4];
      ref_philox4x32_10 (ctr, key, out);
      uint64_t target = mulshr32 (out[0], total), cum = 0;
      prob = 0;
      token = 0;
      for (size_t i = 0; i < vocab && total; i++) {
        cum += q[i];
        if (cum > target) {
          token = (uint32_t) i;
          prob = (double) q[i] / (double) total;
          break;
        }
      }
    }
    tokens[r] = token;
    if (probs)
      probs[r] = (float) prob;
  }
  free (q);
}

void
ref_sample_dist (const float *logits, size_t vocab, const RefSampleParams *p, double *dist)
{
  uint32_t *q = malloc (vocab * sizeof *q);
  uint32_t token = 0;
  uint64_t total = row_weights (logits, vocab, p, q, &token);
  for (size_t i = 0; i < vocab; i++)
    dist[i] = total ? (double) q[i] / (double) total : (i == token ? 1.0 : 0.0);
  free (q);
}
