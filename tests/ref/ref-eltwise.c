#include "ref.h"

void
ref_add (const float *a, const float *b, float *out, size_t n)
{
  for (size_t i = 0; i < n; i++)
    out[i] = (float) ((double) a[i] + (double) b[i]);
}
