/* Plain C references for every op, accumulating in double. Each op group has its own file. */
#pragma once
#include <stddef.h>
#include <stdint.h>

void ref_add (const float *a, const float *b, float *out, size_t n);

/* Philox4x32-10 (Random123): the four output words for counter @ctr and key @key. */
void ref_philox4x32_10 (const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
/* Token sampling with exactly the semantics of ar_op_sample (common/ops/ar-op-sample.h). */
typedef struct {
  float temperature;
  unsigned top_k;
  float top_p;
  int greedy;
  uint64_t seed, counter;
} RefSampleParams;
void ref_sample (const float *logits, size_t rows, size_t vocab, const RefSampleParams *p,
    uint32_t *tokens, float *probs);
/* The distribution ref_sample draws one row's token from (0 outside the kept set). */
void ref_sample_dist (const float *logits, size_t vocab, const RefSampleParams *p, double *dist);
/* The fixed-point weight exp(s - m) of ar_op_sample, in units of 2^-32. */
uint32_t ref_sample_weight (float s, float m);
