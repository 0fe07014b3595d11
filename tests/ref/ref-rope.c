#include "ref.h"

#include <math.h>

void
ref_rope (const float *x, float *out, size_t t, size_t heads, size_t d, size_t pos0,
    double theta)
{
  size_t half = d / 2;
  for (size_t k = 0; k < t; k++)
    for (size_t h = 0; h < heads; h++) {
      const float *xr = x + (k * heads + h) * d;
      float *o = out + (k * heads + h) * d;
      for (size_t i = 0; i < half; i++) {
        double a = (double) (pos0 + k) * pow (theta, -2.0 * i / d);
        double c = cos (a), s = sin (a);
        o[i] = (float) (xr[i] * c - xr[i + half] * s);
        o[i + half] = (float) (xr[i + half] * c + xr[i] * s);
      }
    }
}
