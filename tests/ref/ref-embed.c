#include "ref.h"

void
ref_embed (const float *table, const uint32_t *ids, float *out, size_t n_ids, size_t vocab,
    size_t dim)
{
  for (size_t r = 0; r < n_ids; r++) {
    size_t id = ids[r] < vocab ? ids[r] : vocab - 1;
    for (size_t j = 0; j < dim; j++)
      out[r * dim + j] = table[id * dim + j];
  }
}
