#include "ref.h"

#include <math.h>
#include <stdlib.h>

void
ref_attention (const float *q, size_t q_stride, const float *k, const float *v, float *out,
    size_t n_heads, size_t n_kv_heads, size_t d, size_t max_tokens, size_t pos, size_t n,
    size_t first, size_t window, double scale)
{
  double *s = malloc ((pos + n) * sizeof (double));
  double *acc = malloc (d * sizeof (double));
  for (size_t i = 0; i < n; i++) {
    size_t p = pos + i, lo = first;
    if (window && p + 1 > window && p + 1 - window > lo)
      lo = p + 1 - window;
    for (size_t h = 0; h < n_heads; h++) {
      const float *qh = q + i * q_stride + h * d;
      size_t base = h / (n_heads / n_kv_heads) * max_tokens * d;
      double m = -INFINITY, sum = 0;
      for (size_t j = lo; j <= p; j++) {
        double dot = 0;
        for (size_t c = 0; c < d; c++)
          dot += (double) qh[c] * k[base + j * d + c];
        s[j] = dot * scale;
        m = fmax (m, s[j]);
      }
      for (size_t c = 0; c < d; c++)
        acc[c] = 0;
      for (size_t j = lo; j <= p; j++) {
        double w = exp (s[j] - m);
        sum += w;
        for (size_t c = 0; c < d; c++)
          acc[c] += w * v[base + j * d + c];
      }
      for (size_t c = 0; c < d; c++)
        out[(i * n_heads + h) * d + c] = (float) (acc[c] / sum);
    }
  }
  free (s);
  free (acc);
}
