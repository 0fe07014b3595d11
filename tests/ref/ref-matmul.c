#include "ref.h"

#include <math.h>

double
ref_activate (double x, int act)
{
  switch (act) {
    case 1: return 0.5 * x * (1.0 + tanh (0.7978845608028654 * (x + 0.044715 * x * x * x)));
    case 2: return x / (1.0 + exp (-x));
    default: return x;
  }
}

void
ref_matmul (const float *a, const float *w, const float *bias, float *out, size_t M, size_t N,
    size_t K, int w_kn, float alpha, int act)
{
  for (size_t m = 0; m < M; m++)
    for (size_t n = 0; n < N; n++) {
      double s = 0;
      for (size_t k = 0; k < K; k++)
        s += (double) a[m * K + k] * (w_kn ? w[k * N + n] : w[n * K + k]);
      s = s * alpha + (bias ? bias[n] : 0.0);
      out[m * N + n] = (float) ref_activate (s, act);
    }
}
