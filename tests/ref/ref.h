/* Plain C references for every op, accumulating in double. Each op group has its own file. */
#pragma once
#include <stddef.h>
#include <stdint.h>

void ref_add (const float *a, const float *b, float *out, size_t n);
