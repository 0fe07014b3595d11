/* Ops: one C function per shader, recording into an ArCmd. All ops take the storage type of
 * their float tensors (AR_F32, or AR_F16 where the device has fp16 storage); arithmetic is
 * fp32. Tensors are dense, row-major (C order), PyTorch layouts unless an op says otherwise. */
#pragma once
#include "ar-cmd.h"
#include "ar-shader-table.h"

G_BEGIN_DECLS

typedef enum {
  AR_F32 = 0,
  AR_F16 = 1,
} ArDType;

static inline gsize
ar_dtype_size (ArDType dt)
{
  return dt == AR_F16 ? 2 : 4;
}

static inline const char *
ar_dtype_name (ArDType dt)
{
  return dt == AR_F16 ? "f16" : "f32";
}

/* The shader variant of op @base for storage type @dt. */
#define AR_SHADER(base, dt) ((dt) == AR_F16 ? &ar_shader_##base##_f16 : &ar_shader_##base##_f32)

/* Fails the recording unless @buf holds at least @n elements of @dt. */
gboolean ar_op_check_size (ArCmd *cmd, const char *op, const char *what, const ArBuffer *buf,
    guint64 n, gsize elem_size);

/* Fails the recording if fp16 storage is asked for on a device without it. */
gboolean ar_op_check_dtype (ArCmd *cmd, const char *op, ArDType dt);

/* Fails the recording unless the cooperative-matrix kernels can run: fp16 storage on a device
 * with caps.coopmat_nv. */
gboolean ar_op_check_coopmat (ArCmd *cmd, const char *op, ArDType dt);

G_END_DECLS

#include "ops/ar-op-eltwise.h"
#include "ops/ar-op-matmul.h"
#include "ops/ar-op-conv.h"
#include "ops/ar-op-norm.h"
#include "ops/ar-op-softmax.h"
#include "ops/ar-op-rope.h"
#include "ops/ar-op-embed.h"
#include "ops/ar-op-attention.h"
#include "ops/ar-op-codebook.h"
#include "ops/ar-op-sample.h"
#include "ops/ar-op-step.h"
