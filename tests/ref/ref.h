/* Plain C references for every op, accumulating in double. Each op group has its own file. */
#pragma once
#include <stddef.h>
#include <stdint.h>

void ref_add (const float *a, const float *b, float *out, size_t n);
void ref_mul (const float *a, const float *b, float *out, size_t n);
void ref_relu (const float *x, float *out, size_t n);

void ref_silu (const float *x, float *out, size_t n);
void ref_gelu_tanh (const float *x, float *out, size_t n);
void ref_gelu_erf (const float *x, float *out, size_t n);
void ref_upsample2x (const float *x, float *out, size_t c, size_t h, size_t w);

/* gamma / beta may be NULL (1 / 0). */
void ref_group_norm (const float *x, const float *gamma, const float *beta, float *out, size_t n,
    size_t c, size_t hw, size_t groups, float eps, int silu);
void ref_layer_norm (const float *x, const float *gamma, const float *beta, float *out,
    size_t rows, size_t cols, float eps);
void ref_rms_norm (const float *x, const float *gamma, float *out, size_t rows, size_t cols,
    float eps);

void ref_softmax (const float *x, float *out, size_t rows, size_t cols, float scale);

void ref_rope (const float *x, float *out, size_t t, size_t heads, size_t d, size_t pos0,
    double theta);

/* ids >= vocab are clamped to vocab - 1, as the op does. */
void ref_embed (const float *table, const uint32_t *ids, float *out, size_t n_ids, size_t vocab,
    size_t dim);
/* Causal attention for n queries at positions pos..pos+n-1: q rows [n, q_stride] (head h at
 * column h*d), caches k, v [n_kv_heads, max_tokens, d]; query at p sees positions
 * max(first, p-window+1 if window)..p. out [n, n_heads*d]. */
void ref_attention (const float *q, size_t q_stride, const float *k, const float *v, float *out,
    size_t n_heads, size_t n_kv_heads, size_t d, size_t max_tokens, size_t pos, size_t n,
    size_t first, size_t window, double scale);

/* tokens[i] = argmin_j ||x_i - e_j||^2 (ties to the lower j); x rows [n, dim] (hw == 0) or
 * channel-major [n / hw, dim, hw]. */
void ref_codebook_argmin (const float *x, const float *codebook, uint32_t *tokens, size_t n,
    size_t dim, size_t codebook_size, size_t hw);
/* out = codebook[tokens[i]] laid out like x of ref_codebook_argmin. */
void ref_codebook_lookup (const uint32_t *tokens, const float *codebook, float *out, size_t n,
    size_t dim, size_t codebook_size, size_t hw);
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
/* Activations as in ArActivation: 0 none, 1 GELU (tanh approximation), 2 SiLU. */
double ref_activate (double x, int act);
/* out[m,n] = act(alpha * sum_k a[m*K+k] * W(n,k) + bias[n]), W(n,k) = w[n*K+k], or w[k*N+n]
 * when w_kn; @bias may be NULL. */
void ref_matmul (const float *a, const float *w, const float *bias, float *out, size_t M,
    size_t N, size_t K, int w_kn, float alpha, int act);
/* NCHW conv2d: in [B,Cin,H,W], w [Cout,Cin,kh,kw], bias [Cout] or NULL, out [B,Cout,Ho,Wo]. */
void ref_conv2d (const float *in, const float *w, const float *bias, float *out, size_t B,
    size_t Cin, size_t H, size_t W, size_t Cout, size_t kh, size_t kw, size_t stride,
    size_t pad_top, size_t pad_left, size_t Ho, size_t Wo);
