#include "ar-ops.h"

#define ELTWISE_LOCAL 256

/* Mirrors the push constants of shaders/add.comp. */
typedef struct {
  guint32 n;
} AddPush;
G_STATIC_ASSERT (sizeof (AddPush) == 4);

/* Fails the recording when @n elements do not fit the shaders' 32-bit indices. */
static gboolean
check_count (ArCmd *cmd, const char *op, guint64 n)
{
  if (n > G_MAXUINT32) {
    ar_cmd_fail_invalid (cmd, "%s: %" G_GUINT64_FORMAT " elements exceed the 32-bit index range",
        op, n);
    return FALSE;
  }
  return TRUE;
}

/* The checks of an op that copies @x (@n_in elements) into a rearranged @out (@n_out): dtype,
 * index range, sizes, and no aliasing. */
static gboolean
check_copy (ArCmd *cmd, const char *op, ArDType dt, const ArBuffer *x, guint64 n_in,
    const ArBuffer *out, guint64 n_out)
{
  gsize es = ar_dtype_size (dt);
  if (!ar_op_check_dtype (cmd, op, dt) || !check_count (cmd, op, MAX (n_in, n_out))
      || !ar_op_check_size (cmd, op, "x", x, n_in, es)
      || !ar_op_check_size (cmd, op, "out", out, n_out, es))
    return FALSE;
  if (x == out) {
    ar_cmd_fail_invalid (cmd, "%s: out must not alias x", op);
    return FALSE;
  }
  return TRUE;
}

static void
binary (ArCmd *cmd, ArDType dt, const char *op, const ArShader *shader, const ArBuffer *a,
    const ArBuffer *b, ArBuffer *out, guint64 n)
{
  gsize es = ar_dtype_size (dt);
  if (!ar_op_check_dtype (cmd, op, dt) || !check_count (cmd, op, n)
      || !ar_op_check_size (cmd, op, "a", a, n, es)
      || !ar_op_check_size (cmd, op, "b", b, n, es) || !ar_op_check_size (cmd, op, "out", out, n, es))
    return;
  AddPush pc = { (guint32) n };
  guint32 spec[] = { ELTWISE_LOCAL }, gx, gy;
  ar_cmd_groups_1d (cmd, ar_div_up (n, ELTWISE_LOCAL), &gx, &gy);
  ArBinding bind[] = { AR_READ (a), AR_READ (b), AR_WRITE (out) };
  ar_cmd_dispatch (cmd, shader, spec, 1, bind, 3, &pc, sizeof pc, gx, gy, 1);
}

void
ar_op_add (ArCmd *cmd, ArDType dt, const ArBuffer *a, const ArBuffer *b, ArBuffer *out, guint64 n)
{
  binary (cmd, dt, "add", AR_SHADER (add, dt), a, b, out, n);
}

void
ar_op_mul (ArCmd *cmd, ArDType dt, const ArBuffer *a, const ArBuffer *b, ArBuffer *out, guint64 n)
{
  binary (cmd, dt, "mul", AR_SHADER (mul, dt), a, b, out, n);
}

/* Mirrors the push constants of shaders/unary.comp. */
typedef struct {
  guint32 n;
} UnaryPush;
G_STATIC_ASSERT (sizeof (UnaryPush) == 4);

void
ar_op_unary (ArCmd *cmd, ArDType dt, ArUnaryOp op, const ArBuffer *x, ArBuffer *out, guint64 n)
{
  gsize es = ar_dtype_size (dt);
  if (op > AR_UNARY_RELU) {
    ar_cmd_fail_invalid (cmd, "unary: unknown op %d", (int) op);
    return;
  }
  if (!ar_op_check_dtype (cmd, "unary", dt) || !check_count (cmd, "unary", n)
      || !ar_op_check_size (cmd, "unary", "x", x, n, es)
      || !ar_op_check_size (cmd, "unary", "out", out, n, es))
    return;
  UnaryPush pc = { (guint32) n };
  guint32 spec[] = { ELTWISE_LOCAL, (guint32) op }, gx, gy;
  ar_cmd_groups_1d (cmd, ar_div_up (n, ELTWISE_LOCAL), &gx, &gy);
  ArBinding bind[] = { AR_READ (x), AR_WRITE (out) };
  ar_cmd_dispatch (cmd, AR_SHADER (unary, dt), spec, 2, bind, 2, &pc, sizeof pc, gx, gy, 1);
}

/* Mirrors the push constants of shaders/upsample.comp. */
typedef struct {
  guint32 n;
  guint32 w;
} UpsamplePush;
G_STATIC_ASSERT (sizeof (UpsamplePush) == 8);

void
ar_op_upsample2x (ArCmd *cmd, ArDType dt, const ArBuffer *x, ArBuffer *out, guint32 c,
    guint32 h, guint32 w)
{
  guint64 n = (guint64) c * h * w;
  if (!check_copy (cmd, "upsample2x", dt, x, n, out, 4 * n))
    return;
  UpsamplePush pc = { (guint32) n, w };
  guint32 spec[] = { ELTWISE_LOCAL }, gx, gy;
  ar_cmd_groups_1d (cmd, ar_div_up (n, ELTWISE_LOCAL), &gx, &gy);
  ArBinding bind[] = { AR_READ (x), AR_WRITE (out) };
  ar_cmd_dispatch (cmd, AR_SHADER (upsample2x, dt), spec, 1, bind, 2, &pc, sizeof pc, gx, gy, 1);
}

/* Mirrors the push constants of shaders/transpose.comp. */
typedef struct {
  guint32 n;
  guint32 rows, cols;
} TransposePush;
G_STATIC_ASSERT (sizeof (TransposePush) == 12);

void
ar_op_transpose (ArCmd *cmd, ArDType dt, const ArBuffer *x, ArBuffer *out, guint32 batch,
    guint32 rows, guint32 cols)
{
  guint64 n = (guint64) batch * rows * cols;
  if (!check_copy (cmd, "transpose", dt, x, n, out, n))
    return;
  if (n == 0)
    return;
  gboolean texel = ar_cmd_device (cmd)->caps.is_cpu && rows % 4 == 0 && cols % 4 == 0
      && ar_buffer_texel_viewable (x, dt == AR_F16);
  TransposePush pc = { (guint32) (texel ? n / 16 : n), rows, cols };
  /* Texel blocks: workgroups of 64 (8 SIMD rows of lavapipe), so that an 8x8 image's 256
   * blocks still give both threads work. */
  guint32 local = texel ? 64 : ELTWISE_LOCAL, spec[] = { local }, gx, gy;
  ar_cmd_groups_1d (cmd, ar_div_up (pc.n, local), &gx, &gy);
  if (texel) {
    ArBinding bind[AR_TEXEL_BINDING + 1] = { AR_READ (x), AR_WRITE (out),
      [AR_TEXEL_BINDING] = AR_TEXEL (x, dt) };
    ar_cmd_dispatch (cmd, AR_SHADER (transpose_texel, dt), spec, 1, bind, G_N_ELEMENTS (bind),
        &pc, sizeof pc, gx, gy, 1);
    return;
  }
  ArBinding bind[] = { AR_READ (x), AR_WRITE (out) };
  ar_cmd_dispatch (cmd, AR_SHADER (transpose, dt), spec, 1, bind, 2, &pc, sizeof pc, gx, gy, 1);
}
