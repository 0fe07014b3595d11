#include "ref.h"

#include <math.h>

void
ref_softmax (const float *x, float *out, size_t rows, size_t cols, float scale)
{
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * cols;
    double m = -INFINITY, s = 0;
    for (size_t j = 0; j < cols; j++)
      m = fmax (m, (double) scale * xr[j]);
    for (size_t j = 0; j < cols; j++)
      s += exp ((double) scale * xr[j] - m);
    for (size_t j = 0; j < cols; j++)
      out[r * cols + j] = (float) (exp ((double) scale * xr[j] - m) / s);
  }
}
