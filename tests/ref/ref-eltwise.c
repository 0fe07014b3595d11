#include "ref.h"

void
ref_add (const float *a, const float *b, float *out, size_t n)
{
  for (size_t i = 0; i < n; i++)
    out[i] = (float) ((double) a[i] + (double) b[i]);
}

void
ref_mul (const float *a, const float *b, float *out, size_t n)
{
  for (size_t i = 0; i < n; i++)
    out[i] = (float) ((double) a[i] * (double) b[i]);
}

void
ref_relu (const float *x, float *out, size_t n)
{
  for (size_t i = 0; i < n; i++)
    out[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

#include <math.h>

void
ref_silu (const float *x, float *out, size_t n)
{
  for (size_t i = 0; i < n; i++)
    out[i] = (float) (x[i] / (1.0 + exp (-(double) x[i])));
}

void
ref_gelu_tanh (const float *x, float *out, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    double v = x[i];
    double y = 0.79788456080286535588 /* sqrt(2/pi) */ * (v + 0.044715 * v * v * v);
    /* 0.5 (1 + tanh y) = 1 / (1 + exp(-2y)), without the cancellation of 1 + tanh for x < 0 */
    out[i] = (float) (v / (1.0 + exp (-2.0 * y)));
  }
}

void
ref_gelu_erf (const float *x, float *out, size_t n)
{
  /* erfc keeps the tail for x < 0 accurate. */
  for (size_t i = 0; i < n; i++)
    out[i] = (float) (0.5 * x[i] * erfc (-(double) x[i] / sqrt (2.0)));
}

void
ref_upsample2x (const float *x, float *out, size_t c, size_t h, size_t w)
{
  for (size_t k = 0; k < c; k++)
    for (size_t y = 0; y < 2 * h; y++)
      for (size_t j = 0; j < 2 * w; j++)
        out[(k * 2 * h + y) * 2 * w + j] = x[(k * h + y / 2) * w + j / 2];
}
