#include "ref.h"

static size_t
vec_index (size_t i, size_t c, size_t dim, size_t hw)
{
  return hw ? (i / hw * dim + c) * hw + i % hw : i * dim + c;
}

void
ref_codebook_argmin (const float *x, const float *codebook, uint32_t *tokens, size_t n,
    size_t dim, size_t codebook_size, size_t hw)
{
  for (size_t i = 0; i < n; i++) {
    double best = 0;
    uint32_t best_j = 0;
    for (size_t j = 0; j < codebook_size; j++) {
      double dist = 0;
      for (size_t c = 0; c < dim; c++) {
        double diff = (double) x[vec_index (i, c, dim, hw)] - codebook[j * dim + c];
        dist += diff * diff;
      }
      if (j == 0 || dist < best) {
        best = dist;
        best_j = (uint32_t) j;
      }
    }
    tokens[i] = best_j;
  }
}

void
ref_codebook_lookup (const uint32_t *tokens, const float *codebook, float *out, size_t n,
    size_t dim, size_t codebook_size, size_t hw)
{
  for (size_t i = 0; i < n; i++) {
    size_t tok = tokens[i] < codebook_size ? tokens[i] : codebook_size - 1;
    for (size_t c = 0; c < dim; c++)
      out[vec_index (i, c, dim, hw)] = codebook[tok * dim + c];
  }
}
