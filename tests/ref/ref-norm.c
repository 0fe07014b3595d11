#include "ref.h"

#include <math.h>

/* Normalises one segment of len elements; channel of element j is c0 + j / inner. */
static void
norm_segment (const float *x, const float *gamma, const float *beta, float *out, size_t len,
    size_t inner, size_t c0, float eps, int rms, int silu)
{
  double mean = 0, var = 0;
  if (!rms) {
    for (size_t j = 0; j < len; j++)
      mean += x[j];
    mean /= len;
  }
  for (size_t j = 0; j < len; j++)
    var += (x[j] - mean) * (x[j] - mean);
  var /= len;
  double rstd = 1.0 / sqrt (var + eps);
  for (size_t j = 0; j < len; j++) {
    size_t c = c0 + j / inner;
    double y = (x[j] - mean) * rstd;
    if (gamma)
      y *= gamma[c];
    if (beta)
      y += beta[c];
    if (silu)
      y = y / (1.0 + exp (-y));
    out[j] = (float) y;
  }
}

void
ref_group_norm (const float *x, const float *gamma, const float *beta, float *out, size_t n,
    size_t c, size_t hw, size_t groups, float eps, int silu)
{
  size_t cpg = c / groups, len = cpg * hw;
  for (size_t s = 0; s < n * groups; s++)
    norm_segment (x + s * len, gamma, beta, out + s * len, len, hw, (s % groups) * cpg, eps, 0,
        silu);
}

void
ref_layer_norm (const float *x, const float *gamma, const float *beta, float *out,
    size_t rows, size_t cols, float eps)
{
  for (size_t r = 0; r < rows; r++)
    norm_segment (x + r * cols, gamma, beta, out + r * cols, cols, 1, 0, eps, 0, 0);
}

void
ref_rms_norm (const float *x, const float *gamma, float *out, size_t rows, size_t cols, float eps)
{
  for (size_t r = 0; r < rows; r++)
    norm_segment (x + r * cols, gamma, NULL, out + r * cols, cols, 1, 0, eps, 1, 0);
}
