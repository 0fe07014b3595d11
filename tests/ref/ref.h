/* Plain C references for every op, accumulating in double. Each op group has its own file. */
#pragma once
#include <stddef.h>
#include <stdint.h>

void ref_add (const float *a, const float *b, float *out, size_t n);

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
