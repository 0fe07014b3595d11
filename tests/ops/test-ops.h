#pragma once
#include "harness.h"
#include "ref.h"

#define ART_GROUPS(X) \
  X (eltwise) X (matmul) X (conv) X (norm) X (softmax) X (rope) X (embed) X (attention) \
  X (codebook) X (sample) X (step) X (runtime)

#define ART_DECLARE(name) void test_##name (ArTest *t);
ART_GROUPS (ART_DECLARE)
