/* An embedded SPIR-V module (see shaders/meson.build). */
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
  const char *name;
  const uint32_t *code;
  size_t size; /* bytes */
} ArShader;
