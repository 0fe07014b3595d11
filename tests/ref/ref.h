/* Plain C references for every op, accumulating in double. Each op group has its own file. */
#pragma once
#include <stddef.h>
#include <stdint.h>

void ref_add (const float *a, const float *b, float *out, size_t n);

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
